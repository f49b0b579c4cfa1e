/**
 * `npm run check:package`: the package as users get it, checked by publint and
 * @arethetypeswrong/cli. It packs without scripts (dist/ must be built: packing with scripts
 * would run prepack, which rebuilds it) into a temporary directory and checks the tarball.
 *
 * attw runs with the rule cjs-resolves-to-esm off: the package is ESM only, and the Node
 * versions it supports (engines: ^20.19.0 || >=22.12.0) load it with require() too, which
 * attw's bundled TypeScript does not know yet; test/package.test.ts proves it with a CommonJS
 * consumer. Every other check, node10 resolution included, applies.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const npx = process.platform === "win32" ? "npx.cmd" : "npx";
const dir = mkdtempSync(join(tmpdir(), "dmg-validate-pack-"));
try {
  const packed = JSON.parse(
    execFileSync(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], {
      encoding: "utf8",
    }),
  );
  const tarball = join(dir, packed[0].filename);
  execFileSync(npx, ["publint", "run", "--strict", tarball], { stdio: "inherit" });
  execFileSync(npx, ["attw", tarball, "--ignore-rules", "cjs-resolves-to-esm"], {
    stdio: "inherit",
  });
} catch (e) {
  process.exitCode = typeof e.status === "number" ? e.status : 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
