/*
 * The hot stages of a bzip2 block, compiled to WebAssembly: Huffman symbol decoding with the
 * run lengths (RUNA/RUNB) and move-to-front list (bzip2-symbols.ts, bzip2-huffman.ts), then
 * the inverse Burrows-Wheeler transform, the initial run-length step undone in bounded pieces
 * and the block CRC (bzip2-bwt.ts). The same checks and stopping rules as the TypeScript
 * stages, which stay as the fallback where WebAssembly is refused and as the oracle the tests
 * compare this one with. The block header (byte map, selectors, code lengths) is read by the
 * host, as for the TypeScript stages, into the areas exported here. Freestanding: no libc, no
 * allocator, nothing imported.
 *
 * Linear memory holds, in order: this file's statics (the state block, selectors, code tables,
 * move-to-front list, a slice of compressed input, one output piece), then the block array
 * from `__heap_base` and the pages of the text the walk unscrambles after it, which the host
 * makes room for (bz_block_bytes: about 100k x 5 bytes per block size step) by growing the
 * memory before it calls bz_start. Every index is kept inside its area by the same
 * arithmetic as the TypeScript decoder; a fault here could only ever touch this instance's own
 * memory.
 *
 * Build: scripts/build-wasm.mjs (clang --target=wasm32, reproducible), embedded as base64 in
 * bzip2-wasm-bytes.ts; a test rebuilds it and compares.
 */

#include "../../wasm/freestanding.h"

#define MAX_GROUPS 6
#define MAX_ALPHA 258
#define MAX_CODE_LEN 20
/* Codes up to this many bits decode with one table lookup (as bzip2-huffman.ts). */
#define FAST_BITS 11
#define FAST_MASK ((1u << FAST_BITS) - 1)
/* Lengths per group in the slow-path arrays (index 0 unused, one spare). */
#define LENS (MAX_CODE_LEN + 2)
/* Symbols per selector. */
#define GROUP_SIZE 50
/* Selectors a block header can state (a 15-bit count). */
#define MAX_SELECTORS 32768
/* The move-to-front list's first bytes, kept in two 64-bit words. */
#define FRONT 16
/* The block array's entries for block size digit 9. */
#define BLOCK_MAX 900000
/* Compressed bytes the host copies in per call, and the bytes of one output piece. */
#define INPUT_BYTES 65536
#define OUT_BYTES 65536

/* Results of bz_decode: stopped for more input, end of block, or why the block is corrupt
 * (the order of FAILURES in bzip2-symbols.ts, plus one). */
#define MORE_INPUT 0
#define END_OF_BLOCK 1
#define ERR_SELECTORS 2
#define ERR_CODE 3
#define ERR_RUN 4
#define ERR_OVERFLOW 5

/*
 * The state the host reads and writes between calls, as one block of 32-bit words (the host
 * keeps an Int32Array over it): the bit reader over the input slice (position, end of the
 * compressed input and where to stop for more, relative to the slice's start; the unconsumed
 * bits), the symbol stage's progress, and the walk's.
 */
enum { S_POS, S_END, S_STOP, S_ACC, S_NBITS, S_NBLOCK, S_SEL, S_GROUP_LEFT, S_G, S_RUN,
       S_WEIGHT, S_NSEL, S_EOB, S_BLOCK_MAX, S_TPOS, S_LEFT, S_LAST, S_WRUN, S_COPIES, S_CRC,
       S_SEGS, S_SEG, S_WORDS };

static i32 st[S_WORDS];
static u8 selectors[MAX_SELECTORS];
/* Code length of each symbol, per group; the host writes them from the block header. */
static u8 lengths[MAX_GROUPS * MAX_ALPHA];
/* Per group, by the next FAST_BITS bits: symbol << 5 | code length, or 0 for a longer code
 * (or, in an incomplete table, no code at all). */
