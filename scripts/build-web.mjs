/**
 * Builds the web page into dist-web/: the page script, the validation worker (the library's
 * own worker entry), the layout worker, the core as one ES module (for pages of their own),
 * and the static files. Minified, with source maps; servable from any static host.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist-web");
const version = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).version;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    main: "web/main.ts",
    worker: "src/worker/entry.ts",
    layout: "web/layout-worker.ts",
    core: "src/index.ts",
  },
  outdir: out,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  sourcemap: true,
  legalComments: "linked",
  conditions: ["browser"],
  define: { DMG_VALIDATE_VERSION: JSON.stringify(version) },
  logLevel: "warning",
});
for (const f of ["index.html", "style.css"]) copyFileSync(join(root, "web", f), join(out, f));
console.log(`dist-web/ built (dmg-validate ${version})`);
