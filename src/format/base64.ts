/**
 * Strict base64 (RFC 4648, standard alphabet, padded) for the `<data>` elements of the XML
 * property list. Written here rather than taken from `atob`, which accepts unpadded input and
 * non-canonical trailing bits and reports no position.
 *
 * Rules, all checked (attack class B13; dmg2img's decoder read before its buffer on bad input):
 * - space, tab, CR and LF are skipped anywhere (hdiutil wraps lines and indents them with tabs);
 * - any other character outside `A-Z a-z 0-9 + /` and `=` is refused;
 * - `=` appears only as the last one or two characters (whitespace aside);
 * - the text without whitespace is a multiple of 4 characters long: real property lists are
 *   always padded, so unpadded input (length 2 or 3 mod 4) is refused as well as length 1 mod 4;
 * - the unused low bits of the last character before padding are zero (one canonical text per
 *   byte string);
 * - the decoded size is compared with the caller's limit before the output is allocated.
 */
import { at, DmgError } from "../core/errors.js";
import { overBudget } from "../core/limits.js";
import { runSteps } from "../core/work.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Lookup marks for characters that are not digits of the alphabet. */
const INVALID = 0xff;
const SPACE = 0xfe;
const PAD = 0xfd;

/** Byte or character code (0..255) to its 6-bit value, or one of the marks above. */
const DECODE = (() => {
  const t = new Uint8Array(256).fill(INVALID);
  for (let i = 0; i < ALPHABET.length; i++) t[ALPHABET.charCodeAt(i)] = i;
  t[0x20] = SPACE;
  t[0x09] = SPACE;
  t[0x0a] = SPACE;
  t[0x0d] = SPACE;
  t[0x3d] = PAD;
  return t;
})();

/** Alphabet as character codes, for the encoder. */
const ENCODE = (() => {
  const t = new Uint8Array(64);
  for (let i = 0; i < 64; i++) t[i] = ALPHABET.charCodeAt(i);
  return t;
})();

/**
 * Index of the first byte in `[from, to)` that is neither a base64 digit, `=` nor whitespace
 * (`to` when there is none, `from` when `to < from`). The property list parser uses it to
 * tell text that can hold no markup or reference.
 */
export function base64Extent(bytes: Uint8Array, from: number, to = bytes.length): number {
  let i = from;
  while (i < to && DECODE[bytes[i]] !== INVALID) i++;
  return i;
}

/**
 * Decode strict base64 text.
 *
 * @param text the text of a `<data>` element (whitespace allowed), as a string or as the
 *   ASCII bytes of the file
 * @param fileOffset file offset of `text[0]`, for error offsets (`fileOffset + index`, exact
 *   while the text is ASCII, which valid base64 is)
 * @param maxBytes largest decoded size allowed; larger raises BUDGET_PLIST_BYTES before allocating
 * @returns the decoded bytes
 * @throws DmgError PLIST_BASE64 on any rule above being broken, BUDGET_PLIST_BYTES over `maxBytes`
 */
export function decodeBase64(
  text: string | Uint8Array,
  fileOffset: number,
  maxBytes: number,
): Uint8Array {
  return runSteps(decodeBase64Steps(text, fileOffset, maxBytes, Number.POSITIVE_INFINITY));
}

/** Characters of base64 text decoded between two steps (~2 ms of work). */
const SLICE = 1 << 20;

/**
 * {@link decodeBase64} as steps of `slice` characters, for a caller that gives the event loop
 * a turn between them: an 80 MB `<data>` text (two million chunks) takes ~400 ms to decode.
 */
export function* decodeBase64Steps(
  text: string | Uint8Array,
  fileOffset: number,
  maxBytes: number,
  slice = SLICE,
): Generator<void, Uint8Array, void> {
  const codes = typeof text === "string" ? asciiCodes(text) : text;
  // Whitespace aside, 4 characters make at most 3 bytes. When even that bound fits the limit
  // (always, for a plist within its budget), decode in one pass into a buffer of that bound;
  // otherwise count first so the limit is checked on the exact size.
  let cap = Math.floor(codes.length / 4) * 3 + 2;
  if (cap > maxBytes) {
    const size = yield* runIn(new Base64Run(codes, text, fileOffset, undefined), slice);
    if (size > maxBytes) {
      throw overBudget("maxPlistBytes", size, maxBytes, {
        offset: fileOffset,
        subject: `base64 <data> at ${at(fileOffset)} decodes to`,
      });
    }
    cap = size;
  }
  const out = new Uint8Array(cap);
  const o = yield* runIn(new Base64Run(codes, text, fileOffset, out), slice);
  if (o === cap) return out;
  // Whitespace made the bound larger than the result. Up to a quarter is left as slack (an
  // hdiutil text is a tenth line breaks and tabs, and copying a 40 MB table out would hold it
  // twice); more is copied out so that the slack is freed.
  return cap - o > cap >>> 2 ? out.slice(0, o) : out.subarray(0, o);
}

