/*
 * LZMA as LZMA2 uses it, compiled to WebAssembly: the same model, checks and stopping rules as
 * lzma-decoder.ts (which stays as the fallback where WebAssembly is refused, and as the oracle
 * the tests compare this one with). Freestanding: no libc, no allocator, nothing imported.
 *
 * Linear memory holds, in order: this file's statics (the state block, the probabilities, the
 * input area for one LZMA2 chunk's compressed bytes), then the dictionary from `__heap_base`,
 * which the host makes room for by growing the memory before it calls lzma_dict_init. Every
 * index is kept inside its area by the same arithmetic as the TypeScript decoder; a fault here
 * could only ever touch this instance's own memory.
 *
 * Build: scripts/build-wasm.sh (clang --target=wasm32, reproducible), embedded as base64 in
 * lzma-wasm-bytes.ts; a test rebuilds it and compares.
 */

#include "../../wasm/freestanding.h"

#define BIT_MODEL_TOTAL (1u << 11)
#define MOVE_BITS 5
#define TOP (1u << 24)

#define STATES 12
#define LIT_STATES 7
#define POS_STATES_MAX 16
#define END_POS_MODEL_INDEX 14
#define FULL_DISTANCES 128
#define ALIGN_BITS 4
#define MATCH_LEN_MIN 2
#define LEN_CHOICE 0
#define LEN_CHOICE2 1
#define LEN_LOW 2
#define LEN_MID (LEN_LOW + POS_STATES_MAX * 8)
#define LEN_HIGH (LEN_MID + POS_STATES_MAX * 8)
#define LEN_CODER_SIZE (LEN_HIGH + 256)
#define IS_MATCH 0
#define IS_REP (IS_MATCH + STATES * POS_STATES_MAX)
#define IS_REP_G0 (IS_REP + STATES)
#define IS_REP_G1 (IS_REP_G0 + STATES)
#define IS_REP_G2 (IS_REP_G1 + STATES)
#define IS_REP0_LONG (IS_REP_G2 + STATES)
#define DIST_SLOT (IS_REP0_LONG + STATES * POS_STATES_MAX)
#define DIST_SPECIAL (DIST_SLOT + 4 * 64)
#define DIST_ALIGN (DIST_SPECIAL + FULL_DISTANCES - END_POS_MODEL_INDEX)
#define MATCH_LEN (DIST_ALIGN + (1 << ALIGN_BITS))
#define REP_LEN (MATCH_LEN + LEN_CODER_SIZE)
#define LITERAL (REP_LEN + LEN_CODER_SIZE)
#define LITERAL_CODER_SIZE 0x300
#define LCLP_MAX 4
#define PROBS (LITERAL + (LITERAL_CODER_SIZE << LCLP_MAX))
#define LEN_LOW_SYMBOLS 8
#define LEN_HIGH_SYMBOLS 256
#define DIST_SLOTS 64
#define LEN_STATES 4
#define START_POS_MODEL_INDEX 4

/* One LZMA2 chunk's compressed bytes are at most 64 KiB; a corrupt symbol may read up to about
 * 30 bytes past the chunk's end before the per-symbol check refuses it, so the area has slack. */
#define INPUT_BYTES (65536 + 64)

/* Results of lzma_decode. */
#define OK 0
#define ERR_INPUT_ENDS 1
#define ERR_END_MARKER 2
#define ERR_DISTANCE 3

/*
 * The state the host reads and writes between calls, as one block of 32-bit words (the host
 * keeps an Int32Array over it): window position, bytes a match may reach, their cap, the
 * dictionary's size, input position and end, the model's state and distances, and a match's
 * bytes not yet copied.
 */
enum { S_POS, S_FULL, S_REACH, S_SIZE, S_IN_POS, S_IN_END, S_STATE, S_REP0, S_REP1, S_REP2,
       S_REP3, S_PENDING, S_RANGE, S_CODE, S_LC, S_LP_MASK, S_PB_MASK, S_WORDS };

static u32 st[S_WORDS];
static u16 probs[PROBS];
static u8 input[INPUT_BYTES];
extern u8 __heap_base;

