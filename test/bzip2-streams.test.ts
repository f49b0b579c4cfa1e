/**
 * The bzip2 decoder on streams made here, by a small encoder (naive BWT sort, so small inputs)
 * whose Huffman code lengths, selectors and symbols each test chooses: code lengths from 1 to
 * 20 bits (the decoder's one-lookup table and its slow path beyond FAST_BITS), several tables
 * switched every 50 symbols, and each hostile-block check of ATTACKS.md E26 that the reference
 * encoder never trips: selectors running out or naming a missing table, code lengths outside
 * 1-20, oversubscribed and incomplete tables, runs and symbols past the block size, an origin
 * pointer past the block, and truncation anywhere. Every stream is decoded by both engines
 * (TypeScript and WebAssembly), which must agree byte for byte and error for error.
 */
import { describe, expect, it } from "vitest";
import { bzip2Codec } from "../src/codecs/bzip2/bzip2.js";
import { bzip2WasmReady } from "../src/codecs/bzip2/wasm/bzip2-wasm.js";
import { DmgError } from "../src/core/errors.js";
import { MemoryMeter } from "../src/core/limits.js";
import { bytesSource } from "../src/sources/source.js";
import { withBothEngines } from "./helpers/engines.js";

/** bzip2's CRC-32, most significant bit first. */
function crc32(data: Uint8Array): number {
  let crc = -1;
  for (const b of data) {
    crc ^= b << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return ~crc >>> 0;
}

class BitWriter {
  private readonly out: number[] = [];
  private acc = 0;
  private n = 0;
  /** Append the low `count` (<= 24) bits of `v`, most significant first. */
  put(count: number, v: number): void {
    for (let i = count - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | ((v >>> i) & 1);
      if (++this.n === 8) {
        this.out.push(this.acc);
        this.acc = 0;
        this.n = 0;
      }
    }
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.n ? [...this.out, this.acc << (8 - this.n)] : this.out);
  }
}

/** The initial run-length step: runs of 4-255 become four bytes and a count. */
function rle1(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < data.length; ) {
    let n = 1;
    while (n < 255 && i + n < data.length && data[i + n] === data[i]) n++;
    for (let k = 0; k < Math.min(n, 4); k++) out.push(data[i]);
    if (n >= 4) out.push(n - 4);
    i += n;
  }
  return Uint8Array.from(out);
}

/** Symbols of a block (RUNA 0, RUNB 1, move-to-front index + 1, end of block) and its map. */
function symbolsOf(block: Uint8Array) {
  const n = block.length;
  const rot = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    for (let k = 0; k < n; k++) {
      const d = block[(a + k) % n] - block[(b + k) % n];
      if (d) return d;
    }
    return 0;
  });
  const used = [...new Set(block)].sort((a, b) => a - b);
  const mtf = [...used];
  const syms: number[] = [];
  let run = 0;
  const flush = () => {
    // Run lengths in bijective base 2: digit 1 is RUNA, digit 2 RUNB.
    for (; run > 0; run = (run - 1) >> 1) syms.push((run - 1) & 1);
  };
  for (const r of rot) {
    const b = block[(r + n - 1) % n];
    const j = mtf.indexOf(b);
    if (j === 0) {
      run++;
      continue;
    }
    flush();
    mtf.splice(j, 1);
    mtf.unshift(b);
    syms.push(j + 1);
  }
  flush();
  syms.push(used.length + 1);
  return { syms, used, origPtr: rot.indexOf(0) };
}

/** What a test may choose about its one-block stream (the rest follows from the data). */
interface Shape {
  level?: number;
  /** Code lengths of each table, given the alphabet size. */
  lengths?: (alpha: number) => number[][];
  /** The table of each group of 50 symbols. */
  selector?: (group: number, tables: number) => number;
  /** Change the symbols (and so the data no longer matches the CRC). */
  symbols?: (syms: number[], alpha: number) => number[];
  nSel?: (needed: number) => number;
  /** Change the block before the sort (after the initial run-length step). */
  block?: (b: Uint8Array) => Uint8Array;
  origPtr?: (p: number) => number;
}

/** Both tables: every symbol ceil(log2(alpha)) bits long. */
const fixedLengths = (alpha: number) => flat(Math.max(1, Math.ceil(Math.log2(alpha))))(alpha);

