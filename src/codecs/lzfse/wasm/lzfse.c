/*
 * The hot loops of the ULFO codec compiled to WebAssembly: LZVN blocks (`bvxn`), and the
 * literal and L, M, D decoding of LZFSE blocks (`bvx1`, `bvx2`) with their FSE tables. The
 * same checks, in the same order, and the same stopping rules as lzvn.ts and lzfse.ts (which
 * stay as the fallback where WebAssembly is refused, and as the oracle the tests compare this
 * one with). Block headers, stored blocks and the stream's framing stay in lzfse.ts.
 * Freestanding: no libc, no allocator, nothing imported.
 *
 * Linear memory holds, in order: this file's statics (the state block, the frequencies the
 * host writes, the decoding tables, the literal buffer), then from `__heap_base` the output
 * buffer (history and room, its size set by the host) with slack, then the current block's
 * payload with slack; the host grows the memory for both before it writes them. A failed check
 * returns ERR with the reason in the state block, which the host turns into the same error
 * (code, message, offset) as the TypeScript decoder.
 *
 * Copies move 8 bytes at a time and so may write up to 7 bytes past a run's end, and read up
 * to 7 past a source's end: the slack after each area takes them, and output past the write
 * position is never read before it is written again.
 *
 * Build: scripts/build-wasm.mjs (clang --target=wasm32, reproducible), embedded as base64 in
 * lzfse-wasm-bytes.ts; a test rebuilds it and compares.
 */

#include "../../wasm/freestanding.h"

#define L_SYMBOLS 20
#define M_SYMBOLS 20
#define D_SYMBOLS 64
#define LITERAL_SYMBOLS 256
#define L_STATES 64
#define M_STATES 64
#define D_STATES 256
#define LITERAL_STATES 1024
#define FREQ_COUNT (L_SYMBOLS + M_SYMBOLS + D_SYMBOLS + LITERAL_SYMBOLS)
#define LITERALS_PER_BLOCK 40000
#define SLACK 64
#define ERR (-1)

/*
 * The state the host reads and writes between calls, as 32-bit words: the output buffer's
 * size, the payload's place and size, the block's declared size and the bytes its commands
 * account for, the input position, the pending literal run and match, the distance, whether
 * the block is done; for LZFSE blocks the literal count, matches left, the L, M, D states and
 * the bit reader; and the last error with its values.
 */
enum {
  S_OUT_SIZE, S_PAYLOAD, S_PAYLOAD_LEN, S_NRAW, S_PRODUCED, S_IP, S_LITERAL, S_MATCH, S_DIST,
  S_DONE, S_NLITERALS, S_MATCHES, S_L_STATE, S_M_STATE, S_D_STATE, S_ACCUM_LO, S_ACCUM_HI,
  S_NBITS, S_POS, S_LMD_START, S_LIT_STATE0, S_LIT_STATE1, S_LIT_STATE2, S_LIT_STATE3,
  S_ERR, S_ERR_A, S_ERR_B, S_ERR_AT, S_WORDS
};

/* Reasons in S_ERR, turned into messages by the host (lzfse-wasm.ts). */
enum {
  E_LZVN_NO_EOS = 1, E_LZVN_CUT, E_LZVN_UNDEFINED, E_LZVN_LITERALS_PAST, E_LZVN_PAST_DECLARED,
  E_LZVN_DISTANCE, E_LZVN_EOS_CUT, E_LZVN_EOS_LEAVES, E_LZVN_EOS_PADDING, E_LZVN_SHORT,
  E_LZFSE_LITERAL_BITS, E_LZFSE_LMD_BITS, E_LZFSE_LITERALS, E_LZFSE_DISTANCE,
  E_LZFSE_PAST_DECLARED, E_LZFSE_SHORT
};

static u32 st[S_WORDS];
static u16 freq[FREQ_COUNT];
/* Decoding tables: code = next state's base << 16 | extra bits (the byte, for literals) << 8 |
 * bits to read; base = the symbol's value without its extra bits. */
