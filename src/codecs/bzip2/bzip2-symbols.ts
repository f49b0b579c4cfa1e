/**
 * The symbol stage of a bzip2 block, the decoder's hot loop: Huffman codes (one table lookup
 * for codes of up to FAST_BITS bits), run lengths of the front byte (RUNA/RUNB), and the
 * move-to-front list, into the block array. The bit reader's state lives in local variables for
 * the whole loop; the input window is refilled two bytes at a time.
 *
 * The move-to-front list's first 16 bytes are four 32-bit words in local variables: moving one
 * of them to the front is a few masked shifts, with no loop over the bytes. The
 * other 240 bytes are an array, moved with one native copy.
 */
import { type BitReader, FAST_BITS, type HuffmanTables } from "./bzip2-huffman.js";

/** Symbols per selector (each group of 50 symbols has its own table). */
export const GROUP_SIZE = 50;
const FAST_MASK = (1 << FAST_BITS) - 1;
/** The move-to-front list's first bytes, kept in words. */
const FRONT = 16;
/**
 * For moving index n (< FRONT) to the front: per word k of the front, a mask of its low
 * min(max(n + 1 - 4k, 0), 4) bytes, which shift up one byte (the rest of the word stays).
 */
const SHIFT_MASKS = (() => {
  const m = new Int32Array(FRONT * 4);
  for (let n = 0; n < FRONT; n++) {
    for (let k = 0; k < 4; k++) {
      const bytes = Math.min(Math.max(n + 1 - 4 * k, 0), 4);
      m[n * 4 + k] = bytes === 4 ? -1 : (1 << (8 * bytes)) - 1;
    }
  }
  return m;
})();

export const FAILURES = [
  "",
  "bzip2 block runs out of selectors",
  "invalid bzip2 Huffman code",
  "bzip2 run longer than its block",
  "bzip2 block overflows its size",
] as const;

/** The symbol stage's progress, kept across input refills, and its move-to-front list. */
export class SymbolState {
  /** Table number of each group of 50 symbols. */
  readonly selectors = new Uint8Array(32768);
  nSel = 0;
  /** The end-of-block symbol (the number of byte values used + 1). */
  eob = 0;
  /** Most symbols the block may hold (100k x level). */
  blockMax = 0;
  nblock = 0;
  sel = 0;
  groupLeft = 0;
  g = 0;
  run = 0;
  weight = 1;
  /** The first FRONT bytes of the move-to-front list, four to a word, the first lowest. */
  private readonly front = new Int32Array(FRONT / 4);
  /** The rest of the list. */
  private readonly rest = new Uint8Array(256 - FRONT);
  /**
   * Views of the rest's first k bytes, for each k: moving them up one place is `set` of a
   * view into the same array, a copy that engines run faster than `copyWithin`.
   */
  private readonly heads = Array.from({ length: 256 - FRONT }, (_, k) => this.rest.subarray(0, k));

  /** Start a block whose used byte values, in order, are `used[0..nUsed)`. */
  start(used: Uint8Array, nUsed: number, nSel: number, blockMax: number): void {
    const { front, rest } = this;
    front.fill(0);
    rest.fill(0);
    for (let i = 0; i < nUsed; i++) {
      if (i < FRONT) front[i >>> 2] |= used[i] << ((i & 3) << 3);
      else rest[i - FRONT] = used[i];
    }
    this.nSel = nSel;
    this.eob = nUsed + 1;
    this.blockMax = blockMax;
    this.nblock = 0;
    this.sel = 0;
    this.groupLeft = 0;
    this.g = 0;
    this.run = 0;
    this.weight = 1;
  }