/** A bzip2 stream of `data` (one block, so at most its level x 100k after rle1) shaped by `s`. */
function encode(data: Uint8Array, s: Shape = {}): Uint8Array {
  const level = s.level ?? 1;
  const w = new BitWriter();
  w.put(24, 0x425a68);
  w.put(8, 0x30 + level);
  const crc = crc32(data);
  if (data.length > 0) {
    const block = symbolsOf((s.block ?? ((b) => b))(rle1(data)));
    const alpha = block.used.length + 2;
    const syms = s.symbols ? s.symbols(block.syms, alpha) : block.syms;
    const tables = (s.lengths ?? fixedLengths)(alpha);
    const needed = Math.ceil(syms.length / 50);
    const nSel = s.nSel ? s.nSel(needed) : needed;
    const sel = Array.from({ length: nSel }, (_, g) => s.selector?.(g, tables.length) ?? 0);
    w.put(24, 0x314159);
    w.put(24, 0x265359);
    w.put(16, crc >>> 16);
    w.put(16, crc & 0xffff);
    w.put(1, 0);
    w.put(24, s.origPtr ? s.origPtr(block.origPtr) : block.origPtr);
    let map = 0;
    for (const b of block.used) map |= 0x8000 >>> (b >> 4);
    w.put(16, map);
    for (let i = 0; i < 16; i++) {
      if (!(map & (0x8000 >>> i))) continue;
      let m = 0;
      for (const b of block.used) if (b >> 4 === i) m |= 0x8000 >>> (b & 15);
      w.put(16, m);
    }
    w.put(3, tables.length);
    w.put(15, nSel);
    const order = tables.map((_, t) => t);
    for (const g of sel) {
      const j = order.indexOf(g);
      for (let k = 0; k < (j < 0 ? g : j); k++) w.put(1, 1);
      w.put(1, 0);
      if (j > 0) order.unshift(...order.splice(j, 1));
    }
    const codes = tables.map((lens) => {
      w.put(5, lens[0]);
      let cur = lens[0];
      for (const len of lens) {
        for (; cur < len; cur++) w.put(2, 2);
        for (; cur > len; cur--) w.put(2, 3);
        w.put(1, 0);
      }
      // Canonical codes: by length, then by symbol.
      const code: number[] = [];
      let next = 0;
      for (let len = 1; len <= 20; len++, next <<= 1) {
        for (let i = 0; i < lens.length; i++) if (lens[i] === len) code[i] = next++;
      }
      return code;
    });
    syms.forEach((sym, i) => {
      // A selector naming a missing table fails before any symbol: any table will do.
      const t = Math.min(sel[Math.floor(i / 50)] ?? 0, tables.length - 1);
      w.put(tables[t][sym] ?? 20, codes[t][sym] ?? 0xfffff);
    });
  }
  w.put(24, 0x177245);
  w.put(24, 0x385090);
  // The stream CRC of one block is its block CRC.
  const combined = data.length > 0 ? crc : 0;
  w.put(16, combined >>> 16);
  w.put(16, combined & 0xffff);
  return w.bytes();
}

/**
 * Decode `bz` declared as `size` bytes with the TypeScript stages and with the WebAssembly
 * ones, which must agree (the same bytes, or the same error at the same offset): the bytes,
 * or the DmgError raised.
 */
async function decode(bz: Uint8Array, size: number): Promise<Uint8Array | DmgError> {
  const { js, wasm } = await withBothEngines(bzip2WasmReady, () => decodeOnce(bz, size));
  if (js instanceof DmgError) {
    expect(wasm).toBeInstanceOf(DmgError);
    const w = wasm as DmgError;
    expect([w.code, w.message, w.offset]).toEqual([js.code, js.message, js.offset]);
  } else {
    expect(wasm).toBeInstanceOf(Uint8Array);
    expect(Buffer.compare(wasm as Uint8Array, js)).toBe(0);
  }
  return js;
}

/** Decode `bz` declared as `size` bytes: the bytes, or the DmgError raised. */
async function decodeOnce(bz: Uint8Array, size: number): Promise<Uint8Array | DmgError> {
  const memory = new MemoryMeter(32 << 20);
  const ctx = { source: bytesSource(bz), offset: 0, length: bz.length, outputSize: size };
  const cursor = bzip2Codec.open({ ...ctx, memory, where: { table: 0, chunk: 0 } });
  const out = new Uint8Array(size);
  let n = 0;
  try {
    for (let p = await cursor.next(4096); p.length > 0; p = await cursor.next(4096)) {
      out.set(p, n);
      n += p.length;
    }
    return out;
  } catch (e) {
    if (e instanceof DmgError) return e;
    throw e;
  } finally {
    cursor.close();
    expect(memory.used).toBe(0);
  }
}

