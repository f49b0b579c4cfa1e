/**
 * The range decoder under LZMA: its registers and its place in one LZMA2 chunk's compressed
 * bytes, held whole in memory. The bit decoding itself is written out inside
 * {@link LzmaDecoder.decode}, which keeps these registers in locals while it runs.
 */

/** Probabilities are 11-bit; a fresh one is one half. */
export const BIT_MODEL_TOTAL = 1 << 11;
export const PROB_INIT = BIT_MODEL_TOTAL >>> 1;
/** How far a probability moves toward the bit just decoded: 1/32 of the distance. */
export const MOVE_BITS = 5;
/** The range is renormalized (one more input byte) whenever it drops below 2^24. */
export const TOP = 1 << 24;

/** Indexes of the two registers in {@link RangeDecoder.regs}. */
export const RANGE = 0;
export const CODE = 1;

export class RangeDecoder {
  /**
   * The registers, range and code: unsigned 32-bit values held as int32 bit patterns (the code
   * always below the range). A typed array, so no store of a large value ever changes how an
   * object field is represented, which would throw away the optimized decoder reading it.
   */
  readonly regs = new Int32Array(2);
  /** The compressed bytes, `input[inPos, inEnd)` being the current chunk's. */
  input: Uint8Array = new Uint8Array(0);
  /** Next compressed byte; may pass `inEnd` by one symbol's worth on corrupt data. */
  inPos = 0;
  /** End of the chunk's compressed bytes. */
  inEnd = 0;

  /**
   * Start on `input[start, end)`, one LZMA2 chunk's compressed bytes. The array must extend
   * at least 32 bytes past `end` (one symbol's worth of overrun on corrupt data is read from
   * there and then refused). False when the chunk is too short, does not start with the
   * zero byte every range coder stream starts with, or starts with a code no encoder makes.
   */
  start(input: Uint8Array, start: number, end: number): boolean {
    if (end - start < 5 || input[start] !== 0) return false;
    this.input = input;
    const { regs } = this;
    regs[CODE] =
      (input[start + 1] << 24) |
      (input[start + 2] << 16) |
      (input[start + 3] << 8) |
      input[start + 4];
    regs[RANGE] = -1; // 0xffffffff
    this.inPos = start + 5;
    this.inEnd = end;
    // The code always lies below the range: the decoder's arithmetic relies on it.
    return regs[CODE] !== -1;
  }

  /** True when the compressed bytes were consumed exactly and the coder was flushed. */
  flushed(): boolean {
    return this.inPos === this.inEnd && this.regs[CODE] === 0;
  }
}