static u16 fast[MAX_GROUPS << FAST_BITS];
/* Symbols sorted by code length; per group and length the first code, count and index. */
static u16 perm[MAX_GROUPS * MAX_ALPHA];
static i32 first[MAX_GROUPS * LENS];
static i32 count[MAX_GROUPS * LENS];
static i32 index_[MAX_GROUPS * LENS];
static u32 max_len[MAX_GROUPS];
/* Entries per byte value in the block; the link step turns them into starts. */
static u32 byte_count[256];
/* The used byte values in order (the host writes them), then the move-to-front list's tail. */
static u8 used[256];
static u64 front[2];
static u8 rest[256 - FRONT];
static u32 crc_table[8 * 256];
/* Slack past the slice: a symbol may read up to two bytes past the stop position. */
static u8 input[INPUT_BYTES + 16];
static u8 out[OUT_BYTES];
extern u8 __heap_base;

EXPORT(bz_block_bytes) u32 bz_block_bytes(u32 block_max);

static u32 *block_array(void) { return (u32 *)(((u32)&__heap_base + 15) & ~15u); }

EXPORT(bz_state) i32 *bz_state(void) { return st; }
EXPORT(bz_selectors) u8 *bz_selectors(void) { return selectors; }
EXPORT(bz_lengths) u8 *bz_lengths(void) { return lengths; }
EXPORT(bz_used) u8 *bz_used(void) { return used; }
EXPORT(bz_input) u8 *bz_input(void) { return input; }
EXPORT(bz_input_bytes) u32 bz_input_bytes(void) { return INPUT_BYTES; }
EXPORT(bz_out) u8 *bz_out(void) { return out; }
EXPORT(bz_out_bytes) u32 bz_out_bytes(void) { return OUT_BYTES; }
EXPORT(bz_block) u32 *bz_block(void) { return block_array(); }

/* bzip2's CRC-32 (polynomial 0x04C11DB7, most significant bit first), slice-by-8 tables:
 * table k is the CRC of a byte followed by k zero bytes. */
static void crc_init(void) {
  for (u32 n = 0; n < 256; n++) {
    u32 c = n << 24;
    for (u32 k = 0; k < 8; k++) c = c & 0x80000000u ? (c << 1) ^ 0x04c11db7u : c << 1;
    crc_table[n] = c;
  }
  for (u32 i = 256; i < 8 * 256; i++) {
    crc_table[i] = (crc_table[i - 256] << 8) ^ crc_table[crc_table[i - 256] >> 24];
  }
}

/* Continue (inverted) CRC `crc` over b[0, n). */
static u32 crc_update(u32 crc, const u8 *b, u32 n) {
  u32 i = 0;
  for (; i + 8 <= n; i += 8) {
    const u32 c = crc ^ (((u32)b[i] << 24) | ((u32)b[i + 1] << 16) | ((u32)b[i + 2] << 8) | b[i + 3]);
    crc = crc_table[0x700 | (c >> 24)] ^ crc_table[0x600 | ((c >> 16) & 0xff)] ^
          crc_table[0x500 | ((c >> 8) & 0xff)] ^ crc_table[0x400 | (c & 0xff)] ^
          crc_table[0x300 | b[i + 4]] ^ crc_table[0x200 | b[i + 5]] ^
          crc_table[0x100 | b[i + 6]] ^ crc_table[b[i + 7]];
  }
  for (; i < n; i++) crc = (crc << 8) ^ crc_table[(crc >> 24) ^ b[i]];
  return crc;
}

/*
 * Canonical code tables of group `g` from its `alpha` code lengths, each already checked by
 * the host to be 1-20. Returns 0 for an oversubscribed table (more codes than a length allows),
 * which no encoder writes (E26).
 */
