/**
 * UDBZ chunks: one bzip2 stream per chunk ("BZh" + block size digit, blocks, end marker and
 * combined CRC). A small decoder of our own: it works on typed arrays only (so it runs in a
 * browser), decodes one block at a time, and hands a block's output out in bounded pieces
 * straight from the inverse Burrows-Wheeler walk, so a run-length bomb never materializes.
 *
 * Working memory: the block array (4 bytes x 100k x level, at most 3.6 MB), a window of
 * compressed input, one output piece and small tables; all acquired before allocation.
 */
import type { DmgError } from "../errors.js";
import { UDBZ } from "../format/types.js";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  guardedNext,
} from "./codec.js";
import { ChunkInput, INPUT_PIECE } from "./input.js";

/** The decoder refills its input window whenever fewer than this many bytes are buffered. */
const LOW_WATER = 64 * 1024;
const WINDOW = INPUT_PIECE + LOW_WATER;
const OUT_PIECE = 64 * 1024;
/** Selectors (up to 2^15), code lengths and decoding tables, rounded up. */
const TABLES = 64 * 1024;
const MAX_GROUPS = 6;
const MAX_ALPHA = 258;
const MAX_CODE_LEN = 20;
const GROUP_SIZE = 50;
/** Codes up to this many bits decode with one table lookup; longer ones bit by bit. */
const FAST_BITS = 10;

/** bzip2's CRC-32: polynomial 0x04C11DB7, most significant bit first. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[n] = c;
  }
  return t;
})();

const EMPTY = new Uint8Array(0);

/** Per-block tables: selectors, code lengths, canonical Huffman tables, move-to-front. */
interface Tables {
  selectors: Uint8Array;
  lengths: Uint8Array;
  /** Symbols sorted by code length; `first`, `count`, `index` per group and length. */
  perm: Uint16Array;
  first: Int32Array;
  count: Int32Array;
  index: Int32Array;
  minLen: Uint8Array;
  maxLen: Uint8Array;
  /** Per group, indexed by the next FAST_BITS bits: symbol << 5 | code length, 0 if longer. */
  fast: Uint16Array;
  mtf: Uint8Array;
  byteCount: Uint32Array;
}

function newTables(): Tables {
  const perLength = MAX_GROUPS * (MAX_CODE_LEN + 2);
  return {
    selectors: new Uint8Array(32768),
    lengths: new Uint8Array(MAX_GROUPS * MAX_ALPHA),
    perm: new Uint16Array(MAX_GROUPS * MAX_ALPHA),
    first: new Int32Array(perLength),
    count: new Int32Array(perLength),
    index: new Int32Array(perLength),
    minLen: new Uint8Array(MAX_GROUPS),
    maxLen: new Uint8Array(MAX_GROUPS),
    fast: new Uint16Array(MAX_GROUPS << FAST_BITS),
    mtf: new Uint8Array(256),
    byteCount: new Uint32Array(256),
  };
}

class Bzip2Cursor implements ChunkCursor {
  position = 0;
  private readonly input: ChunkInput;
  held = 0;
  failure: DmgError | undefined;
  done = false;
  // Compressed input window and bit reader.
  private readonly win: Uint8Array;
  private pos = 0;
  private end = 0;
  private refillAt = -1;
  private acc = 0;
  private nbits = 0;
  // Stream and block state.
  private tt = new Uint32Array(0);
  private blockMax = 0;
  private streamCrc = 0;
  private inBlock = false;
  private blockCrc = 0;
  private readonly out: Uint8Array;
  // Output walk: tt index, steps left, previous byte, its repeat count, pending copies, CRC.
  private tpos = 0;
  private left = 0;
  private last = -1;
  private run = 0;
  private copies = 0;
  private crc = -1;
  private readonly t: Tables;
  /** Symbol-stage progress, kept across input refills. */
  private readonly st = {
    nSel: 0,
    eob: 0,
    nblock: 0,
    sel: 0,
    groupLeft: 0,
    g: 0,
    run: 0,
    weight: 1,
  };

  constructor(readonly ctx: DecodeContext) {
    ctx.memory.acquire(WINDOW + OUT_PIECE + TABLES, "bzip2 input window, output and tables");
    this.held = WINDOW + OUT_PIECE + TABLES;
    try {
      this.input = new ChunkInput(ctx);
    } catch (e) {
      this.close();
      throw e;
    }
    this.win = new Uint8Array(WINDOW);
    this.out = new Uint8Array(OUT_PIECE);
    this.t = newTables();
  }