  /**
   * Decode symbols into `tt` (one byte per entry) and count each byte value in `byteCount`.
   * Returns true at the end-of-block symbol, false when the input window needs a refill.
   */
  decode(r: BitReader, huff: HuffmanTables, tt: Uint32Array, byteCount: Int32Array): boolean {
    const { win, end, refillAt } = r;
    const { fast } = huff;
    const { front, rest, heads, selectors, nSel, eob, blockMax } = this;
    const lastWindow = refillAt === Number.POSITIVE_INFINITY;
    // A valid stream has its 80-bit end marker after any symbol, so running into the last two
    // bytes of the input here means it is cut short.
    const stop = lastWindow ? end - 2 : refillAt;
    let { nblock, sel, groupLeft, g, run, weight } = this;
    let tbase = g << FAST_BITS;
    let w0 = front[0];
    let w1 = front[1];
    let w2 = front[2];
    let w3 = front[3];
    let acc = r.acc;
    let nbits = r.nbits;
    let pos = r.pos;
    let failure = 0;
    let done = false;
    for (;;) {
      if (nbits < 16) {
        if (pos > stop) break;
        acc = (acc << 16) | (win[pos] << 8) | win[pos + 1];
        pos += 2;
        nbits += 16;
      }
      if (groupLeft === 0) {
        // E26: a block with more groups of 50 than selectors.
        if (sel >= nSel) {
          failure = 1;
          break;
        }
        g = selectors[sel++];
        tbase = g << FAST_BITS;
        groupLeft = GROUP_SIZE;
      }
      let e = fast[tbase | ((acc >>> (nbits - FAST_BITS)) & FAST_MASK)];
      if (e === 0) {
        if (nbits < 20) {
          if (pos >= end) break;
          acc = (acc << 8) | win[pos++];
          nbits += 8;
        }
        e = huff.slow(g, acc, nbits);
        // E26: a bit pattern that is no code of an incomplete table.
        if (e === 0) {
          failure = 2;
          break;
        }
      }
      groupLeft--;
      nbits -= e & 31;
      const sym = e >>> 5;
      if (sym <= 1) {
        // RUNA / RUNB: the digits (1 and 2, weighted 1, 2, 4...) of a run of the front byte.
        run += weight << sym;
        weight <<= 1;
        // E26: a run that could not fit in any block (this also keeps `weight` small).
        if (run > blockMax) {
          failure = 3;
          break;
        }
        continue;
      }
      if (run > 0) {
        // E26: more symbols than the header's block size allows.
        if (nblock + run > blockMax) {
          failure = 4;
          break;
        }
        const b = w0 & 0xff;
        byteCount[b] += run;
        if (run < 16) for (let k = 0; k < run; k++) tt[nblock + k] = b;
        else tt.fill(b, nblock, nblock + run);
        nblock += run;
        run = 0;
        weight = 1;
      }
      if (sym === eob) {
        done = true;
        break;
      }
      if (nblock >= blockMax) {
        failure = 4;
        break;
      }
      const nn = sym - 1;
      let b: number;
      if (nn < FRONT) {
        // Shift the bytes before index nn up one place in all four words at once.
        b = ((nn < 8 ? (nn < 4 ? w0 : w1) : nn < 12 ? w2 : w3) >>> ((nn & 3) << 3)) & 0xff;
        const j = nn << 2;
        const m0 = SHIFT_MASKS[j];
        const m1 = SHIFT_MASKS[j + 1];
        const m2 = SHIFT_MASKS[j + 2];
        const m3 = SHIFT_MASKS[j + 3];
        w3 = (w3 & ~m3) | (((w3 << 8) | (w2 >>> 24)) & m3);
        w2 = (w2 & ~m2) | (((w2 << 8) | (w1 >>> 24)) & m2);
        w1 = (w1 & ~m1) | (((w1 << 8) | (w0 >>> 24)) & m1);
        w0 = (w0 & ~m0) | (((w0 << 8) | b) & m0);
      } else {
        const k = nn - FRONT;
        b = rest[k];
        rest.set(heads[k], 1);
        rest[0] = w3 >>> 24;
        w3 = (w3 << 8) | (w2 >>> 24);
        w2 = (w2 << 8) | (w1 >>> 24);
        w1 = (w1 << 8) | (w0 >>> 24);
        w0 = (w0 << 8) | b;
      }
      byteCount[b]++;
      tt[nblock++] = b;
    }
    this.nblock = nblock;
    this.sel = sel;
    this.groupLeft = groupLeft;
    this.g = g;
    this.run = run;
    this.weight = weight;
    front[0] = w0;
    front[1] = w1;
    front[2] = w2;
    front[3] = w3;
    r.acc = acc;
    r.nbits = nbits;
    r.pos = pos;
    if (failure) r.fail("DECODE_CORRUPT", FAILURES[failure]);
    if (!done && lastWindow) r.fail("DECODE_SHORT", "bzip2 data is truncated");
    return done;
  }
}