EXPORT(bz_build) int bz_build(u32 g, u32 alpha) {
  if (g >= MAX_GROUPS || alpha > MAX_ALPHA) return 0;
  const u32 L0 = g * LENS, S0 = g * MAX_ALPHA;
  i32 next[LENS];
  for (u32 len = 0; len < LENS; len++) count[L0 + len] = 0;
  u32 hi = 1;
  for (u32 s = 0; s < alpha; s++) {
    u32 len = lengths[S0 + s];
    /* The host checks 1-20; out of range here would index past this group's counts. */
    if (len < 1 || len > MAX_CODE_LEN) return 0;
    count[L0 + len]++;
    if (len > hi) hi = len;
  }
  i32 code = 0, idx = 0;
  for (u32 len = 1; len <= MAX_CODE_LEN; len++) {
    first[L0 + len] = code;
    index_[L0 + len] = idx;
    next[len] = idx;
    code += count[L0 + len];
    idx += count[L0 + len];
    if (code > (1 << len)) return 0;
    code <<= 1;
  }
  u16 *table = fast + (g << FAST_BITS);
  for (u32 i = 0; i < (1u << FAST_BITS); i++) table[i] = 0;
  for (u32 s = 0; s < alpha; s++) {
    const u32 len = lengths[S0 + s];
    const i32 k = next[len]++;
    perm[S0 + k] = (u16)s;
    if (len <= FAST_BITS) {
      const u32 c = (u32)(first[L0 + len] + k - index_[L0 + len]);
      const u32 shift = FAST_BITS - len;
      const u16 e = (u16)((s << 5) | len);
      for (u32 i = c << shift; i < (c + 1) << shift; i++) table[i] = e;
    }
  }
  max_len[g] = hi;
  return 1;
}

/* A code longer than FAST_BITS in group `g`, from the last `nbits` (>= 20, or all that is
 * left) bits of `acc`: symbol << 5 | code length, or 0 when no code matches. */
static u32 slow(u32 g, u32 acc, u32 nbits) {
  const u32 L0 = g * LENS;
  const u32 top = max_len[g] < nbits ? max_len[g] : nbits;
  for (u32 len = FAST_BITS + 1; len <= top; len++) {
    const i32 d = (i32)((acc >> (nbits - len)) & ((1u << len) - 1)) - first[L0 + len];
    if (d >= 0 && d < count[L0 + len]) return ((u32)perm[g * MAX_ALPHA + index_[L0 + len] + d] << 5) | len;
  }
  return 0;
}

/*
 * Start a block whose `n_used` used byte values (in order) the host wrote to bz_used, with
 * `n_sel` selectors and room for `block_max` entries. Returns 0 when the memory holds no block
 * array of that size (the host grows it first).
 */
EXPORT(bz_start) int bz_start(u32 n_used, u32 n_sel, u32 block_max) {
  const u32 room = __builtin_wasm_memory_size(0) * 65536u - (u32)block_array();
  if (n_used < 1 || n_used > 256 || n_sel > MAX_SELECTORS || block_max > BLOCK_MAX ||
      bz_block_bytes(block_max) > room) {
    return 0;
  }
  if (crc_table[1] == 0) crc_init();
  u64 w[2] = {0, 0};
  for (u32 i = 0; i < 256 - FRONT; i++) rest[i] = 0;
  for (u32 i = 0; i < n_used; i++) {
    if (i < FRONT) w[i >> 3] |= (u64)used[i] << ((i & 7) << 3);
    else rest[i - FRONT] = used[i];
  }
  front[0] = w[0];
  front[1] = w[1];
  for (u32 b = 0; b < 256; b++) byte_count[b] = 0;
  st[S_NSEL] = (i32)n_sel;
  st[S_EOB] = (i32)n_used + 1;
  st[S_BLOCK_MAX] = (i32)block_max;
  st[S_NBLOCK] = 0;
  st[S_SEL] = 0;
  st[S_GROUP_LEFT] = 0;
  st[S_G] = 0;
  st[S_RUN] = 0;
  st[S_WEIGHT] = 1;
  st[S_LEFT] = 0;
  st[S_COPIES] = 0;
  return 1;
}

/*
 * Decode symbols into the block array (one byte per entry) and count each byte value, reading
 * input[S_POS..]: refilling the bit buffer two bytes at a time while the position is at most
 * S_STOP, and for a long code one more byte while it is below S_END. Returns END_OF_BLOCK,
 * MORE_INPUT when it stopped for input, or the failure.
 */
