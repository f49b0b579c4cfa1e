/**
 * The text of `<data>` elements, read from the plist's bytes rather than from saxes: a
 * million-chunk table is a 50 MB base64 text, which saxes would build into a string. Between
 * pieces, the rest of an open `<data>` element's text is skipped; when the element closes,
 * its text is decoded straight from the bytes, with exact offsets.
 */
import { DmgError } from "../core/errors.js";
import { base64Extent, decodeBase64, decodeBase64Steps } from "./base64.js";
import { isDataEndTag } from "./plist-bytes.js";
import type { Frame } from "./plist-elements.js";

/** The text of a skipped `<data>` element held more than base64: parse again without skipping. */
export class SkippedNotBase64 extends Error {}

/**
 * Called between pieces, with `f` the innermost open element and `next` the first byte not yet
 * handed to saxes: when `f` is a `<data>` element whose text so far is base64 and whitespace
 * only, saxes is in that text with nothing pending, and the text up to the next '<' need not be
 * handed to it when that '<' starts </data>. (The skipped text is checked when decoded; should
 * it be anything but base64, the plist is parsed again unskipped.)
 *
 * @returns the byte at which writing resumes
 */
export function skipData(xml: Uint8Array, f: Frame | undefined, next: number): number {
  if (f === undefined || f.name !== "data" || f.rawEnd !== undefined) return next;
  f.rawEnd = -1; // decided once per element: a rescan after every piece would be quadratic
  if (base64Extent(xml, f.textByte, next) < next) return next; // within one piece: cheap
  const lt = xml.indexOf(0x3c, next);
  if (lt < 0 || !isDataEndTag(xml, lt)) return next;
  f.rawEnd = lt;
  return lt;
}

/**
 * Decode the text of `f`, a `<data>` element whose text {@link skipData} just skipped, in
 * steps: the element may hold 80 MB of base64, too much to decode between two turns of the
 * event loop when its end tag is read. A text that fails to decode is left to
 * {@link dataValue}, which tells a bad text from one saxes must parse after all.
 */
export function* predecode(
  xml: Uint8Array,
  f: Frame | undefined,
  fileOffset: number,
  maxBytes: number,
): Generator<void, void, void> {
  if (f?.name !== "data" || f.rawEnd === undefined || f.rawEnd < 0 || f.decoded) return;
  try {
    const text = xml.subarray(f.textByte, f.rawEnd);
    f.decoded = yield* decodeBase64Steps(text, fileOffset + f.textByte, maxBytes);
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
  }
}

/**
 * The bytes of the closed `<data>` element `f`. A `<data>` element's text without markup or
 * references is its bytes (line ends aside, which base64 skips): it is decoded from them, with
 * exact offsets. Otherwise (comments, CDATA, references) from what saxes made of it.
 *
 * @param tagStart index of the '<' of its end tag as saxes read it (unused when skipped)
 * @param maxBytes most bytes decoded
 * @throws DmgError PLIST_BASE64; SkippedNotBase64 when skipped text was not base64
 */
export function dataValue(
  xml: Uint8Array,
  f: Frame,
  tagStart: number,
  fileOffset: number,
  maxBytes: number,
): Uint8Array {
  if (f.decoded) return f.decoded;
  const skipped = f.rawEnd !== undefined && f.rawEnd >= 0;
  const end = skipped ? (f.rawEnd as number) : tagStart; // the '<' of </data>
  const raw = end >= f.textByte ? xml.subarray(f.textByte, end) : undefined;
  const plain = skipped || (raw !== undefined && raw.indexOf(0x3c) < 0 && raw.indexOf(0x26) < 0);
  if (!plain) {
    return decodeBase64(f.text.join(""), fileOffset + f.textByte, maxBytes);
  }
  f.text.length = 0;
  try {
    return decodeBase64(raw as Uint8Array, fileOffset + f.textByte, maxBytes);
  } catch (e) {
    // Skipped text was not read by saxes, nor checked first (one more pass over 50 MB): when
    // it holds anything but base64, saxes must see it after all.
    if (skipped && base64Extent(xml, f.textByte, end) < end) throw new SkippedNotBase64();
    throw e;
  }
}
