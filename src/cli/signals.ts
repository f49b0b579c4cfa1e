/**
 * Deadlines and interrupts. `--timeout` becomes an AbortSignal that fires BUDGET_TIME. On
 * SIGINT, SIGTERM or SIGHUP while an output file is being written, the temporary file is
 * removed before the process ends with the signal, so an interrupt leaves nothing
 * half-written either: every phase of the work gives the event loop a turn at least every
 * ~10 ms (core/work.ts), so the handler runs at once, even while a terabyte of zero chunks
 * becomes holes.
 */
import { removePendingTempFiles } from "../node/io/file-sink.js";
import type { Args } from "./args.js";

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** The signal of `--timeout` for one file's work (undefined without the flag). */
export function deadline(args: Args): AbortSignal | undefined {
  return args.timeout === undefined ? undefined : AbortSignal.timeout(args.timeout);
}

/** Run `fn` with temporary files removed if the process is interrupted meanwhile. */
export async function removingTempFilesOnSignal<T>(
  fn: () => Promise<T>,
  before?: () => void,
): Promise<T> {
  const handler = (sig: NodeJS.Signals) => {
    before?.();
    removePendingTempFiles();
    for (const s of SIGNALS) process.off(s, handler);
    // End the way the signal would have ended us.
    process.kill(process.pid, sig);
  };
  for (const s of SIGNALS) process.on(s, handler);
  try {
    return await fn();
  } finally {
    for (const s of SIGNALS) process.off(s, handler);
  }
}