EXPORT(bz_decode) int bz_decode(void) {
  u32 *tt = block_array();
  const i32 end = st[S_END], n_sel = st[S_NSEL];
  const u32 eob = (u32)st[S_EOB], block_max = (u32)st[S_BLOCK_MAX];
  /* A slice holds INPUT_BYTES; the host never asks to stop past its end. */
  const i32 stop = st[S_STOP] < INPUT_BYTES ? st[S_STOP] : INPUT_BYTES;
  i32 pos = st[S_POS], sel = st[S_SEL], group_left = st[S_GROUP_LEFT];
  u32 nblock = (u32)st[S_NBLOCK], g = (u32)st[S_G], run = (u32)st[S_RUN];
  u32 weight = (u32)st[S_WEIGHT];
  u32 acc = (u32)st[S_ACC], nbits = (u32)st[S_NBITS];
  u64 w0 = front[0], w1 = front[1];
  const u16 *table = fast + (g << FAST_BITS);
  int result = MORE_INPUT;
  for (;;) {
    if (nbits < 16) {
      if (pos > stop) break;
      acc = (acc << 16) | ((u32)input[pos] << 8) | input[pos + 1];
      pos += 2;
      nbits += 16;
    }
    if (group_left == 0) {
      /* E26: a block with more groups of 50 than selectors. */
      if (sel >= n_sel) {
        result = ERR_SELECTORS;
        break;
      }
      g = selectors[sel++];
      /* The host's selectors name tables below its table count (at most 6). */
      if (g >= MAX_GROUPS) g = 0;
      table = fast + (g << FAST_BITS);
      group_left = GROUP_SIZE;
    }
    u32 e = table[(acc >> (nbits - FAST_BITS)) & FAST_MASK];
    if (e == 0) {
      if (nbits < 20) {
        if (pos >= end) break;
        acc = (acc << 8) | input[pos++];
        nbits += 8;
      }
      e = slow(g, acc, nbits);
      /* E26: a bit pattern that is no code of an incomplete table. */
      if (e == 0) {
        result = ERR_CODE;
        break;
      }
    }
    group_left--;
    nbits -= e & 31;
    const u32 sym = e >> 5;
    if (sym <= 1) {
      /* RUNA / RUNB: the digits (1 and 2, weighted 1, 2, 4...) of a run of the front byte. */
      run += weight << sym;
      weight <<= 1;
      /* E26: a run that could not fit in any block (this also keeps `weight` small). */
      if (run > block_max) {
        result = ERR_RUN;
        break;
      }
      continue;
    }
    if (run > 0) {
      /* E26: more symbols than the header's block size allows. */
      if (nblock + run > block_max) {
        result = ERR_OVERFLOW;
        break;
      }
      const u32 b = (u32)(w0 & 0xff);
      byte_count[b] += run;
      for (u32 k = 0; k < run; k++) tt[nblock + k] = b;
      nblock += run;
      run = 0;
      weight = 1;
    }
    if (sym == eob) {
      result = END_OF_BLOCK;
      break;
    }
    if (nblock >= block_max) {
      result = ERR_OVERFLOW;
      break;
    }
    /* Symbols past the end-of-block one are no codes a table of this block has. */
    const u32 nn = (sym - 1) & 0xff;
    u32 b;
    if (nn < 8) {
      /* Shift the bytes before index nn up one place within the first word. */
      const u32 sh = nn << 3;
      b = (u32)(w0 >> sh) & 0xff;
      const u64 m = nn == 7 ? ~0ull : (1ull << (sh + 8)) - 1;
      w0 = (w0 & ~m) | (((w0 << 8) | b) & m);
    } else if (nn < FRONT) {
      const u32 sh = (nn - 8) << 3;
      b = (u32)(w1 >> sh) & 0xff;
      const u64 m = nn == 15 ? ~0ull : (1ull << (sh + 8)) - 1;
      w1 = (w1 & ~m) | (((w1 << 8) | (w0 >> 56)) & m);
      w0 = (w0 << 8) | b;
    } else {
      const u32 k = nn - FRONT;
      b = rest[k];
      __builtin_memmove(rest + 1, rest, k);
      rest[0] = (u8)(w1 >> 56);
      w1 = (w1 << 8) | (w0 >> 56);
      w0 = (w0 << 8) | b;
    }
    byte_count[b]++;
    tt[nblock++] = b;
  }
  st[S_POS] = pos;
  st[S_SEL] = sel;
  st[S_GROUP_LEFT] = group_left;
  st[S_NBLOCK] = (i32)nblock;
  st[S_G] = (i32)g;
  st[S_RUN] = (i32)run;
  st[S_WEIGHT] = (i32)weight;
  st[S_ACC] = (i32)acc;
  st[S_NBITS] = (i32)nbits;
  front[0] = w0;
  front[1] = w1;
  return result;
}