  next(max: number): Promise<Uint8Array> {
    return guardedNext(this, "bzip2", max, async (n) => {
      if (this.blockMax === 0) await this.readStreamHeader();
      return this.step(n);
    });
  }

  private async step(max: number): Promise<Uint8Array> {
    const remaining = this.ctx.outputSize - this.position;
    // Past the declared size, one more byte is enough to prove an overrun (E26 bombs).
    const cap = remaining > 0 ? Math.min(max, OUT_PIECE, remaining) : 1;
    for (;;) {
      if (this.inBlock) {
        const n = this.emit(cap);
        if (n > 0) {
          if (remaining <= 0) this.fail("DECODE_OVERRUN", this.overrunMessage());
          this.position += n;
          return this.out.subarray(0, n);
        }
        this.endBlock();
      }
      if (this.pos > this.refillAt) await this.refill();
      const hi = this.bits(24);
      const lo = this.bits(24);
      if (hi === 0x177245 && lo === 0x385090) return this.endStream();
      if (hi !== 0x314159 || lo !== 0x265359)
        this.fail("DECODE_CORRUPT", "bad bzip2 block signature");
      // Every block decodes to at least one byte.
      if (remaining <= 0) this.fail("DECODE_OVERRUN", this.overrunMessage());
      await this.readBlock();
    }
  }

  /** "BZh" and the block size digit (E26: digits outside 1-9 are corrupt). */
  private async readStreamHeader(): Promise<void> {
    await this.refill();
    if (this.bits(24) !== 0x425a68) this.fail("DECODE_CORRUPT", "chunk does not start with BZh");
    const level = this.bits(8) - 0x30;
    if (level < 1 || level > 9) this.fail("DECODE_CORRUPT", "bzip2 block size digit is not 1-9");
    this.ctx.memory.acquire(400000 * level, "bzip2 block buffer");
    this.held += 400000 * level;
    this.blockMax = 100000 * level;
    this.tt = new Uint32Array(this.blockMax);
  }

