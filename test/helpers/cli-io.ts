/** The CLI's streams in memory, for in-process runs of main(). */
import type { Io, OutStream } from "../../src/cli/io.js";

/** Streams that keep what is written, for in-process runs. */
export function memoryIo(
  env: Record<string, string> = {},
  tty = false,
): Io & { out: () => string; err: () => string } {
  const stream = (): OutStream & { text: string } => ({
    text: "",
    isTTY: tty,
    columns: 80,
    write(data, cb) {
      this.text += typeof data === "string" ? data : Buffer.from(data).toString("latin1");
      queueMicrotask(() => cb());
      return true;
    },
    on: () => undefined,
  });
  const stdout = stream();
  const stderr = stream();
  return { stdout, stderr, env, out: () => stdout.text, err: () => stderr.text };
}