/* The walk's chains: independent walks of the block array, whose loads overlap in time. */
#define CHAINS 16
/* Blocks below this many entries are walked as one chain (the array fits a near cache). */
#define CHAINS_FROM 65536
/* Bit 31 of an entry marks a chain's start; the next entry's index is 20 bits (< 900000). */
#define MARK 0x80000000u
#define NEXT(e) (((e) >> 8) & 0xfffffu)
/* The chains write the text in pages of this many bytes, each chain's pages linked in order. */
#define PAGE 4096
#define PAGES (BLOCK_MAX / PAGE + CHAINS + 2)

/* Per page, the next page of the same chain; the segments of the text in order (page and
 * length): what bz_emit reads. */
static u16 page_next[PAGES];
static u16 seg_page[PAGES];
static u32 seg_len[PAGES];

/* The text the walk unscrambles, the block's bytes in order: pages after the block array. */
static u8 *pages(void) { return (u8 *)(block_array() + st[S_BLOCK_MAX]); }

/* Bytes the block array and the text's pages take for blocks of `block_max` entries. */
EXPORT(bz_block_bytes) u32 bz_block_bytes(u32 block_max) {
  return block_max * 4 + (block_max / PAGE + CHAINS + 1) * PAGE;
}

/*
 * Unscramble the linked block array's `nblock` entries, from entry `first_row`, into the text:
 * the bytes of first_row, its next entry, that one's next, and so on. A single walk waits on
 * memory at every step (the array is up to 3.6 MB), so the cycle is cut at up to CHAINS marked
 * rows into chains walked side by side, each writing its bytes into pages of its own; then the
 * chains are put in text order (each ends where another starts) as a list of segments.
 * A corrupt block's links may form several cycles: the text is then the cycle of first_row,
 * which bz_emit repeats, as a single walk would. Returns the cycle's length.
 */
static u32 unscramble(u32 *tt, u32 nblock, u32 first_row) {
  u8 *const base = pages();
  u32 start[CHAINS], cur[CHAINS], len[CHAINS], then[CHAINS], id[CHAINS];
  u32 first_page[CHAINS], page[CHAINS];
  u8 *p[CHAINS];
  u8 *end[CHAINS];
  u32 k = 0, used_pages = 0;
  start[k++] = first_row;
  if (nblock >= CHAINS_FROM) {
    for (u32 j = 1; j < CHAINS; j++) {
      const u32 r = (u32)(((u64)nblock * j) / CHAINS);
      if (r != first_row) start[k++] = r;
    }
  }
  for (u32 j = 0; j < k; j++) tt[start[j]] |= MARK;
  for (u32 j = 0; j < k; j++) {
    const u32 e = tt[start[j]];
    id[j] = j;
    page[j] = first_page[j] = used_pages++;
    page_next[page[j]] = 0;
    p[j] = base + page[j] * PAGE;
    end[j] = p[j] + PAGE;
    *p[j]++ = (u8)e;
    cur[j] = NEXT(e);
    len[j] = 0;
  }
  u32 live = k;
  while (live > 0) {
    for (u32 j = 0; j < live; j++) {
      const u32 e = tt[cur[j]];
      if (e & MARK) {
        /* The chain reached the next one's start: done. */
        then[id[j]] = cur[j];
        len[id[j]] += (u32)(p[j] - (end[j] - PAGE));
        live--;
        cur[j] = cur[live];
        p[j] = p[live];
        end[j] = end[live];
        id[j] = id[live];
        j--;
        continue;
      }
      *p[j]++ = (u8)e;
      cur[j] = NEXT(e);
      if (p[j] == end[j]) {
        /* Every chain's bytes are entries of the block: the pages never run out. */
        const u32 q = used_pages++;
        page_next[page[id[j]]] = (u16)q;
        page[id[j]] = q;
        page_next[q] = 0;
        p[j] = base + q * PAGE;
        end[j] = p[j] + PAGE;
        len[id[j]] += PAGE;
      }
    }
  }
  /* The chains in text order, from first_row's, until the cycle comes back to it. */
  u32 segs = 0, total = 0, j = 0, chains = 0;
  for (;;) {
    u32 q = first_page[j];
    for (u32 left = len[j]; left > 0;) {
      const u32 n = left < PAGE ? left : PAGE;
      seg_page[segs] = (u16)q;
      seg_len[segs++] = n;
      total += n;
      left -= n;
      q = page_next[q];
    }
    chains++;
    u32 next = 0;
    while (start[next] != then[j]) next++;
    if (next == 0 || chains == k) break;
    j = next;
  }
  st[S_SEGS] = (i32)segs;
  return total;
}
/*
 * Link the block array's entries (bytes in the low 8 bits, counted per value) into the inverse
 * transform's chain, each entry's upper 24 bits naming the next, unscramble the text and start
 * the walk over it. Returns 0 for an origin pointer past the block (E26; the host checks it
 * first).
 */
