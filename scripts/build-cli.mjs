/**
 * Bundles the command line into dist/bin/ from the compiled modules in dist/: the CLI, the
 * collector it sets up, and the two worker scripts, sharing chunks. Node's ES module loader
 * costs about a millisecond a module: an extract loaded 80 of them, 70 ms of its start-up,
 * where 7-Zip has finished a small image. Each command and each codec is still its own chunk,
 * loaded when used (what is loaded stays resident). Not minified: stack traces stay readable.
 *
 * dist/bin/ sits as deep in the package as dist/cli/ and dist/node/, so the paths the code
 * finds from `import.meta.url` (package.json, SECURITY.md, the worker scripts next to it) hold
 * in both.
 */
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The esbuild options of the CLI bundle (tests build it in memory to map chunks to modules). */
export function cliBuildOptions() {
  return {
    absWorkingDir: root,
    entryPoints: {
      main: "dist/cli/main.js",
      "gc-pacer": "dist/node/gc-pacer.js",
      "parallel-thread": "dist/node/parallel/parallel-thread.js",
      thread: "dist/node/worker/thread.js",
    },
    outdir: "dist/bin",
    entryNames: "[name]",
    chunkNames: "[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: ["node20"],
    conditions: ["node"],
    // Dependencies stay where npm put them.
    packages: "external",
    logLevel: "warning",
  };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { build } = await import("esbuild");
  rmSync(join(root, "dist", "bin"), { recursive: true, force: true });
  await build(cliBuildOptions());
}