/** Run `run` over its whole text in steps of `slice` characters; the decoded size. */
function* runIn(run: Base64Run, slice: number): Generator<void, number, void> {
  for (let limit = slice; limit < run.length; limit += slice) {
    run.digits(limit);
    yield;
  }
  run.digits(run.length);
  return run.end();
}

/** A string's character codes as bytes; any code over 127 (never base64) becomes 0x80. */
function asciiCodes(text: string): Uint8Array {
  const b = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    b[i] = c < 0x80 ? c : 0x80;
  }
  return b;
}

/**
 * One decoding of `codes`, in as many calls of {@link Base64Run.digits} as the caller likes (a
 * 50 MB `<data>` text is decoded between turns of the event loop), then {@link Base64Run.end}.
 */
export class Base64Run {
  /** Bytes written to `out` (or counted). */
  o = 0;
  private acc = 0;
  /** Digits in `acc`. */
  private k = 0;
  /** Next index of `codes` to read. */
  private i = 0;
  /** A character that is not a digit or whitespace was met (padding, or a bad one). */
  private stopped = false;
  /** Characters of the text. */
  readonly length: number;

  constructor(
    private readonly codes: Uint8Array,
    private readonly text: string | Uint8Array,
    private readonly fileOffset: number,
    private readonly out: Uint8Array | undefined,
  ) {
    this.length = codes.length;
  }

  /** Read digits and whitespace up to index `limit`, or up to the first other character. */
  digits(limit: number): void {
    if (this.stopped) return;
    const { codes, out } = this;
    const n = Math.min(limit, codes.length);
    let { o, acc, k, i } = this;
    for (; i < n; i++) {
      // Whole groups of four digits, the bulk of any text, at once.
      while (k === 0 && i + 4 <= n) {
        const a = DECODE[codes[i]];
        const b = DECODE[codes[i + 1]];
        const c = DECODE[codes[i + 2]];
        const d = DECODE[codes[i + 3]];
        if ((a | b | c | d) >= 64) break;
        if (out !== undefined) {
          out[o] = (a << 2) | (b >> 4);
          out[o + 1] = ((b & 0xf) << 4) | (c >> 2);
          out[o + 2] = ((c & 0x3) << 6) | d;
        }
        o += 3;
        i += 4;
      }
      if (i >= n) break;
      const v = DECODE[codes[i]];
      if (v < 64) {
        acc = (acc << 6) | v;
        if (++k === 4) {
          if (out !== undefined) {
            out[o] = acc >> 16;
            out[o + 1] = (acc >> 8) & 0xff;
            out[o + 2] = acc & 0xff;
          }
          o += 3;
          acc = 0;
          k = 0;
        }
      } else if (v !== SPACE) {
        break; // '=' or a bad character: handled below
      }
    }
    if (i < n) this.stopped = true;
    this.o = o;
    this.acc = acc;
    this.k = k;
    this.i = i;
  }