EXPORT(bz_link) int bz_link(u32 orig_ptr) {
  u32 *tt = block_array();
  const u32 nblock = (u32)st[S_NBLOCK];
  if (orig_ptr >= nblock) return 0;
  u32 sum = 0;
  for (u32 b = 0; b < 256; b++) {
    const u32 c = byte_count[b];
    byte_count[b] = sum;
    sum += c;
  }
  for (u32 i = 0; i < nblock; i++) tt[byte_count[tt[i] & 0xff]++] |= i << 8;
  unscramble(tt, nblock, tt[orig_ptr] >> 8);
  st[S_SEG] = 0;
  st[S_TPOS] = 0;
  st[S_LEFT] = (i32)nblock;
  st[S_LAST] = 0x100;
  st[S_WRUN] = 0;
  st[S_COPIES] = 0;
  st[S_CRC] = -1;
  return 1;
}

/*
 * Hand out up to `cap` (1 to OUT_BYTES) decoded bytes into the output piece: as many as the
 * block has left, undoing the initial run-length step (four equal bytes, then a count of
 * further copies), so a run-length bomb never materializes. Returns how many.
 */
EXPORT(bz_emit) u32 bz_emit(u32 cap) {
  u8 *const base = pages();
  if (cap > OUT_BYTES) cap = OUT_BYTES;
  const u32 segs = (u32)st[S_SEGS];
  u32 seg = (u32)st[S_SEG], tpos = (u32)st[S_TPOS], left = (u32)st[S_LEFT];
  u32 last = (u32)st[S_LAST], run = (u32)st[S_WRUN], copies = (u32)st[S_COPIES];
  u32 n = 0;
  /* The text's bytes are read from one segment at a time: t[tpos, seg_end). */
  const u8 *t = base + seg_page[seg] * PAGE;
  u32 seg_end = seg_len[seg];
  for (;;) {
    if (copies > 0) {
      const u32 k = copies < cap - n ? copies : cap - n;
      __builtin_memset(out + n, (int)last, k);
      n += k;
      copies -= k;
    }
    if (n >= cap || left == 0) break;
    for (;;) {
      if (tpos == seg_end) {
        /* The next segment; past the last, the cycle again (a corrupt block's). */
        if (++seg == segs) seg = 0;
        t = base + seg_page[seg] * PAGE;
        seg_end = seg_len[seg];
        tpos = 0;
      }
      const u32 b = t[tpos++];
      left--;
      out[n++] = (u8)b;
      if (b != last) {
        last = b;
        run = 1;
      } else if (++run == 4) {
        /* After four equal bytes comes a count of further copies (0-255). */
        run = 0;
        if (left > 0) {
          if (tpos == seg_end) {
            if (++seg == segs) seg = 0;
            t = base + seg_page[seg] * PAGE;
            seg_end = seg_len[seg];
            tpos = 0;
          }
          copies = t[tpos++];
          left--;
        }
        break;
      }
      if (n >= cap || left == 0) break;
    }
  }
  st[S_SEG] = (i32)seg;
  st[S_TPOS] = (i32)tpos;
  st[S_LEFT] = (i32)left;
  st[S_LAST] = (i32)last;
  st[S_WRUN] = (i32)run;
  st[S_COPIES] = (i32)copies;
  st[S_CRC] = (i32)crc_update((u32)st[S_CRC], out, n);
  return n;
}
