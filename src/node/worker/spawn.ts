/**
 * Starting worker threads on built modules, for the decoding lanes (node/parallel) and for
 * validation in a worker (validate-in-worker.ts).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import type { Worker, WorkerOptions } from "node:worker_threads";

/**
 * node:worker_threads' Worker, loaded when the first thread starts: most runs start none (a
 * zlib image decodes as fast as it is written), and loading it costs ~2 MB of resident memory.
 */
let workerClass: typeof Worker | undefined;

/** A new thread running the module at `script`. */
export function startWorker(script: URL, options: WorkerOptions): Worker {
  workerClass ??= (
    createRequire(import.meta.url)("node:worker_threads") as { Worker: typeof Worker }
  ).Worker;
  return new workerClass(script, options);
}

/**
 * The built module `name` next to the module at `base`, or undefined where there is none:
 * sources run untranspiled (a test runner) have only the .ts file, which a thread cannot load.
 */
export function builtModule(name: string, base: string): URL | undefined {
  const url = new URL(name, base);
  return existsSync(fileURLToPath(url)) ? url : undefined;
}
