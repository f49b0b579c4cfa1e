/**
 * Block-boundary points of zlib chunks (RFC 1951). Where a deflate block starts, decoding needs
 * only the bit offset, the last 32 KiB of output (the window: back-references reach that far)
 * and, for the Adler-32 check at the end of the chunk, the checksum so far.
 *
 * A point keeps its window as a "history": a raw deflate stream, not final and ending on a byte
 * boundary, that decodes to the window (one stored block, or the window deflated with a sync
 * flush). Any raw inflater, including one without a way to load a window or to be handed loose
 * bits (node:zlib has neither), resumes by being fed {@link resumePrefix}: the history, then
 * empty blocks that end at the point's bit offset modulo 8, merged into the byte the point is
 * in; the chunk's own bytes follow from {@link resumeStart} as they are. (Shifting the rest of
 * the chunk by the bit offset instead would misalign every stored block after the point.)
 */
import { Z_BLOCK, Z_OK, ZStream, zlibInflate, zlibInflateInit } from "./pako.js";
import { unpack } from "./zlib-pack.js";
import { inflateBit } from "./zlib-snapshot.js";

/** Size of the deflate window. */
export const WINDOW = 32768;
/** A stored block's header: one byte of BFINAL, BTYPE and padding, then LEN and NLEN. */
export const STORED_HEADER = 5;
/** Bytes a point holds besides its history (fields and object headers), rounded up. */
const POINT_OVERHEAD = 128;
/** A zlib stream's header: the first block starts at bit 16. */
export const FIRST_BLOCK_BIT = 16;

/** A point at the start of a deflate block. */
export class BlockPoint {
  constructor(
    /** Offset in bits, from the chunk's first compressed byte, where the block starts. */
    readonly bit: number,
    /** A raw deflate stream, not final, ending on a byte boundary, that decodes to the window. */
    readonly history: Uint8Array,
    /** Length of the window: the last min(32 KiB, position) decoded bytes before the point. */
    readonly windowLength: number,
    /** The history is deflated (else it is one stored block). */
    readonly packed: boolean,
    /** Adler-32 of the decoded bytes before the point, when the recorder knew it. */
    readonly check: number | undefined,
  ) {}

  /** Working memory held. */
  get bytes(): number {
    return this.history.length + POINT_OVERHEAD;
  }
}

/** Most memory a point holds whose window has `windowLength` bytes (stored, not packed). */
export function blockPointBytes(windowLength: number): number {
  return STORED_HEADER + windowLength + POINT_OVERHEAD;
}

/**
 * A history of one stored deflate block, not final, for a window of `n` bytes (at most 32 KiB):
 * its header, with the window to be written at {@link STORED_HEADER}.
 */
export function storedHistory(n: number): Uint8Array {
  const out = new Uint8Array(STORED_HEADER + n);
  // Byte 0: BFINAL 0, BTYPE 00 and the padding to the byte boundary, all zero bits.
  out[1] = n & 0xff;
  out[2] = n >>> 8;
  out[3] = ~n & 0xff;
  out[4] = (~n >>> 8) & 0xff;
  return out;
}

/** The window of `point`, or null if its history does not decode to it (it always does). */
export function pointWindow(point: BlockPoint): Uint8Array | null {
  if (point.packed) return unpack(point.history, point.windowLength);
  return point.history.subarray(STORED_HEADER);
}

/** Bits packed least significant first, as deflate packs them. */
class BitWriter {
  readonly bytes: number[] = [];
  acc = 0;
  count = 0;

  put(value: number, n: number): void {
    for (let i = 0; i < n; i++) {
      this.acc |= ((value >>> i) & 1) << this.count;
      if (++this.count === 8) {
        this.bytes.push(this.acc);
        this.acc = 0;
        this.count = 0;
      }
    }
  }
}

/** Order in which a dynamic block's header lists the code-length code's lengths. */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * Empty, non-final blocks totalling `shift` bits modulo 8: the whole bytes, and the last
 * `shift` bits in the low bits of `tail`. A fixed-Huffman empty block is 10 bits (3 of header,
 * 7 of end-of-block code), so `shift / 2` of them serve an even shift. An odd shift first takes
 * a dynamic-Huffman empty block of 333 bits (5 modulo 8): no literal but the end-of-block code
 * (one code of length 1, which inflaters accept incomplete), no distance code, and a
 * code-length code of two 1-bit codes, for lengths 0 and 1, listed in all 19 entries.
 */
