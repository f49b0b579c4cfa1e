/**
 * One bzip2 block: its header (CRC, origin pointer, byte map, Huffman tables, selectors), its
 * symbols (Huffman codes, RUNA/RUNB run lengths, move-to-front) into the block array, and the
 * inverse Burrows-Wheeler walk that hands the decoded bytes out in bounded pieces, undoing the
 * initial run-length step on the way, so a run-length bomb never materializes.
 */

import {
  type BitReader,
  FAST_BITS,
  HuffmanTables,
  MAX_ALPHA,
  MAX_CODE_LEN,
  MAX_GROUPS,
} from "./bzip2-huffman.js";

export type { BitReader } from "./bzip2-huffman.js";

/** Symbols per selector (each group of 50 symbols has its own table). */
const GROUP_SIZE = 50;
/** Working memory of a block's tables: selectors, code lengths, decoding tables, rounded up. */
export const TABLES_BYTES = 64 * 1024;
/** Working memory of the block array per block size step (4 bytes x 100k). */
export const BLOCK_BYTES_PER_LEVEL = 400_000;

/** bzip2's CRC-32: polynomial 0x04C11DB7, most significant bit first. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[n] = c;
  }
  return t;
})();

/** Decodes the blocks of one stream, one at a time, in a block array sized by its level. */
export class Block {
  /** Set from the header until the walk has handed out every byte. */
  active = false;
  /** The CRC the block header states. */
  storedCrc = 0;
  private tt: Uint32Array;
  private readonly blockMax: number;
  private readonly selectors = new Uint8Array(32768);
  private readonly huff = new HuffmanTables();
  private readonly mtf = new Uint8Array(256);
  private readonly byteCount = new Uint32Array(256);
  /** Symbol-stage progress, kept across input refills. */
  private readonly st = {
    nSel: 0,
    eob: 0,
    nblock: 0,
    sel: 0,
    groupLeft: 0,
    g: 0,
    run: 0,
    weight: 1,
  };
  // Output walk: tt index, steps left, previous byte, its repeat count, pending copies, CRC.
  private tpos = 0;
  private left = 0;
  private last = -1;
  private run = 0;
  private copies = 0;
  private crc = -1;

  /** A block decoder for block size digit `level` (1-9): 100k x level symbols at most. */
  constructor(level: number) {
    this.blockMax = 100_000 * level;
    this.tt = new Uint32Array(this.blockMax);
  }

  /** Drop the block array (the cursor has released its memory). */
  free(): void {
    this.tt = new Uint32Array(0);
    this.active = false;
  }