  /** Check the end (padding, unused bits) and return the decoded size. */
  end(): number {
    const { codes, text, fileOffset, out } = this;
    const n = codes.length;
    let { o, k, i } = this;
    const acc = this.acc;
    if (i < n) {
      if (DECODE[codes[i]] !== PAD) bad(fileOffset, i, describeAt(text, i));
      // Padding: the rest may hold only '=' and whitespace, at most two '=', completing a quad.
      const firstPad = i;
      let pads = 0;
      for (; i < n; i++) {
        const v = DECODE[codes[i]];
        if (v === PAD) {
          if (++pads > 2) bad(fileOffset, i, "more than two '=' padding characters");
        } else if (v < 64) {
          bad(
            fileOffset,
            firstPad,
            "'=' is followed by more base64 digits (padding only at the end)",
          );
        } else if (v !== SPACE) {
          bad(fileOffset, i, describeAt(text, i));
        }
      }
      if (k + pads !== 4) {
        bad(fileOffset, firstPad, `${pads} '=' after ${k} digits do not complete a group of 4`);
      }
    } else if (k !== 0) {
      bad(
        fileOffset,
        n,
        k === 1
          ? "the character count (without whitespace) is 1 mod 4, which cannot encode whole bytes"
          : "the character count (without whitespace) is not a multiple of 4 and there is no '=' padding (property lists pad)",
      );
    }
    if (k === 3) {
      // 18 bits: two bytes and 2 unused bits, which must be zero.
      if (acc & 0x3) bad(fileOffset, n, "unused bits before the '=' padding are not zero");
      if (out !== undefined) {
        out[o] = acc >> 10;
        out[o + 1] = (acc >> 2) & 0xff;
      }
      o += 2;
    } else if (k === 2) {
      // 12 bits: one byte and 4 unused bits, which must be zero.
      if (acc & 0xf) bad(fileOffset, n, "unused bits before the '==' padding are not zero");
      if (out !== undefined) out[o] = acc >> 4;
      o += 1;
    }
    return o;
  }
}

function bad(fileOffset: number, index: number, msg: string): never {
  const off = fileOffset + index;
  throw new DmgError("PLIST_BASE64", `base64 <data> at ${at(off)}: ${msg}`, off);
}

function describeAt(text: string | Uint8Array, i: number): string {
  let c = typeof text === "string" ? text.charCodeAt(i) : text[i];
  if (c >= 0x21 && c <= 0x7e) return `character '${String.fromCharCode(c)}' is not base64`;
  if (typeof text !== "string" && c >= 0x80) {
    // Bytes: name the UTF-8 character that starts here, if one does.
    const cp = new TextDecoder().decode(text.subarray(i, i + 4)).codePointAt(0) ?? 0xfffd;
    if (cp === 0xfffd) return `byte 0x${c.toString(16).toUpperCase()} is not base64`;
    c = cp;
  }
  return `character U+${c.toString(16).toUpperCase().padStart(4, "0")} is not base64`;
}

/**
 * Encode bytes as padded base64.
 *
 * @param bytes the bytes to encode
 * @param lineLength characters per line (0 = one line); lines are separated by `\n`
 * @param linePrefix text put before every line (hdiutil indents its lines with tabs)
 */
export function encodeBase64(bytes: Uint8Array, lineLength = 0, linePrefix = ""): string {
  const chars = Math.ceil(bytes.length / 3) * 4;
  const perLine = lineLength > 0 ? lineLength : Math.max(chars, 1);
  const lines = Math.max(1, Math.ceil(chars / perLine));
  const prefix = new Uint8Array(linePrefix.length);
  for (let i = 0; i < linePrefix.length; i++) {
    const c = linePrefix.charCodeAt(i);
    if (c > 0x7f) {
      throw new DmgError("INVALID_ARGUMENT", "base64 line prefix must be ASCII");
    }
    prefix[i] = c;
  }
  // Build ASCII bytes and decode them once: no string concatenation per line.
  const out = new Uint8Array(chars + lines * prefix.length + (lines - 1));
  let o = 0;
  let col = 0;
  const put = (c: number): void => {
    if (col === 0) {
      if (o !== 0) out[o++] = 0x0a;
      out.set(prefix, o);
      o += prefix.length;
    }
    out[o++] = c;
    if (++col === perLine) col = 0;
  };
  if (chars === 0) {
    out.set(prefix, 0);
    o = prefix.length;
  }
  const full = bytes.length - (bytes.length % 3);
  for (let i = 0; i < full; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    put(ENCODE[v >> 18]);
    put(ENCODE[(v >> 12) & 63]);
    put(ENCODE[(v >> 6) & 63]);
    put(ENCODE[v & 63]);
  }
  const rest = bytes.length - full;
  if (rest === 1) {
    const v = bytes[full] << 16;
    put(ENCODE[v >> 18]);
    put(ENCODE[(v >> 12) & 63]);
    put(0x3d);
    put(0x3d);
  } else if (rest === 2) {
    const v = (bytes[full] << 16) | (bytes[full + 1] << 8);
    put(ENCODE[v >> 18]);
    put(ENCODE[(v >> 12) & 63]);
    put(ENCODE[(v >> 6) & 63]);
    put(0x3d);
  }
  return new TextDecoder().decode(out.subarray(0, o));
}
