/**
 * Reading what a caller passes, at the API boundary: every option is read once, in a
 * try/catch, and type-checked, so that a getter that throws, a BigInt where a number belongs
 * or a callback that throws becomes INVALID_ARGUMENT, never the caller's own exception or a
 * TypeError from deep inside (attack class G44: a caller passing through untrusted JSON).
 */
import { type Codec, type CodecParts, callerCodec } from "../codecs/codec.js";
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

/** `f()`, with anything it throws (a getter, a revoked Proxy) made INVALID_ARGUMENT. */
function reading<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw invalid(`${what} could not be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/**
 * The parts of a codec `c` (`what` names it in messages), each property read once and checked:
 * `{ type, name, open(ctx) }`, optionally `resume(ctx, point)` and `packsCheaply`.
 *
 * @throws DmgError INVALID_ARGUMENT when `c` has another shape or a getter throws
 */
export function codecParts(c: unknown, what: string): CodecParts {
  const shape = `${what} must be a codec: { type, name, open(ctx) } (and optionally resume)`;
  if (typeof c !== "object" || c === null) throw invalid(shape);
  const read = (key: string): unknown =>
    reading(`${what}.${key}`, () => (c as Record<string, unknown>)[key]);
  const type = read("type");
  const name = read("name");
  const open = read("open");
  const resume = read("resume");
  const packsCheaply = read("packsCheaply");
  if (
    typeof type !== "number" ||
    !Number.isInteger(type) ||
    typeof name !== "string" ||
    typeof open !== "function" ||
    (resume !== undefined && typeof resume !== "function") ||
    (packsCheaply !== undefined && typeof packsCheaply !== "boolean")
  ) {
    throw invalid(shape);
  }
  return {
    type,
    name,
    open: open as CodecParts["open"],
    resume: resume as CodecParts["resume"],
    packsCheaply: packsCheaply === true,
    self: c,
  };
}

/**
 * The caller's codecs, option `key` of `o`: an array of codecs, checked once here (every
 * element and property read once) and each wrapped by {@link callerCodec}, so that what a
 * codec throws or returns later is a DmgError (attack class G44). Undefined when absent.
 *
 * @throws DmgError INVALID_ARGUMENT when it is not an array of codecs or a getter throws
 */
export function codecsOption(
  o: object,
  key = "codecs",
  what = "options",
): readonly Codec[] | undefined {
  const v = readOption(o, key, what);
  if (v === undefined) return undefined;
  const where = `${what}.${key}`;
  const length = reading(where, () => (Array.isArray(v) ? (v as unknown[]).length : -1));
  if (!Number.isSafeInteger(length) || length < 0)
    throw invalid(`${where} must be an array of codecs`);
  const out: Codec[] = [];
  for (let i = 0; i < length; i++) {
    const c = reading(`${where}[${i}]`, () => (v as unknown[])[i]);
    out.push(callerCodec(codecParts(c, `${where}[${i}]`)));
  }
  return Object.freeze(out);
}

/** A short, safe description of a value for a message. */
function describe(v: unknown): string {
  if (typeof v === "bigint") return `the BigInt ${v}n`;
  if (typeof v === "string") return "a string";
  if (typeof v === "number") return String(v);
  return v === null ? "null" : typeof v;
}

/** A list of byte arrays (files the caller read), copied; undefined when absent. */
export function bytesListOption(
  o: object,
  key: string,
  what = "options",
): Uint8Array[] | undefined {
  const v = readOption(o, key, what);
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((b) => b instanceof Uint8Array)) {
    throw invalid(`${what}.${key} must be an array of Uint8Array`);
  }
  return v.map((b: Uint8Array) => new Uint8Array(b));
}

/** A valid Date option; undefined when absent. */
export function dateOption(o: object, key: string, what = "options"): Date | undefined {
  const v = readOption(o, key, what);
  if (v === undefined) return undefined;
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) {
    throw invalid(`${what}.${key} must be a valid Date`);
  }
  return new Date(v.getTime());
}