static u32 lit_code[LITERAL_STATES];
static u32 l_code[L_STATES], m_code[M_STATES], d_code[D_STATES];
static u32 l_base[L_STATES], m_base[M_STATES], d_base[D_STATES];
static u8 literals[LITERALS_PER_BLOCK + SLACK];
extern u8 __heap_base;

static const u8 L_EXTRA[L_SYMBOLS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 5, 8};
static const u8 M_EXTRA[M_SYMBOLS] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 8, 11};

EXPORT(lzfse_state) u32 *lzfse_state(void) { return st; }
EXPORT(lzfse_freq) u16 *lzfse_freq(void) { return freq; }
EXPORT(lzfse_out) u8 *lzfse_out(void) { return (u8 *)(((u32)&__heap_base + 15) & ~15u); }

static inline u64 load64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}
static inline void store64(u8 *p, u64 v) { __builtin_memcpy(p, &v, 8); }

static inline u32 clz32(u32 x) { return x == 0 ? 32 : (u32)__builtin_clz(x); }

/*
 * Spread one stream's symbols over its `n` states (the frequencies sum to n, checked by the
 * host): symbol s takes freq[s] consecutive states, each reading k or k - 1 bits of the next
 * state, k the shift that puts freq[s] << k in [n, 2n). The same table as lzfse-fse.ts.
 */
static void build(u32 *code, u32 *base, const u16 *f, u32 symbols, u32 n, const u8 *extra_of,
                  int literal) {
  u32 state = 0, value = 0;
  for (u32 s = 0; s < symbols; s++) {
    const u32 fs = f[s];
    const u32 extra = literal ? 0 : extra_of ? extra_of[s] : s >> 2;
    if (fs != 0) {
      const u32 k = clz32(fs) - clz32(n);
      const u32 j0 = ((2 * n) >> k) - fs;
      const u32 field = literal ? s : extra;
      for (u32 j = 0; j < fs && state < n; j++, state++) {
        const u32 total = (j < j0 ? k : k - 1) + extra;
        const u32 delta = j < j0 ? ((fs + j) << k) - n : (j - j0) << (k - 1);
        code[state] = (delta << 16) | (field << 8) | total;
        if (base) base[state] = value;
      }
    }
    value += 1u << extra;
  }
}

/* Build the four tables from the frequencies the host wrote (checked to sum to each table). */
EXPORT(lzfse_build) void lzfse_build(void) {
  build(l_code, l_base, freq, L_SYMBOLS, L_STATES, L_EXTRA, 0);
  build(m_code, m_base, freq + L_SYMBOLS, M_SYMBOLS, M_STATES, M_EXTRA, 0);
  build(d_code, d_base, freq + L_SYMBOLS + M_SYMBOLS, D_SYMBOLS, D_STATES, 0, 0);
  build(lit_code, 0, freq + L_SYMBOLS + M_SYMBOLS + D_SYMBOLS, LITERAL_SYMBOLS, LITERAL_STATES,
        0, 1);
}

static inline u8 *payload_of(void) { return (u8 *)st[S_PAYLOAD]; }

static int fail(u32 reason, u32 a, u32 b, u32 at) {
  st[S_ERR] = reason;
  st[S_ERR_A] = a;
  st[S_ERR_B] = b;
  st[S_ERR_AT] = at;
  return ERR;
}

/*
 * Top up a backward bit reader: bytes before `pos` (down to `start`) go in below the bits held,
 * the byte just before `pos` first, until at least 56 bits are held or the bytes run out. The
 * TypeScript reader tops up a byte at a time to 24 bits; a value is read the same either way,
 * and runs out of bits exactly when the bits held and the bytes left are too few for it.
 */
