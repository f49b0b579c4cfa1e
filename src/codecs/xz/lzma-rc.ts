/**
 * The range decoder under LZMA: binary arithmetic decoding of bits with adaptive 11-bit
 * probabilities, bit trees, and direct (fixed one-half) bits, over one LZMA2 chunk's
 * compressed bytes held whole in memory.
 */

/** Probabilities are 11-bit; a fresh one is one half. */
const BIT_MODEL_TOTAL = 1 << 11;
export const PROB_INIT = BIT_MODEL_TOTAL >>> 1;
const MOVE_BITS = 5;
/** The range is renormalized (one more input byte) whenever it drops below 2^24. */
const TOP = 1 << 24;
/** Indexes of the two registers. */
const RANGE = 0;
const CODE = 1;

export class RangeDecoder {
  /** The registers, range and code, as unsigned 32-bit values. */
  private readonly rc = new Uint32Array(2);
  private input: Uint8Array = new Uint8Array(0);
  /** Next compressed byte; may pass `inEnd` by one symbol's worth on corrupt data. */
  inPos = 0;
  /** End of the chunk's compressed bytes. */
  inEnd = 0;

  /** `probs`: the model's probabilities, which every bit decoded adapts. */
  constructor(private readonly probs: Uint16Array) {}

  /**
   * Start on `input[start, end)`, one LZMA2 chunk's compressed bytes. The array must extend
   * at least 32 bytes past `end` (one symbol's worth of overrun on corrupt data is read from
   * there and then refused). False when the chunk is too short, does not start with the
   * zero byte every range coder stream starts with, or starts with a code no encoder makes.
   */
  start(input: Uint8Array, start: number, end: number): boolean {
    if (end - start < 5 || input[start] !== 0) return false;
    this.input = input;
    const rc = this.rc;
    rc[CODE] =
      (input[start + 1] << 24) |
      (input[start + 2] << 16) |
      (input[start + 3] << 8) |
      input[start + 4];
    rc[RANGE] = 0xffffffff;
    this.inPos = start + 5;
    this.inEnd = end;
    // The code always lies below the range.
    return rc[CODE] !== 0xffffffff;
  }

  /** True when the compressed bytes were consumed exactly and the coder was flushed. */
  flushed(): boolean {
    return this.inPos === this.inEnd && this.rc[CODE] === 0;
  }

  /** Decode one bit with the probability at `i`. */
  bit(i: number): number {
    const rc = this.rc;
    const p = this.probs[i];
    let range = rc[RANGE];
    const bound = (range >>> 11) * p;
    let b = 0;
    if (rc[CODE] < bound) {
      range = bound;
      this.probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
    } else {
      range -= bound;
      rc[CODE] -= bound;
      this.probs[i] = p - (p >>> MOVE_BITS);
      b = 1;
    }
    if (range < TOP) {
      range *= 256;
      rc[CODE] = (rc[CODE] << 8) | this.input[this.inPos++];
    }
    rc[RANGE] = range;
    return b;
  }

  /**
   * Decode a literal's 8 bits with the coder at `base`, the range coder's registers in locals
   * (literals are most of the work). After a match (`matched`), the bits of the byte at rep0
   * select the probabilities for as long as the decoded bits agree with them.
   */
  literal(base: number, matchByte: number, matched: boolean): number {
    const { rc, probs, input } = this;
    let range = rc[RANGE];
    let code = rc[CODE];
    let inPos = this.inPos;
    let offs = matched ? 0x100 : 0;
    let match = matchByte;
    let sym = 1;
    while (sym < 0x100) {
      match <<= 1;
      const matchBit = match & offs;
      const i = base + offs + matchBit + sym;
      const p = probs[i];
      const bound = (range >>> 11) * p;
      const one = code >= bound ? 1 : 0;
      if (one) {
        range -= bound;
        code -= bound;
        probs[i] = p - (p >>> MOVE_BITS);
        offs &= matchBit;
      } else {
        range = bound;
        probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
        offs &= ~matchBit;
      }
      sym = (sym << 1) | one;
      if (range < TOP) {
        range *= 256;
        code = ((code << 8) | input[inPos++]) >>> 0;
      }
    }
    rc[RANGE] = range;
    rc[CODE] = code;
    this.inPos = inPos;
    return sym & 0xff;
  }

  /** Decode `n` bits, most significant first, with the tree of probabilities at `base`. */
  tree(base: number, n: number): number {
    let i = 1;
    for (let k = 0; k < n; k++) i = (i << 1) | this.bit(base + i);
    return i - (1 << n);
  }

  /** Decode `n` bits, least significant first, with the tree at `base`. */
  reverseTree(base: number, n: number): number {
    let i = 1;
    let v = 0;
    for (let k = 0; k < n; k++) {
      const b = this.bit(base + i);
      i = (i << 1) | b;
      v |= b << k;
    }
    return v;
  }

  /** Decode `n` bits with fixed probability one half. */
  direct(n: number): number {
    const rc = this.rc;
    let v = 0;
    for (let k = 0; k < n; k++) {
      const range = rc[RANGE] >>> 1;
      let b = 0;
      if (rc[CODE] >= range) {
        rc[CODE] -= range;
        b = 1;
      }
      v = v * 2 + b;
      if (range < TOP) {
        rc[RANGE] = range * 256;
        rc[CODE] = (rc[CODE] << 8) | this.input[this.inPos++];
      } else rc[RANGE] = range;
    }
    return v;
  }
}
