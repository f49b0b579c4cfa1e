/**
 * LZMA as LZMA2 uses it: the literal / match / repeated-match model, decoding with a
 * {@link RangeDecoder} over one LZMA2 chunk's compressed bytes (at most 64 KiB, held whole, so
 * input never runs dry in the middle of a symbol on honest data) into a circular
 * {@link Dictionary}.
 *
 * Decoding stops at an output limit and resumes later from the same state (a match cut at the
 * limit is finished on the next call), which is what lets a chunk's output leave in pieces.
 * Every loop is bounded by output produced; input overrun is checked once per symbol.
 *
 * Speed: the whole model runs in one function, {@link LzmaDecoder.decode}, with the range
 * decoder's registers, the window position and the model state in locals and every bit decode
 * written out in place (no call per bit, no allocation per symbol); the state goes back to the
 * objects only when decoding stops.
 */
import {
  BIT_MODEL_TOTAL,
  CODE,
  MOVE_BITS,
  PROB_INIT,
  RANGE,
  RangeDecoder,
  TOP,
} from "./lzma-rc.js";

/**
 * The branch-free probability update moves toward this after a 0 (p - ((p - 2017) >> 5) is
 * p + ((2048 - p) >>> 5) exactly) and toward 0 after a 1.
 */
const PROB_ZERO_TARGET = BIT_MODEL_TOTAL - ((1 << MOVE_BITS) - 1);
/** XOR with this maps unsigned 32-bit order onto signed order. */
const SIGN = 0x80000000 | 0;
/** The bits at or above {@link TOP}: zero when the range needs renormalizing. */
const TOP_MASK = -TOP | 0;

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
/** Length coder trees' sizes: 3-bit low and mid trees, 8-bit high tree. */
const LEN_LOW_SYMBOLS = 8;
const LEN_HIGH_SYMBOLS = 256;
/** Distance slots: 6-bit tree, one per length state (lengths 2, 3, 4, 5 and over). */
const DIST_SLOTS = 64;
const LEN_STATES = 4;
/** Slots below this are the distance itself. */
const START_POS_MODEL_INDEX = 4;
/** Output bytes decoded between write-backs of the decoder's state. */
const SLICE = 16 * 1024;
/** Matches at least this long that do not overlap themselves are copied with copyWithin. */
const COPY_WITHIN_MIN = 32;
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
  reach = 0;

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
  readonly rc = new RangeDecoder();
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

  /**
   * Decode into `dict` until its position reaches `limit` (at most the buffer's end). Returns
   * false with `error` set on corrupt data: a distance past the decoded history, an end marker
   * (LZMA2 never writes one), or a symbol reading past the chunk's compressed bytes.
   *
   * Each bit is decoded in place by the same few lines: `bound` splits the range by the
   * probability at `i`; below it the bit is 0 (the range shrinks to `bound`, the probability
   * rises), else 1 (range and code drop by `bound`, the probability falls); then the range is
   * renormalized with one more input byte when it fell below {@link TOP}. Range and code are
   * unsigned 32-bit values held as int32 bit patterns: `bound` is below 2^21 x 2^11 (so
   * Math.imul is exact modulo 2^32), unsigned comparisons flip the sign bits first (`^ SIGN`),
   * and "below TOP" is "top byte zero".
   */
  decode(dict: Dictionary, limit: number): boolean {
    const { buf, reach } = dict;
    const size = buf.length;
    let pos = dict.pos;
    let full = dict.full;
    const { probs, rc, lc, lpMask, pbMask } = this;
    const { input, inEnd } = rc;
    // The registers as signed 32-bit patterns, so the optimizer keeps them in machine words
    // and never meets a value it speculated small (which costs a deoptimization).
    const { regs } = rc;
    let range = regs[RANGE];
    let code = regs[CODE];
    let inPos = rc.inPos;
    let { state, rep0, rep1, rep2, rep3, pending } = this;
    let error: string | undefined;
    let i = 0;
    let p = 0;
    let bound = 0;
    // Output goes in slices, the state written back after each: so the write-back runs (and
    // is seen by the optimizer) long before the first call returns, which keeps the first,
    // long call's optimized loop from bailing out at its exit on every later call.
    for (;;) {
      const end = Math.min(limit, pos + SLICE);
      for (;;) {
        if (pending > 0) {
          // Copy as much of the match as fits before the slice end, from rep0 + 1 bytes back.
          const n = Math.min(pending, end - pos);
          let src = pos - rep0 - 1;
          if (src < 0) src += size;
          if (src + n <= size) {
            // No wrap: a long match that does not overlap its own output (or reads the older
            // bytes past the write position) is one block move; short ones a tight loop.
            if (n >= COPY_WITHIN_MIN && (src > pos || src + n <= pos))
              buf.copyWithin(pos, src, src + n);
            else for (let k = 0; k < n; k++) buf[pos + k] = buf[src + k];
          } else {
            for (let k = 0; k < n; k++) {
              buf[pos + k] = buf[src++];
              if (src === size) src = 0;
            }
          }
          pos += n;
          full = Math.min(full + n, reach);
          pending -= n;
          if (pending > 0) break;
        }
        if (pos >= end) break;
        // One symbol reads at most about 21 bytes; refuse as soon as the chunk is overrun.
        if (inPos > inEnd) {
          error = "LZMA2 chunk's compressed data ends early";
          break;
        }
        const posState = pos & pbMask;
        i = IS_MATCH + state * POS_STATES_MAX + posState;
        p = probs[i];
        bound = Math.imul(range >>> 11, p);
        if ((code ^ SIGN) < (bound ^ SIGN)) {
          range = bound;
          probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
          if ((range & TOP_MASK) === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          // A literal, coded with one of 2^(lc+lp) coders picked by the previous byte's high
          // bits and the position's low bits.
          const prev = full > 0 ? buf[(pos === 0 ? size : pos) - 1] : 0;
          const base =
            LITERAL + LITERAL_CODER_SIZE * (((pos & lpMask) << lc) + (prev >>> (8 - lc)));
          let sym = 1;
          if (state >= LIT_STATES) {
            // After a match: the bits of the byte at rep0 select the probabilities for as long
            // as the decoded bits agree with them, then the plain loop below takes over.
            let src = pos - rep0 - 1;
            if (src < 0) src += size;
            let match = buf[src];
            let offs = 0x100;
            do {
              match <<= 1;
              const matchBit = match & offs;
              i = base + offs + matchBit + sym;
              p = probs[i];
              bound = Math.imul(range >>> 11, p);
              if ((code ^ SIGN) < (bound ^ SIGN)) {
                range = bound;
                probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                sym <<= 1;
                offs = matchBit ^ offs;
              } else {
                range = (range - bound) | 0;
                code = (code - bound) | 0;
                probs[i] = p - (p >>> MOVE_BITS);
                sym = (sym << 1) | 1;
                offs = matchBit;
              }
              if ((range & TOP_MASK) === 0) {
                range <<= 8;
                code = (code << 8) | input[inPos++];
              }
            } while (offs !== 0 && sym < 0x100);
          }
          while (sym < 0x100) {
            // Branch-free: literal bits are the least predictable, so a mispredicted branch
            // per bit costs more than computing both outcomes and masking one away.
            i = base + sym;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            const one = -((code ^ SIGN) >= (bound ^ SIGN));
            range = (bound & ~one) | ((range - bound) & one);
            code = (code - (bound & one)) | 0;
            probs[i] = p - ((p - (~one & PROB_ZERO_TARGET)) >> MOVE_BITS);
            sym = (sym << 1) - one;
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
          }
          buf[pos++] = sym;
          if (full < reach) full++;
          state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
          continue;
        }
        range = (range - bound) | 0;
        code = (code - bound) | 0;
        probs[i] = p - (p >>> MOVE_BITS);
        if ((range & TOP_MASK) === 0) {
          range <<= 8;
          code = (code << 8) | input[inPos++];
        }
        // A match: a new distance, or one of the four last (rep0-rep3); its length from the
        // match or the rep length coder, except a short rep (one byte from rep0).
        let lenBase = REP_LEN;
        let fresh = false;
        i = IS_REP + state;
        p = probs[i];
        bound = Math.imul(range >>> 11, p);
        if ((code ^ SIGN) < (bound ^ SIGN)) {
          range = bound;
          probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
          if ((range & TOP_MASK) === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          lenBase = MATCH_LEN;
          fresh = true;
          state = state < LIT_STATES ? 7 : 10;
        } else {
          range = (range - bound) | 0;
          code = (code - bound) | 0;
          probs[i] = p - (p >>> MOVE_BITS);
          if ((range & TOP_MASK) === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          i = IS_REP_G0 + state;
          p = probs[i];
          bound = Math.imul(range >>> 11, p);
          if ((code ^ SIGN) < (bound ^ SIGN)) {
            range = bound;
            probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            i = IS_REP0_LONG + state * POS_STATES_MAX + posState;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            if ((code ^ SIGN) < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              lenBase = -1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> MOVE_BITS);
            }
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> MOVE_BITS);
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            let dist: number;
            i = IS_REP_G1 + state;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            if ((code ^ SIGN) < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              dist = rep1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> MOVE_BITS);
              if ((range & TOP_MASK) === 0) {
                range <<= 8;
                code = (code << 8) | input[inPos++];
              }
              i = IS_REP_G2 + state;
              p = probs[i];
              bound = Math.imul(range >>> 11, p);
              if ((code ^ SIGN) < (bound ^ SIGN)) {
                range = bound;
                probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                dist = rep2;
              } else {
                range = (range - bound) | 0;
                code = (code - bound) | 0;
                probs[i] = p - (p >>> MOVE_BITS);
                dist = rep3;
                rep3 = rep2;
              }
              rep2 = rep1;
            }
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            rep1 = rep0;
            rep0 = dist;
          }
          state = lenBase < 0 ? (state < LIT_STATES ? 9 : 11) : state < LIT_STATES ? 8 : 11;
        }
        let len = 1;
        if (lenBase >= 0) {
          // The length: choice bits pick the low, mid or high tree.
          let treeBase: number;
          let top: number;
          i = lenBase + LEN_CHOICE;
          p = probs[i];
          bound = Math.imul(range >>> 11, p);
          if ((code ^ SIGN) < (bound ^ SIGN)) {
            range = bound;
            probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
            treeBase = lenBase + LEN_LOW + posState * LEN_LOW_SYMBOLS;
            top = LEN_LOW_SYMBOLS;
            len = MATCH_LEN_MIN - LEN_LOW_SYMBOLS;
          } else {
            range = (range - bound) | 0;
            code = (code - bound) | 0;
            probs[i] = p - (p >>> MOVE_BITS);
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
            i = lenBase + LEN_CHOICE2;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            if ((code ^ SIGN) < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              treeBase = lenBase + LEN_MID + posState * LEN_LOW_SYMBOLS;
              top = LEN_LOW_SYMBOLS;
              len = MATCH_LEN_MIN + LEN_LOW_SYMBOLS - LEN_LOW_SYMBOLS;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> MOVE_BITS);
              treeBase = lenBase + LEN_HIGH;
              top = LEN_HIGH_SYMBOLS;
              len = MATCH_LEN_MIN + 2 * LEN_LOW_SYMBOLS - LEN_HIGH_SYMBOLS;
            }
          }
          if ((range & TOP_MASK) === 0) {
            range <<= 8;
            code = (code << 8) | input[inPos++];
          }
          let t = 1;
          do {
            i = treeBase + t;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            if ((code ^ SIGN) < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              t <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> MOVE_BITS);
              t = (t << 1) | 1;
            }
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
          } while (t < top);
          // The tree's symbol is t - top; the offsets above already subtract top.
          len += t;
        }
        if (fresh) {
          // The distance: a 6-bit slot (tree per length state); slots 4-13 add low bits coded
          // with probabilities (reverse tree), higher slots direct bits and 4 aligned bits.
          const lenState = len - MATCH_LEN_MIN < LEN_STATES ? len - MATCH_LEN_MIN : LEN_STATES - 1;
          const slotBase = DIST_SLOT + lenState * DIST_SLOTS;
          let slot = 1;
          do {
            i = slotBase + slot;
            p = probs[i];
            bound = Math.imul(range >>> 11, p);
            if ((code ^ SIGN) < (bound ^ SIGN)) {
              range = bound;
              probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
              slot <<= 1;
            } else {
              range = (range - bound) | 0;
              code = (code - bound) | 0;
              probs[i] = p - (p >>> MOVE_BITS);
              slot = (slot << 1) | 1;
            }
            if ((range & TOP_MASK) === 0) {
              range <<= 8;
              code = (code << 8) | input[inPos++];
            }
          } while (slot < DIST_SLOTS);
          slot -= DIST_SLOTS;
          let dist = slot;
          if (slot >= START_POS_MODEL_INDEX) {
            let bits = (slot >>> 1) - 1;
            // The top two bits, as an int32 pattern: up to 30 bits up, where slots 62 and 63 set
            // the sign bit. The bits below are ORed in and the whole read back unsigned.
            dist = (2 | (slot & 1)) << bits;
            let reverseBase: number;
            if (slot < END_POS_MODEL_INDEX) {
              reverseBase = DIST_SPECIAL + dist - slot - 1;
            } else {
              let direct = 0;
              for (let k = bits - ALIGN_BITS; k > 0; k--) {
                range >>>= 1;
                let b = 0;
                if ((code ^ SIGN) >= (range ^ SIGN)) {
                  code = (code - range) | 0;
                  b = 1;
                }
                direct = (direct << 1) | b;
                if ((range & TOP_MASK) === 0) {
                  range <<= 8;
                  code = (code << 8) | input[inPos++];
                }
              }
              dist |= direct << ALIGN_BITS;
              reverseBase = DIST_ALIGN;
              bits = ALIGN_BITS;
            }
            let t = 1;
            for (let k = 0; k < bits; k++) {
              i = reverseBase + t;
              p = probs[i];
              bound = Math.imul(range >>> 11, p);
              if ((code ^ SIGN) < (bound ^ SIGN)) {
                range = bound;
                probs[i] = p + ((BIT_MODEL_TOTAL - p) >>> MOVE_BITS);
                t <<= 1;
              } else {
                range = (range - bound) | 0;
                code = (code - bound) | 0;
                probs[i] = p - (p >>> MOVE_BITS);
                t = (t << 1) | 1;
                dist |= 1 << k;
              }
              if ((range & TOP_MASK) === 0) {
                range <<= 8;
                code = (code << 8) | input[inPos++];
              }
            }
          }
          dist >>>= 0;
          if (dist === 0xffffffff) {
            error = "LZMA2 data holds an end-of-stream marker";
            break;
          }
          rep3 = rep2;
          rep2 = rep1;
          rep1 = rep0;
          rep0 = dist;
        }
        // Matches may only reach bytes decoded since the last dictionary reset.
        if (rep0 >= full) {
          error = "LZMA2 match distance is beyond the dictionary";
          break;
        }
        pending = len;
      }
      dict.pos = pos;
      dict.full = full;
      regs[RANGE] = range;
      regs[CODE] = code;
      rc.inPos = inPos;
      this.state = state;
      this.rep0 = rep0;
      this.rep1 = rep1;
      this.rep2 = rep2;
      this.rep3 = rep3;
      this.pending = pending;
      if (error !== undefined || pos >= limit) break;
    }
    if (error === undefined) return true;
    this.error = error;
    return false;
  }
}