#define REFILL(accum, nbits, pos, start, payload)                                \
  do {                                                                           \
    u32 k_ = (63 - (nbits)) >> 3;                                                \
    if (k_ > (pos) - (start)) k_ = (pos) - (start);                              \
    if (k_ > 0) {                                                                \
      const u64 w_ = load64((payload) + (pos) - 8);                              \
      (accum) = ((accum) << (8 * k_)) | (w_ >> (64 - 8 * k_));                   \
      (pos) -= k_;                                                               \
      (nbits) += 8 * k_;                                                         \
    }                                                                            \
  } while (0)

/*
 * The literal streams, four interleaved: streams 0-3 give literals 0-3, 4-7, ... A literal
 * reads at most 10 bits; a group of four too short for its bits fails (E28: the stream's bits
 * run out), as the TypeScript decoder does at the first of them that is short.
 */
EXPORT(lzfse_literals) int lzfse_literals(void) {
  const u8 *payload = payload_of();
  const u32 n = st[S_NLITERALS];
  u64 accum = ((u64)st[S_ACCUM_HI] << 32) | st[S_ACCUM_LO];
  u32 nbits = st[S_NBITS], pos = st[S_POS];
  u32 s0 = st[S_LIT_STATE0], s1 = st[S_LIT_STATE1], s2 = st[S_LIT_STATE2], s3 = st[S_LIT_STATE3];
  for (u32 i = 0; i < n; i += 4) {
    if (nbits < 40) REFILL(accum, nbits, pos, 0, payload);
    const u32 e0 = lit_code[s0 & (LITERAL_STATES - 1)], e1 = lit_code[s1 & (LITERAL_STATES - 1)],
              e2 = lit_code[s2 & (LITERAL_STATES - 1)], e3 = lit_code[s3 & (LITERAL_STATES - 1)];
    const u32 n0 = e0 & 0xff, n1 = e1 & 0xff, n2 = e2 & 0xff, n3 = e3 & 0xff;
    if (nbits < n0 + n1 + n2 + n3) return fail(E_LZFSE_LITERAL_BITS, 0, 0, 0);
    literals[i] = (u8)(e0 >> 8);
    literals[i + 1] = (u8)(e1 >> 8);
    literals[i + 2] = (u8)(e2 >> 8);
    literals[i + 3] = (u8)(e3 >> 8);
    nbits -= n0;
    s0 = (e0 >> 16) + (u32)((accum >> nbits) & ((1u << n0) - 1));
    nbits -= n1;
    s1 = (e1 >> 16) + (u32)((accum >> nbits) & ((1u << n1) - 1));
    nbits -= n2;
    s2 = (e2 >> 16) + (u32)((accum >> nbits) & ((1u << n2) - 1));
    nbits -= n3;
    s3 = (e3 >> 16) + (u32)((accum >> nbits) & ((1u << n3) - 1));
  }
  return 0;
}

/*
 * Copy n bytes from src to dst, 8 at a time (up to 7 more written and read); the ranges do
 * not overlap, or dst lies 8 or more bytes after src.
 */
static inline void copy8(u8 *dst, const u8 *src, u32 n) {
  if (n > 64 && (src + n <= dst || dst + n <= src)) {
    __builtin_memcpy(dst, src, n);
    return;
  }
  for (u32 i = 0; i < n; i += 8) store64(dst + i, load64(src + i));
}

/* A match of n bytes from d back, as a byte-by-byte copy gives it where the two overlap. */
static inline void copy_match(u8 *out, u32 p, u32 d, u32 n) {
  u8 *dst = out + p;
  const u8 *src = dst - d;
  if (d >= 8) {
    copy8(dst, src, n);
  } else if (d == 1) {
    __builtin_memset(dst, src[0], n);
  } else {
    for (u32 i = 0; i < n; i++) dst[i] = src[i];
  }
}

