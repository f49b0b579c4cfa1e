/**
 * bzip2's Huffman coding tables: up to six groups of canonical codes of 1-20 bits. A code of
 * up to FAST_BITS bits decodes with one lookup of the next FAST_BITS bits; a longer one by
 * comparing the next 12-20 bits against each length's range of codes.
 */

/** The compressed-input window a block reads from (the cursor's), most significant bit first. */
export interface BitReader {
  readonly win: Uint8Array;
  pos: number;
  readonly end: number;
  /**
   * Past this window position, {@link BitReader.refill} before reading on; infinite once the
   * window holds the last of the input.
   */
  readonly refillAt: number;
  /** The last `nbits` bits of `acc` are read from the window but not yet consumed. */
  acc: number;
  nbits: number;
  /** Read `n` (1-24) bits. */
  bits(n: number): number;
  /** Move the unread bytes to the window's front and fill the rest. */
  refill(): Promise<void>;
  /** Raise a decode error located at the current input position. */
  fail(code: "DECODE_CORRUPT" | "DECODE_SHORT", message: string): never;
}

export const MAX_GROUPS = 6;
export const MAX_ALPHA = 258;
export const MAX_CODE_LEN = 20;
/** Codes up to this many bits decode with one table lookup. */
export const FAST_BITS = 11;
/** Lengths per group in the slow-path arrays (index 0 unused, one spare). */
const LENS = MAX_CODE_LEN + 2;

/** The code tables of one block's groups. */
export class HuffmanTables {
  /** Code length of each symbol, per group (MAX_ALPHA entries each). */
  readonly lengths = new Uint8Array(MAX_GROUPS * MAX_ALPHA);
  /**
   * Per group, indexed by the next FAST_BITS bits: symbol << 5 | code length, or 0 when the
   * code is longer than FAST_BITS (or, in an incomplete table, no code at all).
   */
  readonly fast = new Uint16Array(MAX_GROUPS << FAST_BITS);
  /** Symbols sorted by code length; per group and length the first code, count and index. */
  private readonly perm = new Uint16Array(MAX_GROUPS * MAX_ALPHA);
  private readonly first = new Int32Array(MAX_GROUPS * LENS);
  private readonly count = new Int32Array(MAX_GROUPS * LENS);
  private readonly index = new Int32Array(MAX_GROUPS * LENS);
  private readonly next = new Int32Array(LENS);
  private readonly maxLen = new Uint8Array(MAX_GROUPS);

  /**
   * Canonical code tables of group `g` from its `alpha` code lengths (each already checked to
   * be 1-20). Returns false for an oversubscribed table (more codes than a length allows), which
   * no encoder writes.
   */
  build(g: number, alpha: number): boolean {
    const L0 = g * LENS;
    const S0 = g * MAX_ALPHA;
    const { lengths, count, first, index, perm, next } = this;
    count.fill(0, L0, L0 + LENS);
    let hi = 1;
    for (let s = 0; s < alpha; s++) {
      const len = lengths[S0 + s];
      count[L0 + len]++;
      if (len > hi) hi = len;
    }
    let code = 0;
    let idx = 0;
    for (let len = 1; len <= MAX_CODE_LEN; len++) {
      first[L0 + len] = code;
      index[L0 + len] = idx;
      next[len] = idx;
      code += count[L0 + len];
      idx += count[L0 + len];
      if (code > 2 ** len) return false;
      code <<= 1;
    }
    const fast = this.fast.subarray(g << FAST_BITS, (g + 1) << FAST_BITS);
    fast.fill(0);
    for (let s = 0; s < alpha; s++) {
      const len = lengths[S0 + s];
      const k = next[len]++;
      perm[S0 + k] = s;
      if (len <= FAST_BITS) {
        const c = first[L0 + len] + k - index[L0 + len];
        const shift = FAST_BITS - len;
        fast.fill((s << 5) | len, c << shift, (c + 1) << shift);
      }
    }
    this.maxLen[g] = hi;
    return true;
  }

  /**
   * A code longer than FAST_BITS in group `g`, from the last `nbits` (>= 20, or all that is
   * left) bits of `acc`: symbol << 5 | code length, or 0 when no code matches.
   */
  slow(g: number, acc: number, nbits: number): number {
    const { first, count, index, perm } = this;
    const L0 = g * LENS;
    const top = Math.min(this.maxLen[g], nbits);
    for (let len = FAST_BITS + 1; len <= top; len++) {
      const d = ((acc >>> (nbits - len)) & ((1 << len) - 1)) - first[L0 + len];
      if (d >= 0 && d < count[L0 + len])
        return (perm[g * MAX_ALPHA + index[L0 + len] + d] << 5) | len;
    }
    return 0;
  }
}
