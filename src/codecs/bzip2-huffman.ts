/**
 * bzip2's Huffman coding tables: up to six groups of canonical codes of 1-20 bits, decoded by
 * one lookup of the next FAST_BITS bits, or bit by bit for longer codes.
 */

/** The compressed-input window a block reads from (the cursor's), most significant bit first. */
export interface BitReader {
  readonly win: Uint8Array;
  pos: number;
  readonly end: number;
  /** Past this window position, {@link BitReader.refill} before reading on. */
  readonly refillAt: number;
  acc: number;
  nbits: number;
  /** Read `n` (1-24) bits. */
  bits(n: number): number;
  /** Move the unread bytes to the window's front and fill the rest. */
  refill(): Promise<void>;
  /** Raise a decode error located at the current input position. */
  fail(code: "DECODE_CORRUPT", message: string): never;
}

export const MAX_GROUPS = 6;
export const MAX_ALPHA = 258;
export const MAX_CODE_LEN = 20;
/** Codes up to this many bits decode with one table lookup; longer ones bit by bit. */
export const FAST_BITS = 10;

/** The code tables of one block's groups. */
export class HuffmanTables {
  /** Code length of each symbol, per group (MAX_ALPHA entries each). */
  readonly lengths = new Uint8Array(MAX_GROUPS * MAX_ALPHA);
  /** Symbols sorted by code length; `first`, `count`, `index` per group and length. */
  private readonly perm = new Uint16Array(MAX_GROUPS * MAX_ALPHA);
  private readonly first = new Int32Array(MAX_GROUPS * (MAX_CODE_LEN + 2));
  private readonly count = new Int32Array(MAX_GROUPS * (MAX_CODE_LEN + 2));
  private readonly index = new Int32Array(MAX_GROUPS * (MAX_CODE_LEN + 2));
  private readonly minLen = new Uint8Array(MAX_GROUPS);
  private readonly maxLen = new Uint8Array(MAX_GROUPS);
  /** Per group, indexed by the next FAST_BITS bits: symbol << 5 | code length, 0 if longer. */
  readonly fast = new Uint16Array(MAX_GROUPS << FAST_BITS);

  /** Canonical Huffman tables of group `g` from its code lengths. */
  build(r: BitReader, g: number, alpha: number): void {
    const L0 = g * (MAX_CODE_LEN + 2);
    const { lengths, count, first, index, perm, minLen, maxLen } = this;
    count.fill(0, L0, L0 + MAX_CODE_LEN + 2);
    let lo = MAX_CODE_LEN;
    let hi = 1;
    for (let s = 0; s < alpha; s++) {
      const len = lengths[g * MAX_ALPHA + s];
      count[L0 + len]++;
      if (len < lo) lo = len;
      if (len > hi) hi = len;
    }
    let code = 0;
    let idx = 0;
    for (let len = 1; len <= MAX_CODE_LEN; len++) {
      first[L0 + len] = code;
      index[L0 + len] = idx;
      code += count[L0 + len];
      idx += count[L0 + len];
      // More codes than the length allows: no encoder writes such a table.
      if (code > 2 ** len) r.fail("DECODE_CORRUPT", "bzip2 Huffman table is oversubscribed");
      code <<= 1;
    }
    const next = index.slice(L0, L0 + MAX_CODE_LEN + 2);
    const fast = this.fast.subarray(g << FAST_BITS, (g + 1) << FAST_BITS);
    fast.fill(0);
    for (let s = 0; s < alpha; s++) {
      const len = lengths[g * MAX_ALPHA + s];
      const k = next[len]++;
      perm[g * MAX_ALPHA + k] = s;
      if (len <= FAST_BITS) {
        const code = first[L0 + len] + k - index[L0 + len];
        const shift = FAST_BITS - len;
        fast.fill((s << 5) | len, code << shift, (code + 1) << shift);
      }
    }
    minLen[g] = lo;
    maxLen[g] = hi;
  }

  /** Read one symbol bit by bit: codes longer than FAST_BITS, or input running out. */
  slowSymbol(r: BitReader, g: number): number {
    const { first, count, index, perm, minLen, maxLen } = this;
    const L0 = g * (MAX_CODE_LEN + 2);
    let len = minLen[g];
    let code = r.bits(len);
    for (;;) {
      const d = code - first[L0 + len];
      if (d >= 0 && d < count[L0 + len]) return perm[g * MAX_ALPHA + index[L0 + len] + d];
      if (++len > maxLen[g]) r.fail("DECODE_CORRUPT", "invalid bzip2 Huffman code");
      code = (code << 1) | r.bits(1);
    }
  }
}
