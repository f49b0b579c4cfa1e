/**
 * A small LZFSE stream writer: stored (`bvx-`) blocks, or LZVN (`bvxn`) blocks from a greedy
 * matcher, always ended by `bvx$`. It makes valid ULFO chunk payloads for the writer and for
 * tests; it does not write the FSE-coded `bvx1` / `bvx2` blocks Apple's encoder prefers.
 */
import {
  LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC,
  LZFSE_ENDOFSTREAM_BLOCK_MAGIC,
  LZFSE_UNCOMPRESSED_BLOCK_MAGIC,
} from "../codecs/lzfse/lzfse-magic.js";

/** How {@link encodeLzfse} stores the bytes. */
export type LzfseEncodeMode = "raw" | "lzvn";

/** Raw bytes per stored block. */
const RAW_BLOCK = 1024 * 1024;
/** Raw bytes per LZVN block (its payload is read whole by decoders). */
const LZVN_BLOCK = 64 * 1024;
/** Farthest LZVN distance (a 16-bit field). */
const LZVN_MAX_D = 0xffff;
const HASH_BITS = 15;
/** The end-of-stream opcode and its 7 padding bytes. */
const LZVN_EOS = [0x06, 0, 0, 0, 0, 0, 0, 0];
/** Longest match a small/large/previous-distance opcode carries, by literal count 0..3. */
const MAX_M_BY_L = [10, 8, 6, 4];

/** Growable byte output. */
class Out {
  bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(capacity, 64));
  }

  private room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(...values: number[]): void {
    this.room(values.length);
    for (const v of values) this.bytes[this.length++] = v;
  }

  u32(v: number): void {
    this.byte(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24);
  }

  copy(src: Uint8Array): void {
    this.room(src.length);
    this.bytes.set(src, this.length);
    this.length += src.length;
  }

  /** Overwrite a u32 written earlier at `at`. */
  patch32(at: number, v: number): void {
    new DataView(this.bytes.buffer).setUint32(at, v, true);
  }

  done(): Uint8Array {
    return this.length === this.bytes.length ? this.bytes : this.bytes.slice(0, this.length);
  }
}

/** LZVN literal-only opcodes for `raw[from, from + n)`. */
function literals(out: Out, raw: Uint8Array, from: number, n: number): void {
  while (n > 0) {
    const k = Math.min(n, 271);
    if (k >= 16) out.byte(0xe0, k - 16);
    else out.byte(0xe0 | k);
    out.copy(raw.subarray(from, from + k));
    from += k;
    n -= k;
  }
}

/** LZVN match-only opcodes (previous distance) for `m` bytes. */
function matchRest(out: Out, m: number): void {
  while (m > 0) {
    const k = Math.min(m, 271);
    if (k >= 16) out.byte(0xf0, k - 16);
    else out.byte(0xf0 | k);
    m -= k;
  }
}

/**
 * One match of `m` (>= 3) bytes at distance `d`, after the literals `raw[from, from + n)`:
 * the last three literals ride in the match opcode, the rest go first.
 */
function match(
  out: Out,
  raw: Uint8Array,
  from: number,
  n: number,
  m: number,
  d: number,
  prev: number,
) {
  const l = Math.min(n, 3);
  literals(out, raw, from, n - l);
  const lit = raw.subarray(from + n - l, from + n);
  if (d === prev && l === 0) return matchRest(out, m);
  let first: number;
  if (d === prev) {
    first = Math.min(m, MAX_M_BY_L[l]);
    out.byte((l << 6) | ((first - 3) << 3) | 6);
  } else if (d < 1536) {
    first = Math.min(m, MAX_M_BY_L[l]);
    out.byte((l << 6) | ((first - 3) << 3) | (d >> 8), d & 0xff);
  } else if (d < 16384) {
    first = Math.min(m, 34);
    out.byte(0xa0 | (l << 3) | ((first - 3) >> 2), ((d & 63) << 2) | ((first - 3) & 3), d >> 6);
  } else {
    first = Math.min(m, MAX_M_BY_L[l]);
    out.byte((l << 6) | ((first - 3) << 3) | 7, d & 0xff, d >> 8);
  }
  out.copy(lit);
  matchRest(out, m - first);
}

/** A 4-byte hash of `raw` at `i`. */
function hash(raw: Uint8Array, i: number): number {
  const v = raw[i] | (raw[i + 1] << 8) | (raw[i + 2] << 16) | (raw[i + 3] << 24);
  return Math.imul(v, 0x9e3779b1) >>> (32 - HASH_BITS);
}

/** LZVN opcodes for `raw[start, end)`; matches may reach back before `start`. */
function lzvnBlock(out: Out, raw: Uint8Array, start: number, end: number, table: Int32Array) {
  let pending = start;
  let prev = 0;
  let i = start;
  while (i + 4 <= end) {
    const h = hash(raw, i);
    const cand = table[h];
    table[h] = i;
    if (
      cand >= 0 &&
      i - cand <= LZVN_MAX_D &&
      raw[cand] === raw[i] &&
      raw[cand + 1] === raw[i + 1] &&
      raw[cand + 2] === raw[i + 2] &&
      raw[cand + 3] === raw[i + 3]
    ) {
      let len = 4;
      while (i + len < end && raw[cand + len] === raw[i + len]) len++;
      match(out, raw, pending, i - pending, len, i - cand, prev);
      prev = i - cand;
      i += len;
      pending = i;
    } else {
      i++;
    }
  }
  literals(out, raw, pending, end - pending);
  for (const b of LZVN_EOS) out.byte(b);
}

/**
 * Encode `raw` as an LZFSE stream: `"raw"` stores it in `bvx-` blocks, `"lzvn"` compresses it
 * into `bvxn` blocks of at most 64 KiB of output each. Browser-safe; output ends with `bvx$`.
 * Prefer `"lzvn"` for images other readers open: 7-Zip 26.02 fails on every stored block.
 */
export function encodeLzfse(raw: Uint8Array, mode: LzfseEncodeMode): Uint8Array {
  // Stored blocks: the bytes and 8 header bytes a block; LZVN output is usually smaller.
  const out = new Out(raw.length + 8 * Math.ceil(raw.length / RAW_BLOCK) + 4);
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  const size = mode === "raw" ? RAW_BLOCK : LZVN_BLOCK;
  for (let start = 0; start < raw.length; start += size) {
    const end = Math.min(raw.length, start + size);
    if (mode === "raw") {
      out.u32(LZFSE_UNCOMPRESSED_BLOCK_MAGIC);
      out.u32(end - start);
      out.copy(raw.subarray(start, end));
      continue;
    }
    out.u32(LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC);
    out.u32(end - start);
    const sizeAt = out.length;
    out.u32(0);
    lzvnBlock(out, raw, start, end, table);
    out.patch32(sizeAt, out.length - sizeAt - 4);
  }
  out.u32(LZFSE_ENDOFSTREAM_BLOCK_MAGIC);
  return out.done();
}
