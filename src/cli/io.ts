/**
 * The CLI's standard streams, and writing to them with backpressure and a quiet stop when the
 * reader goes away (`dmg-validate extract x.dmg - | head -c 10`).
 */
import { DmgError } from "../core/errors.js";
import type { ByteSink } from "../write/writer.js";

/** A writable stream as the CLI uses it. */
export interface OutStream {
  write(data: Uint8Array | string, cb: (err?: Error | null) => void): boolean;
  on(event: "error", listener: (err: Error) => void): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  readonly destroyed?: boolean;
}

/** Standard input as the CLI reads it: its bytes, and whether it is a terminal. */
export type StdIn = AsyncIterable<Uint8Array | string> & { readonly isTTY?: boolean };

/** Standard input, output and error, and the environment. */
export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** Read when an operand is `-`. */
  stdin?: StdIn;
}

/** The process's own streams. */
export function processIo(): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, stdin: process.stdin };
}

/** The reader of an output went away (EPIPE): stop writing, quietly. */
export class OutputClosed extends Error {
  override readonly name = "OutputClosed";
}

const CLOSED_CODES = new Set([
  "EPIPE",
  "ECONNRESET",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
]);

const guarded = new WeakSet<OutStream>();

/**
 * Keep an 'error' event on `s` (EPIPE) from becoming an uncaught exception; the failed write
 * itself reports the error.
 */
export function guard(s: OutStream): void {
  if (guarded.has(s)) return;
  guarded.add(s);
  s.on("error", () => undefined);
}

/**
 * Write `data` and wait until the stream has taken it. Rejects with {@link OutputClosed} when
 * the reader has gone, and with an IO_ERROR DmgError for any other failure.
 */
export function writeOut(
  s: OutStream,
  data: Uint8Array | string,
  name = "standard output",
): Promise<void> {
  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== undefined && CLOSED_CODES.has(code)) reject(new OutputClosed(err.message));
      else reject(new DmgError("IO_ERROR", `cannot write to ${name}: ${err.message}`));
    };
    if (s.destroyed) {
      reject(new OutputClosed(`${name} is closed`));
      return;
    }
    try {
      s.write(data, (err) => (err ? fail(err) : resolve()));
    } catch (e) {
      fail(e as Error);
    }
  });
}

/**
 * A {@link ByteSink} over a stream. Each write waits for the stream to take the bytes, so the
 * caller may reuse its buffer afterwards.
 */
export function streamSink(s: OutStream, name?: string): ByteSink {
  return { write: (bytes) => (bytes.length === 0 ? Promise.resolve() : writeOut(s, bytes, name)) };
}

/** Writes text in batches, for output of many lines (a table of two million chunks). */
export class TextOut {
  private parts: string[] = [];
  private size = 0;

  constructor(private readonly s: OutStream) {}

  /** Queue `text` as it is. */
  async put(text: string): Promise<void> {
    this.parts.push(text);
    this.size += text.length;
    if (this.size >= 64 * 1024) await this.flush();
  }

  /** Queue `text` and a newline. */
  line(text: string): Promise<void> {
    return this.put(`${text}\n`);
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = this.parts.join("");
    this.parts = [];
    this.size = 0;
    await writeOut(this.s, text);
  }
}