/* Write out as much of the pending command as fits before `stop`; the new position. */
static u32 drain(u8 *out, const u8 *input, u32 p, u32 stop) {
  u32 lit = st[S_LITERAL], match = st[S_MATCH];
  if (lit > 0) {
    const u32 n = lit < stop - p ? lit : stop - p;
    copy8(out + p, input + st[S_IP], n);
    st[S_IP] += n;
    lit -= n;
    p += n;
    st[S_LITERAL] = lit;
    if (lit > 0) return p;
  }
  if (match > 0) {
    const u32 n = match < stop - p ? match : stop - p;
    copy_match(out, p, st[S_DIST], n);
    st[S_MATCH] = match - n;
    p += n;
  }
  return p;
}

/*
 * Decode an LZFSE block's L, M, D triples into the output from `at`, check each (E28) and
 * write it out while it fits before `stop`; at the last one's end, check the block's size.
 * `base + i` is the number of bytes the chunk has decoded when out[i] is written. Returns the
 * new position, or ERR.
 */
EXPORT(lzfse_decode) i32 lzfse_decode(u32 at, u32 stop, u32 base) {
  u8 *out = lzfse_out();
  u32 p = at;
  if (st[S_LITERAL] > 0 || st[S_MATCH] > 0) {
    p = drain(out, literals, p, stop);
    if (st[S_LITERAL] > 0 || st[S_MATCH] > 0) return (i32)p;
  }
  if (st[S_DONE]) return (i32)p;
  const u8 *payload = payload_of();
  const u32 n_literals = st[S_NLITERALS], n_raw = st[S_NRAW], lmd_start = st[S_LMD_START];
  u64 accum = ((u64)st[S_ACCUM_HI] << 32) | st[S_ACCUM_LO];
  u32 nbits = st[S_NBITS], pos = st[S_POS];
  u32 ls = st[S_L_STATE], ms = st[S_M_STATE], ds = st[S_D_STATE];
  u32 ip = st[S_IP], produced = st[S_PRODUCED], matches = st[S_MATCHES];
  i32 d = (i32)st[S_DIST];
  int result = 0;
  while (matches > 0) {
    /* L, M and D read at most 14, 17 and 23 bits: one top-up serves the three. */
    if (nbits < 54) REFILL(accum, nbits, pos, lmd_start, payload);
    const u32 le = l_code[ls & (L_STATES - 1)], me = m_code[ms & (M_STATES - 1)],
              de = d_code[ds & (D_STATES - 1)];
    const u32 ln = le & 0xff, mn = me & 0xff, dn = de & 0xff;
    /* E28: the stream's bits run out inside the triple. */
    if (nbits < ln + mn + dn) {
      result = fail(E_LZFSE_LMD_BITS, 0, 0, 0);
      break;
    }
    nbits -= ln;
    u32 v = (u32)(accum >> nbits) & ((1u << ln) - 1);
    u32 extra = (le >> 8) & 0xff;
    const u32 l = l_base[ls & (L_STATES - 1)] + (v & ((1u << extra) - 1));
    ls = (le >> 16) + (v >> extra);
    nbits -= mn;
    v = (u32)(accum >> nbits) & ((1u << mn) - 1);
    extra = (me >> 8) & 0xff;
    const u32 m = m_base[ms & (M_STATES - 1)] + (v & ((1u << extra) - 1));
    ms = (me >> 16) + (v >> extra);
    nbits -= dn;
    v = (u32)(accum >> nbits) & ((1u << dn) - 1);
    extra = (de >> 8) & 0xff;
    /* D = 0: the previous distance. */
    const u32 dv = d_base[ds & (D_STATES - 1)] + (v & ((1u << extra) - 1));
    if (dv != 0) d = (i32)dv;
    ds = (de >> 16) + (v >> extra);
    matches--;
    /* E28: more literals than the block decoded. */
    if (ip + l > n_literals) {
      result = fail(E_LZFSE_LITERALS, 0, 0, 0);
      break;
    }
    /* E28: a match before the chunk's first byte, or a first D of "the previous distance";
     * checked even when M = 0, as the reference decoder does. */
    if (d < 0 || (u32)d > base + p + l) {
      result = fail(E_LZFSE_DISTANCE, (u32)d, base + p + l, 0);
      break;
    }
    /* E25: a block decoding past its declared size. */
    if ((u64)produced + l + m > n_raw) {
      result = fail(E_LZFSE_PAST_DECLARED, 0, 0, 0);
      break;
    }
    produced += l + m;
    if (p + l + m > stop) {
      /* Does not fit: leave it pending and write what fits. */
      st[S_LITERAL] = l;
      st[S_MATCH] = m;
      break;
    }
    copy8(out + p, literals + ip, l);
    ip += l;
    p += l;
    copy_match(out, p, (u32)d, m);
    p += m;
  }
  st[S_ACCUM_LO] = (u32)accum;
  st[S_ACCUM_HI] = (u32)(accum >> 32);
  st[S_NBITS] = nbits;
  st[S_POS] = pos;
  st[S_L_STATE] = ls;
  st[S_M_STATE] = ms;
  st[S_D_STATE] = ds;
  st[S_IP] = ip;
  st[S_DIST] = (u32)d;
  st[S_PRODUCED] = produced;
  st[S_MATCHES] = matches;
  if (result == ERR) return ERR;
  if (st[S_LITERAL] > 0 || st[S_MATCH] > 0) return (i32)drain(out, literals, p, stop);
  /* E25: a block ending short of its declared size. */
  if (produced != n_raw) return fail(E_LZFSE_SHORT, produced, 0, 0);
  st[S_DONE] = 1;
  return (i32)p;
}