function emptyBlocks(shift: number): { bytes: Uint8Array; tail: number } {
  const w = new BitWriter();
  let fixed = shift / 2;
  if (shift % 2 === 1) {
    w.put(0, 1); // BFINAL
    w.put(2, 2); // BTYPE: dynamic Huffman
    w.put(0, 5); // HLIT: 257 literal/length codes
    w.put(0, 5); // HDIST: 1 distance code
    w.put(15, 4); // HCLEN: 19 code-length codes
    for (const sym of CLEN_ORDER) w.put(sym <= 1 ? 1 : 0, 3);
    // Lengths: 256 literals absent (code "0" = length 0), end-of-block 1 (code "1"), the one
    // distance code absent; then the block's only symbol, end-of-block (code "0").
    for (let i = 0; i < 256; i++) w.put(0, 1);
    w.put(1, 1);
    w.put(0, 1);
    w.put(0, 1);
    fixed = ((shift + 3) % 8) / 2;
  }
  for (let i = 0; i < fixed; i++) {
    w.put(0, 1); // BFINAL
    w.put(1, 2); // BTYPE: fixed Huffman
    w.put(0, 7); // end-of-block, code 0000000
  }
  return { bytes: Uint8Array.from(w.bytes), tail: w.acc };
}

const ALIGN = Array.from({ length: 8 }, (_, shift) => emptyBlocks(shift));

/**
 * What a raw inflater is fed before the chunk's bytes to resume at `point`: its history, the
 * empty blocks, and when the point is inside a byte, that byte (`byte`: the chunk's byte at
 * {@link pointByte}) with its bits before the point replaced by the empty blocks' last bits.
 */
export function resumePrefix(point: BlockPoint, byte: number): Uint8Array {
  const shift = point.bit % 8;
  const { bytes, tail } = ALIGN[shift];
  const out = new Uint8Array(point.history.length + bytes.length + (shift ? 1 : 0));
  out.set(point.history);
  out.set(bytes, point.history.length);
  if (shift) {
    const mask = (1 << shift) - 1;
    out[out.length - 1] = (tail & mask) | (byte & ~mask & 0xff);
  }
  return out;
}

/** Chunk-relative offset of the byte a point is in (bit offsets pass 2^31: no `>>` here). */
export function pointByte(point: BlockPoint): number {
  return Math.floor(point.bit / 8);
}

/** Chunk-relative offset of the first compressed byte fed whole after {@link resumePrefix}. */
export function resumeStart(point: BlockPoint): number {
  return Math.ceil(point.bit / 8);
}

/**
 * True when `point` can belong to a chunk of `length` compressed and `outputSize` decoded bytes
 * at decoded `position`: a block after the zlib header, inside the data, and a window of the
 * bytes before it.
 */
export function blockPointFits(
  point: BlockPoint,
  position: number,
  length: number,
  outputSize: number,
): boolean {
  return (
    Number.isSafeInteger(point.bit) &&
    point.bit >= FIRST_BLOCK_BIT &&
    pointByte(point) < length &&
    position > 0 &&
    position < outputSize &&
    point.windowLength === Math.min(WINDOW, position)
  );
}

/**
 * The block boundaries of the whole zlib stream `z` (decoding to `size` bytes) that another
 * block follows, as decoded position -> bit offset, as pako finds them: the reference other
 * inflaters' stops are checked against.
 */
export function streamBoundaries(z: Uint8Array, size: number): Map<number, number> {
  const strm = new ZStream();
  zlibInflateInit(strm);
  strm.input = z;
  strm.next_in = 0;
  strm.avail_in = z.length;
  strm.output = new Uint8Array(size);
  strm.next_out = 0;
  strm.avail_out = size;
  const found = new Map<number, number>();
  // data_type: 128 at a block boundary, 64 when the block before was the last.
  while (zlibInflate(strm, Z_BLOCK) === Z_OK) {
    if ((strm.data_type & 192) === 128) found.set(strm.total_out, inflateBit(strm));
  }
  return found;
}