  /** Decode one block's header and symbols (after its magic), then prepare the walk. */
  async read(r: BitReader): Promise<void> {
    const { mtf, selectors } = this;
    const { lengths } = this.huff;
    this.storedCrc = ((r.bits(16) << 16) | r.bits(16)) >>> 0;
    if (r.bits(1))
      r.fail("DECODE_CORRUPT", "randomised bzip2 blocks (pre-0.9.5) are not supported");
    const origPtr = r.bits(24);
    const used = r.bits(16);
    let nUsed = 0;
    for (let i = 0; i < 16; i++) {
      if (!(used & (0x8000 >>> i))) continue;
      const m = r.bits(16);
      for (let j = 0; j < 16; j++) if (m & (0x8000 >>> j)) mtf[nUsed++] = i * 16 + j;
    }
    if (nUsed === 0) r.fail("DECODE_CORRUPT", "bzip2 block uses no byte values");
    const alpha = nUsed + 2;
    const nGroups = r.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) r.fail("DECODE_CORRUPT", "bad bzip2 table count");
    // E26: a selector count of 0 is corrupt; up to 2^15-1 are read (bzip2 writes <= 18002).
    const nSel = r.bits(15);
    if (nSel === 0) r.fail("DECODE_CORRUPT", "bzip2 block has no selectors");
    const order = [0, 1, 2, 3, 4, 5];
    for (let s = 0; s < nSel; s++) {
      let j = 0;
      while (r.bits(1)) if (++j >= nGroups) r.fail("DECODE_CORRUPT", "bad bzip2 selector");
      const g = order[j];
      order.copyWithin(1, 0, j);
      order[0] = g;
      selectors[s] = g;
    }
    for (let g = 0; g < nGroups; g++) {
      let len = r.bits(5);
      for (let s = 0; s < alpha; s++) {
        for (;;) {
          if (len < 1 || len > MAX_CODE_LEN) r.fail("DECODE_CORRUPT", "bad bzip2 code length");
          if (r.pos > r.refillAt) await r.refill();
          if (!r.bits(1)) break;
          len += r.bits(1) ? -1 : 1;
        }
        lengths[g * MAX_ALPHA + s] = len;
      }
      this.huff.build(r, g, alpha);
    }
    Object.assign(this.st, { nSel, eob: nUsed + 1, nblock: 0, sel: 0, groupLeft: 0, g: 0 });
    Object.assign(this.st, { run: 0, weight: 1 });
    this.byteCount.fill(0);
    while (!this.symbols(r)) await r.refill();
    const { tt, byteCount } = this;
    const nblock = this.st.nblock;
    if (origPtr >= nblock) r.fail("DECODE_CORRUPT", "bzip2 block origin pointer out of range");
    // Inverse BWT: link each entry to its successor in the upper 24 bits.
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = byteCount[b];
      byteCount[b] = sum;
      sum += c;
    }
    for (let i = 0; i < nblock; i++) tt[byteCount[tt[i] & 0xff]++] |= i << 8;
    this.tpos = tt[origPtr] >>> 8;
    this.left = nblock;
    this.last = -1;
    this.run = 0;
    this.copies = 0;
    this.crc = -1;
    this.active = true;
  }

  /**
   * Symbols: Huffman codes, then run lengths (RUNA/RUNB), then move-to-front, into `tt`.
   * Returns true at the end-of-block symbol, false when the input window needs a refill.
   */
  private symbols(r: BitReader): boolean {
    const { tt, blockMax, st, byteCount, mtf, selectors } = this;
    const { fast } = this.huff;
    const { win, end, refillAt } = r;
    let { nblock, sel, groupLeft, g, run, weight } = st;
    let acc = r.acc;
    let nbits = r.nbits;
    let pos = r.pos;
    let done = false;
    const fail = (message: string): never => {
      r.pos = pos;
      return r.fail("DECODE_CORRUPT", message);
    };
    while (pos <= refillAt) {
      if (groupLeft === 0) {
        if (sel >= st.nSel) fail("bzip2 block runs out of selectors");
        g = selectors[sel++];
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      while (nbits <= 24 && pos < end) {
        acc = (acc << 8) | win[pos++];
        nbits += 8;
      }
      const peek = nbits >= FAST_BITS ? acc >>> (nbits - FAST_BITS) : acc << (FAST_BITS - nbits);
      const e = fast[(g << FAST_BITS) | (peek & ((1 << FAST_BITS) - 1))];
      let sym: number;
      if (e !== 0 && (e & 31) <= nbits) {
        nbits -= e & 31;
        sym = e >>> 5;
      } else {
        r.acc = acc;
        r.nbits = nbits;
        r.pos = pos;
        sym = this.huff.slowSymbol(r, g);
        acc = r.acc;
        nbits = r.nbits;
        pos = r.pos;
      }
      if (sym <= 1) {
        run += weight << sym;
        weight <<= 1;
        if (run > blockMax) fail("bzip2 run longer than its block");
        continue;
      }
      if (run > 0) {
        if (nblock + run > blockMax) fail("bzip2 block overflows its size");
        byteCount[mtf[0]] += run;
        tt.fill(mtf[0], nblock, nblock + run);
        nblock += run;
        run = 0;
        weight = 1;
      }
      if (sym === st.eob) {
        done = true;
        break;
      }
      if (nblock >= blockMax) fail("bzip2 block overflows its size");
      const b = mtf[sym - 1];
      if (sym < 16) for (let k = sym - 1; k > 0; k--) mtf[k] = mtf[k - 1];
      else mtf.copyWithin(1, 0, sym - 1);
      mtf[0] = b;
      byteCount[b]++;
      tt[nblock++] = b;
    }
    Object.assign(st, { nblock, sel, groupLeft, g, run, weight });
    r.acc = acc;
    r.nbits = nbits;
    r.pos = pos;
    return done;
  }

  /** Walk the block and undo the initial run-length step, up to `cap` bytes into `out`. */
  emit(out: Uint8Array, cap: number): number {
    const { tt } = this;
    let { tpos, left, last, run, copies, crc } = this;
    let n = 0;
    while (n < cap) {
      if (copies > 0) {
        copies--;
        out[n++] = last;
        crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ last) & 0xff];
        continue;
      }
      if (left === 0) break;
      const e = tt[tpos];
      tpos = e >>> 8;
      left--;
      const b = e & 0xff;
      if (run === 4) {
        // After four equal bytes comes a count of further copies (0-255).
        copies = b;
        run = 0;
        continue;
      }
      if (b === last) run++;
      else {
        last = b;
        run = 1;
      }
      out[n++] = b;
      crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff];
    }
    this.tpos = tpos;
    this.left = left;
    this.last = last;
    this.run = run;
    this.copies = copies;
    this.crc = crc;
    return n;
  }

  /** The CRC of the bytes the walk handed out (compare with {@link Block.storedCrc}). */
  get computedCrc(): number {
    return ~this.crc >>> 0;
  }
}