/* LZVN opcode kinds, by first byte (see lzvn.ts). */
enum { UDEF, SML_D, MED_D, LRG_D, PRE_D, SML_M, LRG_M, SML_L, LRG_L, NOP, EOS };
static u8 kind[256];
static int kinds_made;

static void make_kinds(void) {
  for (u32 b = 0; b < 256; b++) {
    const u32 ll = b >> 6, mmm = (b >> 3) & 7;
    u32 k;
    if (b >= 0xf0) k = b == 0xf0 ? LRG_M : SML_M;
    else if (b >= 0xe0) k = b == 0xe0 ? LRG_L : SML_L;
    else if (b >= 0xa0 && b < 0xc0) k = MED_D;
    /* With LL = 1 or 3 the top M values are left for the other kinds. */
    else if ((ll == 1 && mmm > 5) || (ll == 3 && mmm > 1)) k = UDEF;
    else if ((b & 7) == 7) k = LRG_D;
    else if ((b & 7) != 6) k = SML_D;
    else if (ll > 0) k = PRE_D;
    else k = b == 0x06 ? EOS : (b == 0x0e || b == 0x16) ? NOP : UDEF;
    kind[b] = (u8)k;
  }
  kinds_made = 1;
}

/* Bytes the end-of-stream opcode takes (the opcode and 7 bytes of padding). */
#define EOS_SIZE 8

/*
 * Read an LZVN block's opcodes and write their output from `at` until `stop` or the
 * end-of-stream opcode; every opcode is checked (E28) before anything of it is written.
 * Returns the new position, or ERR.
 */
