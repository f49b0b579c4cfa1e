/**
 * Reading what a caller passes, at the API boundary: every option is read once, in a
 * try/catch, and type-checked, so that a getter that throws, a BigInt where a number belongs
 * or a callback that throws becomes INVALID_ARGUMENT, never the caller's own exception or a
 * TypeError from deep inside (attack class G44: a caller passing through untrusted JSON).
 */
import { DmgError } from "./errors.js";

function invalid(message: string): DmgError {
  return new DmgError("INVALID_ARGUMENT", message);
}

/** `options` as an object to read from: undefined and null are `{}`, anything else not an object is refused. */
export function optionsObject(options: unknown, what = "options"): object {
  if (options === undefined || options === null) return {};
  if (typeof options !== "object") throw invalid(`${what} must be an object`);
  return options;
}

/** Read `key` of `o` once; a getter that throws is INVALID_ARGUMENT. */
export function readOption(o: object, key: string, what = "options"): unknown {
  try {
    return (o as Record<string, unknown>)[key];
  } catch (e) {
    throw invalid(
      `${what}.${key} could not be read: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** A boolean option, or `fallback` when absent. */
export function booleanOption(o: object, key: string, fallback: boolean, what?: string): boolean {
  const v = readOption(o, key, what);
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") throw invalid(`${what ?? "options"}.${key} must be true or false`);
  return v;
}

/**
 * A progress callback `(done, total)` that becomes a function whose throw is INVALID_ARGUMENT
 * (with the caller's error as its message), or undefined when absent.
 */
export function progressOption(
  o: object,
  key: string,
  what = "options",
): ((done: number, total: number) => void) | undefined {
  const v = readOption(o, key, what);
  if (v === undefined) return undefined;
  if (typeof v !== "function") throw invalid(`${what}.${key} must be a function`);
  const fn = v as (done: number, total: number) => void;
  return (done, total) => {
    try {
      fn(done, total);
    } catch (e) {
      throw invalid(`${what}.${key} threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
}

/**
 * A non-negative safe integer argument (a byte offset or length).
 *
 * @throws DmgError INVALID_ARGUMENT for anything else: a BigInt, a fraction, NaN, a string
 */
export function byteCount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} must be a non-negative integer, not ${describe(value)}`);
  }
  return value;
}

/** A short, safe description of a value for a message. */
function describe(v: unknown): string {
  if (typeof v === "bigint") return `the BigInt ${v}n`;
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return String(v);
  return v === null ? "null" : typeof v;
}
