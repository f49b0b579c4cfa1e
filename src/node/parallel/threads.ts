/**
 * How many threads an operation uses by default, in a module of its own: a command that
 * decodes in one thread does not load the lanes.
 */
import os from "node:os";

/** Threads used when none is asked for: one per available core. */
export function defaultThreads(): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}