  /** Decode one block's header and symbols into `tt`, then prepare the inverse BWT walk. */
  private async readBlock(): Promise<void> {
    const { mtf, selectors, lengths } = this.t;
    this.blockCrc = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
    if (this.bits(1))
      this.fail("DECODE_CORRUPT", "randomised bzip2 blocks (pre-0.9.5) are not supported");
    const origPtr = this.bits(24);
    const used = this.bits(16);
    let nUsed = 0;
    for (let i = 0; i < 16; i++) {
      if (!(used & (0x8000 >>> i))) continue;
      const m = this.bits(16);
      for (let j = 0; j < 16; j++) if (m & (0x8000 >>> j)) mtf[nUsed++] = i * 16 + j;
    }
    if (nUsed === 0) this.fail("DECODE_CORRUPT", "bzip2 block uses no byte values");
    const alpha = nUsed + 2;
    const nGroups = this.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) this.fail("DECODE_CORRUPT", "bad bzip2 table count");
    // E26: a selector count of 0 is corrupt; up to 2^15-1 are read (bzip2 writes <= 18002).
    const nSel = this.bits(15);
    if (nSel === 0) this.fail("DECODE_CORRUPT", "bzip2 block has no selectors");
    const order = [0, 1, 2, 3, 4, 5];
    for (let s = 0; s < nSel; s++) {
      let j = 0;
      while (this.bits(1)) if (++j >= nGroups) this.fail("DECODE_CORRUPT", "bad bzip2 selector");
      const g = order[j];
      order.copyWithin(1, 0, j);
      order[0] = g;
      selectors[s] = g;
    }
    for (let g = 0; g < nGroups; g++) {
      let len = this.bits(5);
      for (let s = 0; s < alpha; s++) {
        for (;;) {
          if (len < 1 || len > MAX_CODE_LEN) this.fail("DECODE_CORRUPT", "bad bzip2 code length");
          if (this.pos > this.refillAt) await this.refill();
          if (!this.bits(1)) break;
          len += this.bits(1) ? -1 : 1;
        }
        lengths[g * MAX_ALPHA + s] = len;
      }
      this.buildTable(g, alpha);
    }
    const st = this.st;
    st.nSel = nSel;
    st.eob = nUsed + 1;
    st.nblock = 0;
    st.sel = 0;
    st.groupLeft = 0;
    st.g = 0;
    st.run = 0;
    st.weight = 1;
    this.t.byteCount.fill(0);
    while (!this.symbols()) await this.refill();
    const { tt } = this;
    const { byteCount } = this.t;
    const nblock = st.nblock;
    if (origPtr >= nblock) this.fail("DECODE_CORRUPT", "bzip2 block origin pointer out of range");
    // Inverse BWT: link each entry to its successor in the upper 24 bits.
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = byteCount[b];
      byteCount[b] = sum;
      sum += c;
    }
    for (let i = 0; i < nblock; i++) tt[byteCount[tt[i] & 0xff]++] |= i << 8;
    this.tpos = tt[origPtr] >>> 8;
    this.left = nblock;
    this.last = -1;
    this.run = 0;
    this.copies = 0;
    this.crc = -1;
    this.inBlock = true;
  }

  /**
   * Symbols: Huffman codes, then run lengths (RUNA/RUNB), then move-to-front, into `tt`.
   * Returns true at the end-of-block symbol, false when the input window needs a refill.
   */
  private symbols(): boolean {
    const { tt, blockMax, win, st, end, refillAt } = this;
    const { byteCount, mtf, selectors, fast } = this.t;
    let { nblock, sel, groupLeft, g, run, weight } = st;
    let acc = this.acc;
    let nbits = this.nbits;
    let pos = this.pos;
    let done = false;
    const fail = (message: string): never => {
      this.pos = pos;
      return this.fail("DECODE_CORRUPT", message);
    };
    while (pos <= refillAt) {
      if (groupLeft === 0) {
        if (sel >= st.nSel) fail("bzip2 block runs out of selectors");
        g = selectors[sel++];
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      while (nbits <= 24 && pos < end) {
        acc = (acc << 8) | win[pos++];
        nbits += 8;
      }
      const peek = nbits >= FAST_BITS ? acc >>> (nbits - FAST_BITS) : acc << (FAST_BITS - nbits);
      const e = fast[(g << FAST_BITS) | (peek & ((1 << FAST_BITS) - 1))];
      let sym: number;
      if (e !== 0 && (e & 31) <= nbits) {
        nbits -= e & 31;
        sym = e >>> 5;
      } else {
        this.acc = acc;
        this.nbits = nbits;
        this.pos = pos;
        sym = this.slowSymbol(g);
        acc = this.acc;
        nbits = this.nbits;
        pos = this.pos;
      }
      if (sym <= 1) {
        run += weight << sym;
        weight <<= 1;
        if (run > blockMax) fail("bzip2 run longer than its block");
        continue;
      }
      if (run > 0) {
        if (nblock + run > blockMax) fail("bzip2 block overflows its size");
        byteCount[mtf[0]] += run;
        tt.fill(mtf[0], nblock, nblock + run);
        nblock += run;
        run = 0;
        weight = 1;
      }
      if (sym === st.eob) {
        done = true;
        break;
      }
      if (nblock >= blockMax) fail("bzip2 block overflows its size");
      const b = mtf[sym - 1];
      if (sym < 16) for (let k = sym - 1; k > 0; k--) mtf[k] = mtf[k - 1];
      else mtf.copyWithin(1, 0, sym - 1);
      mtf[0] = b;
      byteCount[b]++;
      tt[nblock++] = b;
    }
    Object.assign(st, { nblock, sel, groupLeft, g, run, weight });
    this.acc = acc;
    this.nbits = nbits;
    this.pos = pos;
    return done;
  }

  /** Canonical Huffman tables of group `g` from its code lengths. */
  private buildTable(g: number, alpha: number): void {
    const L0 = g * (MAX_CODE_LEN + 2);
    const { lengths, count, first, index, perm, minLen, maxLen } = this.t;
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
      if (code > 2 ** len) this.fail("DECODE_CORRUPT", "bzip2 Huffman table is oversubscribed");
      code <<= 1;
    }
    const next = index.slice(L0, L0 + MAX_CODE_LEN + 2);
    const fast = this.t.fast.subarray(g << FAST_BITS, (g + 1) << FAST_BITS);
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
  private slowSymbol(g: number): number {
    const { first, count, index, perm, minLen, maxLen } = this.t;
    const L0 = g * (MAX_CODE_LEN + 2);
    let len = minLen[g];
    let code = this.bits(len);
    for (;;) {
      const d = code - first[L0 + len];
      if (d >= 0 && d < count[L0 + len]) return perm[g * MAX_ALPHA + index[L0 + len] + d];
      if (++len > maxLen[g]) this.fail("DECODE_CORRUPT", "invalid bzip2 Huffman code");
      code = (code << 1) | this.bits(1);
    }
  }

  /** Walk the block and undo the initial run-length step, up to `cap` bytes into `out`. */
  private emit(cap: number): number {
    const { tt, out } = this;
    let { tpos, left, last, run, copies, crc } = this;
    let n = 0;
    while (n < cap) {
      if (copies > 0) {
        copies--;
        out[n++] = last;
        crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ last) & 0xff];
        continue;
      }
      if (left === 0) break;
      const e = tt[tpos];
      tpos = e >>> 8;
      left--;
      const b = e & 0xff;
      if (run === 4) {
        // After four equal bytes comes a count of further copies (0-255).
        copies = b;
        run = 0;
        continue;
      }
      if (b === last) run++;
      else {
        last = b;
        run = 1;
      }
      out[n++] = b;
      crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff];
    }
    this.tpos = tpos;
    this.left = left;
    this.last = last;
    this.run = run;
    this.copies = copies;
    this.crc = crc;
    return n;
  }

  /** E26: the block CRC covers the block's decoded bytes. */
  private endBlock(): void {
    const got = ~this.crc >>> 0;
    if (got !== this.blockCrc) this.fail("DECODE_CORRUPT", "bzip2 block CRC mismatch");
    this.streamCrc = (((this.streamCrc << 1) | (this.streamCrc >>> 31)) ^ got) >>> 0;
    this.inBlock = false;
  }

  /** After the end marker: the combined CRC, the declared size, and no trailing input. */
  private endStream(): Uint8Array {
    const stored = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
    if (stored !== this.streamCrc) this.fail("DECODE_CORRUPT", "bzip2 stream CRC mismatch");
    const { outputSize } = this.ctx;
    if (this.position !== outputSize) {
      this.fail(
        "DECODE_SHORT",
        `bzip2 stream ends after ${this.position} of the declared ${outputSize} bytes`,
      );
    }
    // E26: hdiutil writes one stream per chunk; a second stream or garbage is trailing data.
    const left = this.end - this.pos + this.input.left;
    if (left > 0) this.fail("DECODE_TRAILING", `${left} bytes follow the end of the bzip2 stream`);
    this.done = true;
    this.close();
    return EMPTY;
  }

  private overrunMessage(): string {
    return `bzip2 stream decodes past the declared ${this.ctx.outputSize} bytes`;
  }

  /** Read `n` (1-24) bits, most significant first. */
  private bits(n: number): number {
    while (this.nbits < n) {
      if (this.pos >= this.end) {
        if (this.input.left === 0) this.fail("DECODE_SHORT", "bzip2 data is truncated");
        this.fail("DECODE_CORRUPT", "bzip2 block header is longer than any encoder writes");
      }
      this.acc = (this.acc << 8) | this.win[this.pos++];
      this.nbits += 8;
    }
    this.nbits -= n;
    return (this.acc >>> this.nbits) & ((1 << n) - 1);
  }

  /** Move the unread bytes to the front of the window and fill the rest from the chunk. */
  private async refill(): Promise<void> {
    const { win } = this;
    win.copyWithin(0, this.pos, this.end);
    this.end -= this.pos;
    this.pos = 0;
    while (this.end < win.length && this.input.left > 0) {
      const piece = await this.input.next(win.length - this.end);
      if (piece === null) break;
      win.set(piece, this.end);
      this.end += piece.length;
    }
    this.refillAt = this.input.left > 0 ? this.end - LOW_WATER : Number.POSITIVE_INFINITY;
  }

  private fail(
    code: "DECODE_CORRUPT" | "DECODE_SHORT" | "DECODE_OVERRUN" | "DECODE_TRAILING",
    message: string,
  ): never {
    decodeError(this.ctx, code, message, this.input.fileOffset - (this.end - this.pos));
  }

  close(): void {
    if (this.held === 0) return;
    this.input?.close();
    this.ctx.memory.release(this.held);
    this.held = 0;
    this.tt = new Uint32Array(0);
  }
}

/** The UDBZ codec: bzip2. */
export const bzip2Codec: Codec = {
  type: UDBZ,
  name: "bzip2",
  open(ctx: DecodeContext): ChunkCursor {
    return new Bzip2Cursor(ctx);
  },
};