function sample(n: number, alphabet: number, seed: number): Uint8Array {
  let x = seed;
  return Uint8Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 16) % alphabet;
  });
}

async function expectBytes(bz: Uint8Array, data: Uint8Array) {
  const got = await decode(bz, data.length);
  if (got instanceof DmgError) throw got;
  expect(Buffer.compare(got, data)).toBe(0);
}

async function expectError(bz: Uint8Array, size: number, code: string, message: RegExp) {
  const got = await decode(bz, size);
  expect(got).toBeInstanceOf(DmgError);
  expect((got as DmgError).code).toBe(code);
  expect((got as DmgError).message).toMatch(message);
}

/** The stream of `data` shaped by `shape` is DECODE_CORRUPT with `message`. */
const expectCorrupt = (data: Uint8Array, shape: Shape, message: RegExp) =>
  expectError(encode(data, shape), data.length, "DECODE_CORRUPT", message);

/** Code lengths 1..12, then 20 for every other symbol (an incomplete code). */
const ramp = (alpha: number) => Array.from({ length: alpha }, (_, i) => (i < 12 ? i + 1 : 20));
/** Every symbol of both tables `len` bits long. */
const flat = (len: number) => (alpha: number) => [Array(alpha).fill(len), Array(alpha).fill(len)];

describe("bzip2 streams of chosen shapes", () => {
  const text = new TextEncoder().encode("abracadabra, aaaaaaaaaaaaa! ".repeat(40));
  const wide = sample(3000, 256, 7);

  it("decodes the encoder's plain streams (the check of the encoder itself)", async () => {
    await expectBytes(encode(text), text);
    await expectBytes(encode(wide), wide);
    await expectBytes(encode(new Uint8Array(0)), new Uint8Array(0));
  });

  it("decodes codes of every length 1-20, switching tables every 50 symbols", async () => {
    const lengths = (alpha: number) => [ramp(alpha), ramp(alpha).reverse(), fixedLengths(alpha)[0]];
    for (const data of [wide, text, sample(2500, 20, 3)]) {
      await expectBytes(encode(data, { lengths, selector: (g) => (g * 7) % 3 }), data);
    }
  });

  it("refuses selectors that run out or name a missing table", async () => {
    await expectCorrupt(wide, { nSel: (n) => n - 1 }, /runs out of selectors/);
    await expectCorrupt(wide, { selector: (g) => (g === 3 ? 4 : 0) }, /bad bzip2 selector/);
  });

  it("refuses code lengths outside 1-20, oversubscribed tables and codes no table has", async () => {
    await expectCorrupt(text, { lengths: flat(0) }, /code length/);
    await expectCorrupt(text, { lengths: flat(21) }, /code length/);
    await expectCorrupt(text, { lengths: flat(1) }, /oversubscribed/);
    // All 15-bit codes: the all-ones pattern is none of them, long enough for the slow path.
    const stray = (syms: number[]) => [syms[0], 0x7fff, ...syms.slice(1)];
    await expectCorrupt(text, { lengths: flat(15), symbols: stray }, /invalid bzip2 Huffman code/);
  });

  it("refuses runs and symbols past the block size, and an origin pointer past the block", async () => {
    const runs = (_: number[], alpha: number) => [...Array(20).fill(1), alpha - 1];
    await expectCorrupt(text, { symbols: runs }, /run longer than its block/);
    // 100 001 symbols toggling between two bytes: one more than a level-1 block holds.
    const many = (_: number[], alpha: number) => [...Array(100_001).fill(2), alpha - 1];
    await expectCorrupt(text, { symbols: many }, /overflows its size/);
    await expectCorrupt(text, { origPtr: () => 1 << 20 }, /origin pointer/);
  });

  it("ends a block after four equal bytes that have no count", async () => {
    const data = new TextEncoder().encode("xyzaaaa");
    await expectBytes(encode(data, { block: (b) => b.subarray(0, b.length - 1) }), data);
  });

  it("calls a stream cut at any byte truncated, long codes included", async () => {
    const bz = encode(wide, { lengths: (alpha) => [ramp(alpha).reverse(), ramp(alpha)] });
    await expectBytes(bz, wide);
    for (let cut = 0; cut < bz.length; cut++) {
      await expectError(bz.subarray(0, cut), wide.length, "DECODE_SHORT", /truncated/);
    }
  });
});
