/**
 * LZMA as LZMA2 uses it: the literal / match / repeated-match model, decoding with a
 * {@link RangeDecoder} over one LZMA2 chunk's compressed bytes (at most 64 KiB, held whole, so
 * input never runs dry in the middle of a symbol on honest data) into a circular
 * {@link Dictionary}.
 *
 * Decoding stops at an output limit and resumes later from the same state (a match cut at the
 * limit is finished on the next call), which is what lets a chunk's output leave in pieces.
 * Every loop is bounded by output produced; input overrun is checked once per symbol.
 */
import { PROB_INIT, RangeDecoder } from "./lzma-rc.js";

/** Number of states of the model; states below LIT_STATES follow a literal. */
const STATES = 12;
const LIT_STATES = 7;
const POS_STATES_MAX = 16;
/** Distance slots 4..13 code their low bits with probabilities, higher slots directly. */
const END_POS_MODEL_INDEX = 14;
const FULL_DISTANCES = 128;
const ALIGN_BITS = 4;
const MATCH_LEN_MIN = 2;
/** Length coder layout: two choice bits, then low (3 bits), mid (3 bits), high (8 bits) trees. */
const LEN_CHOICE = 0;
const LEN_CHOICE2 = 1;
const LEN_LOW = 2;
const LEN_MID = LEN_LOW + POS_STATES_MAX * 8;
const LEN_HIGH = LEN_MID + POS_STATES_MAX * 8;
const LEN_CODER_SIZE = LEN_HIGH + 256;

/** Offsets of each probability group in one array. */
const IS_MATCH = 0;
const IS_REP = IS_MATCH + STATES * POS_STATES_MAX;
const IS_REP_G0 = IS_REP + STATES;
const IS_REP_G1 = IS_REP_G0 + STATES;
const IS_REP_G2 = IS_REP_G1 + STATES;
const IS_REP0_LONG = IS_REP_G2 + STATES;
const DIST_SLOT = IS_REP0_LONG + STATES * POS_STATES_MAX;
const DIST_SPECIAL = DIST_SLOT + 4 * 64;
const DIST_ALIGN = DIST_SPECIAL + FULL_DISTANCES - END_POS_MODEL_INDEX;
const MATCH_LEN = DIST_ALIGN + (1 << ALIGN_BITS);
const REP_LEN = MATCH_LEN + LEN_CODER_SIZE;
const LITERAL = REP_LEN + LEN_CODER_SIZE;
const LITERAL_CODER_SIZE = 0x300;
/** LZMA2 allows lc + lp <= 4, so at most 16 literal coders. */
export const LCLP_MAX = 4;

/** Bytes of working memory a decoder's probability array takes. */
export const LZMA_STATE_BYTES = (LITERAL + (LITERAL_CODER_SIZE << LCLP_MAX)) * 2;

/**
 * The sliding window: decoded bytes that matches copy from, in a circular buffer whose size
 * is a multiple of 16 (so buffer position and stream position agree on the low bits the
 * model uses). The decoder writes at `pos`; the caller hands out the bytes it wrote.
 */
export class Dictionary {
  /** Where the next byte goes; equal to `buf.length` when the buffer must wrap first. */
  pos = 0;
  /** Bytes behind `pos` a match may reach: decoded since the last reset, capped at `reach`. */
  full = 0;
  /** The declared dictionary size or the buffer size, whichever is smaller. */
  private reach = 0;

  constructor(readonly buf: Uint8Array) {}

  /** Forget all history (an LZMA2 dictionary reset); matches may reach `dictSize` back. */
  reset(dictSize: number): void {
    this.pos = 0;
    this.full = 0;
    this.reach = Math.min(dictSize, this.buf.length);
  }

  /** Account `n` bytes just written. */
  grew(n: number): void {
    this.full = Math.min(this.full + n, this.reach);
  }
}

/** The LZMA model and range decoder state, reusable across LZMA2 chunks and blocks. */
export class LzmaDecoder {
  private readonly probs = new Uint16Array(LZMA_STATE_BYTES / 2);
  private lc = 0;
  private lpMask = 0;
  private pbMask = 0;
  private state = 0;
  private rep0 = 0;
  private rep1 = 0;
  private rep2 = 0;
  private rep3 = 0;
  /** Bytes of the current match not yet copied (cut off by an output limit). */
  pending = 0;
  /** The range decoder, over the current LZMA2 chunk. */
  readonly rc = new RangeDecoder(this.probs);
  /** Why decoding stopped early, when it did. */
  error: string | undefined;

  /**
   * Set lc, lp and pb from an LZMA2 properties byte; false when invalid (pb over 4, or
   * lc + lp over 4: LZMA2 forbids more literal coders).
   */
  setProperties(props: number): boolean {
    if (props > (4 * 5 + 4) * 9 + 8) return false;
    const lc = props % 9;
    const lp = Math.floor(props / 9) % 5;
    const pb = Math.floor(props / 45);
    if (lc + lp > LCLP_MAX) return false;
    this.lc = lc;
    this.lpMask = (1 << lp) - 1;
    this.pbMask = (1 << pb) - 1;
    return true;
  }

  /**
   * True when the chunk ended cleanly: compressed bytes used exactly, coder flushed, and no
   * match left running into the next chunk.
   */
  finished(): boolean {
    return this.rc.flushed() && this.pending === 0;
  }

  /** Reset the model: every probability to one half, state and distances to zero. */
  resetState(): void {
    this.probs.fill(PROB_INIT);
    this.state = 0;
    this.rep0 = this.rep1 = this.rep2 = this.rep3 = 0;
    this.pending = 0;
  }

