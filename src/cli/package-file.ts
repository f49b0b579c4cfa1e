/**
 * Files shipped at the package's root, found from this module's own place: two folders deep,
 * in the compiled modules (dist/cli/), the CLI bundle (dist/bin/) and the sources alike.
 */

/** The URL of `name` at the package's root: "package.json", "SECURITY.md". */
export function packageFile(name: string): URL {
  return new URL(`../../${name}`, import.meta.url);
}