EXPORT(lzma_state) u32 *lzma_state(void) { return st; }
EXPORT(lzma_input) u8 *lzma_input(void) { return input; }
EXPORT(lzma_input_bytes) u32 lzma_input_bytes(void) { return INPUT_BYTES; }
EXPORT(lzma_dict) u8 *lzma_dict(void) {
  return (u8 *)(((u32)&__heap_base + 15) & ~15u);
}

/* Set lc, lp, pb from an LZMA2 properties byte; 0 when invalid (lc + lp over 4, pb over 4). */
EXPORT(lzma_props) int lzma_props(u32 props) {
  if (props > (4 * 5 + 4) * 9 + 8) return 0;
  u32 lc = props % 9, lp = (props / 9) % 5, pb = props / 45;
  if (lc + lp > LCLP_MAX) return 0;
  st[S_LC] = lc;
  st[S_LP_MASK] = (1u << lp) - 1;
  st[S_PB_MASK] = (1u << pb) - 1;
  return 1;
}

/* Reset the model: every probability one half, state and distances zero. */
EXPORT(lzma_reset_state) void lzma_reset_state(void) {
  for (u32 i = 0; i < PROBS; i++) probs[i] = BIT_MODEL_TOTAL >> 1;
  st[S_STATE] = st[S_REP0] = st[S_REP1] = st[S_REP2] = st[S_REP3] = st[S_PENDING] = 0;
}

/* Start the range coder on input[0, len); 0 when too short, not starting with the zero byte,
 * or with a code no encoder makes (the code must lie below the range). Zeroes the slack. */
EXPORT(lzma_rc_start) int lzma_rc_start(u32 len) {
  if (len < 5 || len > INPUT_BYTES - 64 || input[0] != 0) return 0;
  for (u32 i = len; i < INPUT_BYTES; i++) input[i] = 0;
  st[S_CODE] = ((u32)input[1] << 24) | ((u32)input[2] << 16) | ((u32)input[3] << 8) | input[4];
  st[S_RANGE] = 0xffffffffu;
  st[S_IN_POS] = 5;
  st[S_IN_END] = len;
  return st[S_CODE] != 0xffffffffu;
}

/* True when the chunk ended cleanly: input used exactly, coder flushed, no match running on. */
EXPORT(lzma_finished) int lzma_finished(void) {
  return st[S_IN_POS] == st[S_IN_END] && st[S_CODE] == 0 && st[S_PENDING] == 0;
}

#define NORMALIZE()                          \
  if (range < TOP) {                         \
    range <<= 8;                             \
    code = (code << 8) | input[in_pos++];    \
  }

/* One bit with the probability at index I; BIT0 and BIT1 run for the bit's value. */
#define BIT(I, BIT0, BIT1)                                \
  do {                                                    \
    u32 i_ = (I);                                         \
    u32 p_ = probs[i_];                                   \
    u32 bound_ = (range >> 11) * p_;                      \
    if (code < bound_) {                                  \
      range = bound_;                                     \
      probs[i_] = (u16)(p_ + ((BIT_MODEL_TOTAL - p_) >> MOVE_BITS)); \
      BIT0;                                               \
    } else {                                              \
      range -= bound_;                                    \
      code -= bound_;                                     \
      probs[i_] = (u16)(p_ - (p_ >> MOVE_BITS));          \
      BIT1;                                               \
    }                                                     \
    NORMALIZE();                                          \
  } while (0)

/*
 * Decode into the dictionary until the position reaches `limit` (at most its size). Returns OK,
 * or why the data is corrupt: a symbol reading past the chunk, an end marker (LZMA2 never
 * writes one), or a distance past the bytes decoded since the last dictionary reset.
 */