  /** A match length (2-273) from the length coder at `base`. */
  private length(base: number, posState: number): number {
    if (this.rc.bit(base + LEN_CHOICE) === 0) {
      return MATCH_LEN_MIN + this.rc.tree(base + LEN_LOW + posState * 8, 3);
    }
    if (this.rc.bit(base + LEN_CHOICE2) === 0) {
      return MATCH_LEN_MIN + 8 + this.rc.tree(base + LEN_MID + posState * 8, 3);
    }
    return MATCH_LEN_MIN + 16 + this.rc.tree(base + LEN_HIGH, 8);
  }

  /** A match distance (0-based) for a match of `len` bytes; 0xFFFFFFFF is the end marker. */
  private distance(len: number): number {
    const lenState = Math.min(len - MATCH_LEN_MIN, 3);
    const slot = this.rc.tree(DIST_SLOT + lenState * 64, 6);
    if (slot < 4) return slot;
    const bits = (slot >>> 1) - 1;
    if (slot < END_POS_MODEL_INDEX) {
      const base = (2 | (slot & 1)) << bits;
      return base + this.rc.reverseTree(DIST_SPECIAL + base - slot - 1, bits);
    }
    // Up to 30 bits: the base is computed in floating point, where 3 << 30 does not overflow.
    const base = (2 | (slot & 1)) * (1 << bits);
    const high = this.rc.direct(bits - ALIGN_BITS) * (1 << ALIGN_BITS);
    return base + high + this.rc.reverseTree(DIST_ALIGN, ALIGN_BITS);
  }

  /**
   * Decode into `dict` until its position reaches `limit` (at most the buffer's end). Returns
   * false with `error` set on corrupt data: a distance past the decoded history, an end marker
   * (LZMA2 never writes one), or a symbol reading past the chunk's compressed bytes.
   */
  decode(dict: Dictionary, limit: number): boolean {
    const { buf } = dict;
    const size = buf.length;
    if (this.pending > 0) this.copyMatch(dict, limit);
    const { lc, lpMask, pbMask } = this;
    while (dict.pos < limit) {
      // One symbol reads at most about 21 bytes; refuse as soon as the chunk is overrun.
      if (this.rc.inPos > this.rc.inEnd)
        return this.fail("LZMA2 chunk's compressed data ends early");
      const pos = dict.pos;
      const posState = pos & pbMask;
      const state = this.state;
      if (this.rc.bit(IS_MATCH + state * POS_STATES_MAX + posState) === 0) {
        const prev = dict.full > 0 ? buf[(pos === 0 ? size : pos) - 1] : 0;
        const coder = ((pos & lpMask) << lc) + (prev >>> (8 - lc));
        const base = LITERAL + coder * LITERAL_CODER_SIZE;
        const matched = state >= LIT_STATES;
        buf[pos] = this.rc.literal(
          base,
          matched ? buf[this.back(pos, this.rep0, size)] : 0,
          matched,
        );
        dict.pos = pos + 1;
        dict.grew(1);
        this.state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let len: number;
      if (this.rc.bit(IS_REP + state) === 0) {
        len = this.length(MATCH_LEN, posState);
        this.state = state < LIT_STATES ? 7 : 10;
        const dist = this.distance(len);
        if (dist === 0xffffffff) return this.fail("LZMA2 data holds an end-of-stream marker");
        this.rep3 = this.rep2;
        this.rep2 = this.rep1;
        this.rep1 = this.rep0;
        this.rep0 = dist;
      } else if (this.rc.bit(IS_REP_G0 + state) === 0) {
        if (this.rc.bit(IS_REP0_LONG + state * POS_STATES_MAX + posState) === 0) {
          // Short rep: one byte from rep0.
          this.state = state < LIT_STATES ? 9 : 11;
          len = 1;
        } else {
          len = this.length(REP_LEN, posState);
          this.state = state < LIT_STATES ? 8 : 11;
        }
      } else {
        let dist: number;
        if (this.rc.bit(IS_REP_G1 + state) === 0) dist = this.rep1;
        else {
          if (this.rc.bit(IS_REP_G2 + state) === 0) dist = this.rep2;
          else {
            dist = this.rep3;
            this.rep3 = this.rep2;
          }
          this.rep2 = this.rep1;
        }
        this.rep1 = this.rep0;
        this.rep0 = dist;
        len = this.length(REP_LEN, posState);
        this.state = state < LIT_STATES ? 8 : 11;
      }
      // Matches may only reach bytes decoded since the last dictionary reset.
      if (this.rep0 >= dict.full) return this.fail("LZMA2 match distance is beyond the dictionary");
      this.pending = len;
      this.copyMatch(dict, limit);
    }
    return true;
  }

  /** Copy as much of the pending match as fits before `limit`. */
  private copyMatch(dict: Dictionary, limit: number): void {
    const { buf } = dict;
    const size = buf.length;
    let pos = dict.pos;
    const n = Math.min(this.pending, limit - pos);
    let src = this.back(pos, this.rep0, size);
    for (let k = 0; k < n; k++) {
      buf[pos++] = buf[src++];
      if (src === size) src = 0;
    }
    dict.pos = pos;
    dict.grew(n);
    this.pending -= n;
  }

  /** Buffer index of the byte `dist + 1` bytes before `pos`. */
  private back(pos: number, dist: number, size: number): number {
    const src = pos - dist - 1;
    return src < 0 ? src + size : src;
  }

  private fail(message: string): false {
    this.error = message;
    return false;
  }
}
