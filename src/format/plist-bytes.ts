/**
 * Byte-level helpers of the XML property list reader: the checks made on the plist's bytes
 * before parsing (ASCII, UTF-8), the mapping from saxes' positions to byte offsets, and the
 * few byte patterns looked for outside saxes (`</data`, `<!DOCTYPE`).
 */

/**
 * Saxes position (an index into the concatenation of the strings written to it) to index in
 * the plist's bytes. Each piece written is recorded; pieces need not be contiguous in the bytes
 * (the text of a large `<data>` element is skipped). Queries are mostly increasing, so the
 * walk through non-ASCII pieces is amortized linear.
 */
export class Positions {
  /** Per piece: saxes position of its first character, its first byte, whether it is ASCII. */
  private readonly starts: number[] = [];
  private readonly firstBytes: number[] = [];
  private readonly ascii: boolean[] = [];
  private written = 0;
  private endByte = 0;
  /** The piece of the last query; the piece, saxes position and byte where the last walk stopped. */
  private piece = 0;
  private walked = -1;
  private ci = 0;
  private bi = 0;

  constructor(private readonly xml: Uint8Array) {}

  /** Record a piece of `bytes` bytes from `firstByte`, written to saxes as `chars` characters. */
  add(firstByte: number, bytes: number, chars: number): void {
    this.starts.push(this.written);
    this.firstBytes.push(firstByte);
    this.ascii.push(chars === bytes); // UTF-8 has as many characters as bytes only for ASCII
    this.written += chars;
    this.endByte = firstByte + bytes;
  }

  /** Index in the plist's bytes of saxes position `position`. */
  byteAt(position: number): number {
    const n = this.starts.length;
    if (n === 0 || position <= 0) return 0; // the first piece starts at byte 0
    if (position >= this.written) return this.endByte;
    // The last piece starting at or before `position`, looked for from the last query's piece
    // (queries go backwards only on error paths).
    let p = this.starts[this.piece] <= position ? this.piece : 0;
    while (p + 1 < n && this.starts[p + 1] <= position) p++;
    this.piece = p;
    if (this.ascii[p]) return this.firstBytes[p] + position - this.starts[p];
    let ci = this.starts[p];
    let bi = this.firstBytes[p];
    if (p === this.walked && this.ci <= position) {
      ci = this.ci;
      bi = this.bi;
    }
    const b = this.xml;
    while (ci < position) {
      const x = b[bi];
      if (x < 0x80) bi += 1;
      else if (x < 0xe0) bi += 2;
      else if (x < 0xf0) bi += 3;
      else {
        bi += 4; // a surrogate pair: two string indexes, four UTF-8 bytes
        ci++;
      }
      ci++;
    }
    this.walked = p;
    this.ci = ci;
    this.bi = bi;
    return bi;
  }
}

const NO_WORDS = new Uint32Array(0);

/** True when every byte is below 0x80: read four at a time, the test costs little beside parsing. */
export function isAscii(b: Uint8Array): boolean {
  const head = Math.min(b.length, (4 - (b.byteOffset & 3)) & 3);
  const count = (b.length - head) >>> 2;
  // A slice shorter than its alignment head has no word, and its end is no word boundary: a
  // view there throws (fuzz: a 2-byte Info.plist at an odd offset).
  const words = count > 0 ? new Uint32Array(b.buffer, b.byteOffset + head, count) : NO_WORDS;
  let acc = 0;
  for (let i = 0; i < head; i++) acc |= b[i];
  for (let i = 0; i < words.length; i++) acc |= words[i];
  for (let i = head + 4 * words.length; i < b.length; i++) acc |= b[i];
  return (acc & 0x80808080) === 0;
}

/** Index of the first byte that starts an invalid UTF-8 sequence, or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  const cont = (i: number, lo = 0x80, hi = 0xbf): boolean => i < n && b[i] >= lo && b[i] <= hi;
  let i = 0;
  while (i < n) {
    const x = b[i];
    if (x < 0x80) {
      i++;
      while (i < n && b[i] < 0x80) i++;
    } else if (x >= 0xc2 && x <= 0xdf) {
      if (!cont(i + 1)) return i;
      i += 2;
    } else if (x >= 0xe0 && x <= 0xef) {
      const lo = x === 0xe0 ? 0xa0 : 0x80;
      const hi = x === 0xed ? 0x9f : 0xbf;
      if (!cont(i + 1, lo, hi) || !cont(i + 2)) return i;
      i += 3;
    } else if (x >= 0xf0 && x <= 0xf4) {
      const lo = x === 0xf0 ? 0x90 : 0x80;
      const hi = x === 0xf4 ? 0x8f : 0xbf;
      if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) return i;
      i += 4;
    } else {
      return i;
    }
  }
  return -1;
}

/** True when `s` is XML whitespace only (space, tab, LF, CR), or empty. */
export function isXmlSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/** Index of the first `[` outside quoted literals in a DOCTYPE's text, or -1. */
export function internalSubsetStart(doctype: string): number {
  let quote = 0;
  for (let i = 0; i < doctype.length; i++) {
    const c = doctype.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      quote = c;
    } else if (c === 0x5b) {
      return i;
    }
  }
  return -1;
}

const DATA_END = new TextEncoder().encode("</data");
const DOCTYPE = new TextEncoder().encode("<!DOCTYPE");

function bytesAt(xml: Uint8Array, i: number, s: Uint8Array): boolean {
  if (i < 0 || i + s.length > xml.length) return false;
  for (let k = 0; k < s.length; k++) if (xml[i + k] !== s[k]) return false;
  return true;
}

/** True when `</data` followed by `>` or whitespace starts at `i`. */
export function isDataEndTag(xml: Uint8Array, i: number): boolean {
  const c = xml[i + DATA_END.length];
  return (
    bytesAt(xml, i, DATA_END) &&
    (c === 0x3e || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d)
  );
}

/** Index of the last `<!DOCTYPE` starting at or before `from` (0 if none). */
export function doctypeStart(xml: Uint8Array, from: number): number {
  for (let i = xml.lastIndexOf(0x3c, from); i >= 0; i = i > 0 ? xml.lastIndexOf(0x3c, i - 1) : -1) {
    if (bytesAt(xml, i, DOCTYPE)) return i;
  }
  return 0;
}