EXPORT(lzvn_decode) i32 lzvn_decode(u32 at, u32 stop, u32 base) {
  u8 *out = lzfse_out();
  const u8 *payload = payload_of();
  u32 p = at;
  if (st[S_LITERAL] > 0 || st[S_MATCH] > 0) {
    p = drain(out, payload, p, stop);
    if (st[S_LITERAL] > 0 || st[S_MATCH] > 0) return (i32)p;
  }
  if (st[S_DONE]) return (i32)p;
  if (!kinds_made) make_kinds();
  const u32 end = st[S_PAYLOAD_LEN], n_raw = st[S_NRAW];
  u32 ip = st[S_IP], d = st[S_DIST], produced = st[S_PRODUCED];
  for (;;) {
    /* E28: a block must end with its end-of-stream opcode inside its payload. */
    if (ip >= end) return fail(E_LZVN_NO_EOS, 0, 0, ip);
    const u32 op = payload[ip];
    u32 size = 1, l = 0, m = 0;
    /* E28: an opcode whose operand bytes run past the payload (E_LZVN_CUT) or that no encoder
     * writes (E_LZVN_UNDEFINED). */
    switch (kind[op]) {
      case SML_D:
        size = 2;
        if (ip + 2 > end) return fail(E_LZVN_CUT, 0, 0, ip);
        l = op >> 6;
        m = ((op >> 3) & 7) + 3;
        d = ((op & 7) << 8) | payload[ip + 1];
        break;
      case MED_D: {
        size = 3;
        if (ip + 3 > end) return fail(E_LZVN_CUT, 0, 0, ip);
        const u32 w = payload[ip + 1] | ((u32)payload[ip + 2] << 8);
        l = (op >> 3) & 3;
        m = (((op & 7) << 2) | (w & 3)) + 3;
        d = w >> 2;
        break;
      }
      case LRG_D:
        size = 3;
        if (ip + 3 > end) return fail(E_LZVN_CUT, 0, 0, ip);
        l = op >> 6;
        m = ((op >> 3) & 7) + 3;
        d = payload[ip + 1] | ((u32)payload[ip + 2] << 8);
        break;
      case PRE_D:
        l = op >> 6;
        m = ((op >> 3) & 7) + 3;
        break;
      case SML_M:
        m = op & 15;
        break;
      case LRG_M:
        size = 2;
        if (ip + 2 > end) return fail(E_LZVN_CUT, 0, 0, ip);
        m = payload[ip + 1] + 16u;
        break;
      case SML_L:
        l = op & 15;
        break;
      case LRG_L:
        size = 2;
        if (ip + 2 > end) return fail(E_LZVN_CUT, 0, 0, ip);
        l = payload[ip + 1] + 16u;
        break;
      case NOP:
        break;
      case EOS: {
        /* The end-of-stream opcode must end the payload exactly, padded with zeros (7-Zip
         * refuses other padding too), at the declared size. */
        st[S_IP] = ip;
        st[S_PRODUCED] = produced;
        if (end - ip < EOS_SIZE) return fail(E_LZVN_EOS_CUT, 0, 0, ip);
        if (end - ip > EOS_SIZE) return fail(E_LZVN_EOS_LEAVES, end - ip - EOS_SIZE, 0, ip);
        for (u32 k = ip + 1; k < end; k++) {
          if (payload[k] != 0) return fail(E_LZVN_EOS_PADDING, 0, 0, ip);
        }
        if (produced != n_raw) return fail(E_LZVN_SHORT, produced, 0, ip);
        st[S_IP] = end;
        st[S_DONE] = 1;
        return (i32)p;
      }
      default:
        return fail(E_LZVN_UNDEFINED, op, 0, ip);
    }
    /* E28: a literal run past the payload. */
    if (ip + size + l > end) return fail(E_LZVN_LITERALS_PAST, 0, 0, ip);
    /* E25: a block decoding past its declared size. */
    if ((u64)produced + l + m > n_raw) return fail(E_LZVN_PAST_DECLARED, 0, 0, ip);
    /* E28: a match before the start of the chunk's output, or with distance 0 (the reference
     * decoder copies uninitialised bytes for a match-only opcode before any distance). */
    if (m > 0 && (d == 0 || d > base + p + l)) {
      return fail(E_LZVN_DISTANCE, d, base + p + l, ip);
    }
    ip += size;
    produced += l + m;
    if (p + l + m > stop) {
      /* Does not fit: leave it pending and write what fits. */
      st[S_IP] = ip;
      st[S_LITERAL] = l;
      st[S_MATCH] = m;
      st[S_DIST] = d;
      st[S_PRODUCED] = produced;
      return (i32)drain(out, payload, p, stop);
    }
    if (l > 0) {
      copy8(out + p, payload + ip, l);
      ip += l;
      p += l;
    }
    if (m > 0) {
      copy_match(out, p, d, m);
      p += m;
    }
  }
}
