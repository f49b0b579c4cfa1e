/** Exit codes, and how an error becomes one and a message. */
import { DmgError } from "../core/errors.js";
import { sanitize } from "../core/text.js";
import { UsageError } from "./args.js";
import { type Io, OutputClosed, writeOut } from "./io.js";
import { errorText } from "./output.js";

export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;
export const EXIT_IO = 3;
export const EXIT_INTERNAL = 70;

const RANK: Record<number, number> = {
  [EXIT_OK]: 0,
  [EXIT_INVALID]: 1,
  [EXIT_USAGE]: 2,
  [EXIT_IO]: 3,
  [EXIT_INTERNAL]: 4,
};

/** The worse of two exit codes: 70 > 3 > 2 > 1 > 0. */
export function worse(a: number, b: number): number {
  return (RANK[b] ?? 4) > (RANK[a] ?? 4) ? b : a;
}

/**
 * Codes that say the image could not be read rather than that it is invalid: exit code 3. A
 * server that ignores Range, answers with the wrong bytes, redirects without end, or serves a
 * file that changes while it is read says nothing about the image itself.
 */
const IO_CODES: ReadonlySet<string> = new Set([
  "IO_ERROR",
  "HTTP_NO_RANGES",
  "HTTP_BAD_RESPONSE",
  "HTTP_REDIRECTS",
  "SOURCE_CHANGED",
]);

/** True when `code` means the input could not be read (exit code 3). */
export function isIoCode(code: string): boolean {
  return IO_CODES.has(code);
}

/**
 * The exit code for an error: IO_ERROR and the HTTP source's failures to read 3, other
 * DmgError 1, usage 2, anything else 70.
 */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return EXIT_USAGE;
  if (e instanceof DmgError) return isIoCode(e.code) ? EXIT_IO : EXIT_INVALID;
  if (e instanceof OutputClosed) return EXIT_OK;
  return EXIT_INTERNAL;
}

/** Write a line to standard error, ignoring a closed stream. */
export async function warn(io: Io, line: string): Promise<void> {
  await writeOut(io.stderr, `${line}\n`, "standard error").catch(() => undefined);
}

/**
 * Report an exception that is not a DmgError: a bug. The stack is shown only when
 * DMG_VALIDATE_DEBUG is set.
 */
export async function reportInternal(io: Io, e: unknown): Promise<void> {
  const message = sanitize(e instanceof Error ? e.message : String(e));
  let text = `dmg-validate: internal error: ${message}\n`;
  if (io.env.DMG_VALIDATE_DEBUG && e instanceof Error && e.stack) text += `${e.stack}\n`;
  else text += "dmg-validate: re-run with DMG_VALIDATE_DEBUG=1 to see the stack trace,\n";
  text +=
    "dmg-validate: this is a bug; please file an issue with the output and, if possible, the input file\n";
  await writeOut(io.stderr, text, "standard error").catch(() => undefined);
}

/**
 * Report a failure of `info`, `extract`, `cat` or `create` on `file` and return its exit code:
 * `dmg-validate: FILE: CODE at offset 0x..: message` for a DmgError, the internal-error report
 * otherwise.
 */
export async function reportFailure(io: Io, file: string, e: unknown): Promise<number> {
  if (e instanceof OutputClosed) return EXIT_OK;
  if (e instanceof DmgError) await warn(io, `dmg-validate: ${sanitize(file)}: ${errorText(e)}`);
  else await reportInternal(io, e);
  return exitCodeFor(e);
}