EXPORT(lzma_decode) int lzma_decode(u32 limit) {
  u8 *buf = lzma_dict();
  const u32 size = st[S_SIZE], reach = st[S_REACH], in_end = st[S_IN_END];
  const u32 lc = st[S_LC], lp_mask = st[S_LP_MASK], pb_mask = st[S_PB_MASK];
  u32 pos = st[S_POS], full = st[S_FULL], in_pos = st[S_IN_POS];
  u32 state = st[S_STATE], rep0 = st[S_REP0], rep1 = st[S_REP1], rep2 = st[S_REP2],
      rep3 = st[S_REP3], pending = st[S_PENDING];
  u32 range = st[S_RANGE], code = st[S_CODE];
  int result = OK;
  if (limit > size) limit = size;
  for (;;) {
    if (pending > 0) {
      u32 n = pending < limit - pos ? pending : limit - pos;
      u32 src = pos >= rep0 + 1 ? pos - rep0 - 1 : pos + size - rep0 - 1;
      if (src + n <= size) {
        /* No wrap: a long match that does not overlap its own output is one block move (the
         * memory.copy instruction), a short or self-overlapping one a byte loop. */
        if (n >= 16 && (src + n <= pos || src >= pos + n)) {
          __builtin_memmove(buf + pos, buf + src, n);
        } else {
          for (u32 k = 0; k < n; k++) buf[pos + k] = buf[src + k];
        }
      } else {
        for (u32 k = 0; k < n; k++) {
          buf[pos + k] = buf[src++];
          if (src == size) src = 0;
        }
      }
      pos += n;
      full = full + n < reach ? full + n : reach;
      pending -= n;
      if (pending > 0) break;
    }
    if (pos >= limit) break;
    /* One symbol reads at most about 30 bytes; refuse as soon as the chunk is overrun. */
    if (in_pos > in_end) {
      result = ERR_INPUT_ENDS;
      break;
    }
    const u32 pos_state = pos & pb_mask;
    u32 is_literal = 0;
    BIT(IS_MATCH + state * POS_STATES_MAX + pos_state, is_literal = 1, );
    if (is_literal) {
      const u32 prev = full > 0 ? buf[(pos == 0 ? size : pos) - 1] : 0;
      u16 *lit = probs + LITERAL + LITERAL_CODER_SIZE * (((pos & lp_mask) << lc) + (prev >> (8 - lc)));
      u32 sym = 1;
      if (state >= LIT_STATES) {
        u32 src = pos >= rep0 + 1 ? pos - rep0 - 1 : pos + size - rep0 - 1;
        u32 match = buf[src];
        u32 offs = 0x100;
        do {
          match <<= 1;
          const u32 match_bit = match & offs;
          const u32 i = offs + match_bit + sym;
          const u32 p = lit[i];
          const u32 bound = (range >> 11) * p;
          if (code < bound) {
            range = bound;
            lit[i] = (u16)(p + ((BIT_MODEL_TOTAL - p) >> MOVE_BITS));
            sym <<= 1;
            offs = match_bit ^ offs;
          } else {
            range -= bound;
            code -= bound;
            lit[i] = (u16)(p - (p >> MOVE_BITS));
            sym = (sym << 1) | 1;
            offs = match_bit;
          }
          NORMALIZE();
        } while (offs != 0 && sym < 0x100);
      }
      while (sym < 0x100) {
        /* Branch-free: literal bits are the least predictable, and computing both outcomes
         * and masking one away is a quarter faster here than a mispredicted branch per bit.
         * After a 0 the probability moves toward 2048 (p - ((p - 2017) >> 5) is exactly
         * p + ((2048 - p) >> 5)), after a 1 toward 0. */
        const u32 p = lit[sym];
        const u32 bound = (range >> 11) * p;
        const u32 one = 0u - (u32)(code >= bound);
        range = (bound & ~one) | ((range - bound) & one);
        code -= bound & one;
        lit[sym] = (u16)(p - ((int)(p - (~one & (BIT_MODEL_TOTAL - 31))) >> MOVE_BITS));
        sym = (sym << 1) - one;
        NORMALIZE();
      }
      buf[pos++] = (u8)sym;
      if (full < reach) full++;
      state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
      continue;
    }
    /* A match: a new distance, or one of the last four; a short rep is one byte from rep0. */
    u32 len_base = REP_LEN;
    int fresh = 0, short_rep = 0;
    u32 is_rep = 0;
    BIT(IS_REP + state, , is_rep = 1);
    if (!is_rep) {
      len_base = MATCH_LEN;
      fresh = 1;
      state = state < LIT_STATES ? 7 : 10;
    } else {
      u32 g0 = 0;
      BIT(IS_REP_G0 + state, , g0 = 1);
      if (!g0) {
        BIT(IS_REP0_LONG + state * POS_STATES_MAX + pos_state, short_rep = 1, );
      } else {
        u32 dist;
        u32 g1 = 0;
        BIT(IS_REP_G1 + state, , g1 = 1);
        if (!g1) {
          dist = rep1;
        } else {
          u32 g2 = 0;
          BIT(IS_REP_G2 + state, , g2 = 1);
          if (!g2) {
            dist = rep2;
          } else {
            dist = rep3;
            rep3 = rep2;
          }
          rep2 = rep1;
        }
        rep1 = rep0;
        rep0 = dist;
      }
      state = short_rep ? (state < LIT_STATES ? 9 : 11) : state < LIT_STATES ? 8 : 11;
    }
    u32 len = 1;
    if (!short_rep) {
      u32 tree, top;
      u32 c1 = 0;
      BIT(len_base + LEN_CHOICE, , c1 = 1);
      if (!c1) {
        tree = len_base + LEN_LOW + pos_state * LEN_LOW_SYMBOLS;
        top = LEN_LOW_SYMBOLS;
        len = MATCH_LEN_MIN;
      } else {
        u32 c2 = 0;
        BIT(len_base + LEN_CHOICE2, , c2 = 1);
        if (!c2) {
          tree = len_base + LEN_MID + pos_state * LEN_LOW_SYMBOLS;
          top = LEN_LOW_SYMBOLS;
          len = MATCH_LEN_MIN + LEN_LOW_SYMBOLS;
        } else {
          tree = len_base + LEN_HIGH;
          top = LEN_HIGH_SYMBOLS;
          len = MATCH_LEN_MIN + 2 * LEN_LOW_SYMBOLS;
        }
      }
      u32 t = 1;
      do {
        BIT(tree + t, t <<= 1, t = (t << 1) | 1);
      } while (t < top);
      len += t - top;
    }
    if (fresh) {
      const u32 len_state = len - MATCH_LEN_MIN < LEN_STATES ? len - MATCH_LEN_MIN : LEN_STATES - 1;
      const u32 slot_base = DIST_SLOT + len_state * DIST_SLOTS;
      u32 slot = 1;
      do {
        BIT(slot_base + slot, slot <<= 1, slot = (slot << 1) | 1);
      } while (slot < DIST_SLOTS);
      slot -= DIST_SLOTS;
      u32 dist = slot;
      if (slot >= START_POS_MODEL_INDEX) {
        u32 bits = (slot >> 1) - 1;
        dist = (2 | (slot & 1)) << bits;
        u32 reverse_base;
        if (slot < END_POS_MODEL_INDEX) {
          reverse_base = DIST_SPECIAL + dist - slot - 1;
        } else {
          u32 direct = 0;
          for (u32 k = bits - ALIGN_BITS; k > 0; k--) {
            range >>= 1;
            u32 b = 0;
            if (code >= range) {
              code -= range;
              b = 1;
            }
            direct = (direct << 1) | b;
            NORMALIZE();
          }
          dist |= direct << ALIGN_BITS;
          reverse_base = DIST_ALIGN;
          bits = ALIGN_BITS;
        }
        u32 t = 1;
        for (u32 k = 0; k < bits; k++) {
          BIT(reverse_base + t, t <<= 1, (t = (t << 1) | 1, dist |= 1u << k));
        }
      }
      if (dist == 0xffffffffu) {
        result = ERR_END_MARKER;
        break;
      }
      rep3 = rep2;
      rep2 = rep1;
      rep1 = rep0;
      rep0 = dist;
    }
    /* Matches may only reach bytes decoded since the last dictionary reset. */
    if (rep0 >= full) {
      result = ERR_DISTANCE;
      break;
    }
    pending = len;
  }
  st[S_POS] = pos;
  st[S_FULL] = full;
  st[S_IN_POS] = in_pos;
  st[S_STATE] = state;
  st[S_REP0] = rep0;
  st[S_REP1] = rep1;
  st[S_REP2] = rep2;
  st[S_REP3] = rep3;
  st[S_PENDING] = pending;
  st[S_RANGE] = range;
  st[S_CODE] = code;
  return result;
}
