/**
 * Interrupted writes: on SIGINT or SIGTERM, the temporary output file is removed before the
 * process ends with the signal, so an interrupt leaves nothing half-written either.
 */
import { removePendingTempFiles } from "../node/io/file-sink.js";

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

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
