/**
 * The chunk codecs (zlib, bzip2, ADC) and the registry: exact output, every decode error with
 * its code and chunk location, early stops on bombs, and bounded working memory.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { Deflate, deflate, deflateRaw, Z_FULL_FLUSH, Z_SYNC_FLUSH } from "pako";
import { describe, expect, it } from "vitest";
import { adcCodec } from "../src/codecs/adc/adc.js";
import { bzip2Codec } from "../src/codecs/bzip2/bzip2.js";
import type { ChunkCursor, Codec, DecodeContext } from "../src/codecs/codec.js";
import { deferredCursor } from "../src/codecs/deferred.js";
import { CORE_CODECS, codecTable, loadCodecs } from "../src/codecs/registry.js";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import { DmgError } from "../src/core/errors.js";
import { MemoryMeter } from "../src/core/limits.js";
import { parseKoly } from "../src/format/koly.js";
import { parseMish } from "../src/format/mish.js";
import {
  COMMENT,
  TERMINATOR,
  UDBZ,
  UDCO,
  UDIG,
  UDRW,
  UDZE,
  UDZO,
  ULFO,
  ULMO,
} from "../src/format/types.js";
import { type ByteSource, bytesSource } from "../src/sources/source.js";
import { adcEncode, adcLiteral, adcMatch } from "./helpers/adc-encode.js";

const MiB = 1024 * 1024;
const WHERE = { table: 3, chunk: 7 };
/** Where the compressed bytes sit inside the test source, so offsets are exercised. */
const AT = 1000;

/** A source that counts the bytes read from it. */
interface CountingSource extends ByteSource {
  bytesRead: number;
}

function sourceAround(compressed: Uint8Array): CountingSource {
  const all = new Uint8Array(AT + compressed.length + 777).fill(0xa5);
  all.set(compressed, AT);
  const inner = bytesSource(all);
  const src: CountingSource = {
    size: inner.size,
    bytesRead: 0,
    read: (offset, length) => {
      src.bytesRead += length;
      return inner.read(offset, length);
    },
  };
  return src;
}

function ctxFor(
  compressed: Uint8Array,
  outputSize: number,
  memory = new MemoryMeter(32 * MiB),
): DecodeContext & { source: CountingSource } {
  return {
    source: sourceAround(compressed),
    offset: AT,
    length: compressed.length,
    outputSize,
    memory,
    where: WHERE,
  };
}

/** Decode a whole chunk, checking the size of every piece. */
async function decodeAll(codec: Codec, ctx: DecodeContext, max = 100_000): Promise<Uint8Array> {
  const cursor = codec.open(ctx);
  const out = new Uint8Array(ctx.outputSize);
  let n = 0;
  try {
    for (;;) {
      const piece = await cursor.next(max);
      if (piece.length === 0) break;
      expect(piece.length).toBeLessThanOrEqual(max);
      out.set(piece, n);
      n += piece.length;
      expect(cursor.position).toBe(n);
    }
  } finally {
    cursor.close();
  }
  expect(ctx.memory.used).toBe(0);
  return out;
}

/** Decoding fails with a DmgError of `code`, located in the test chunk. */
async function expectFailure(codec: Codec, ctx: DecodeContext, code: string | RegExp) {
  const err = await decodeAll(codec, ctx).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DmgError);
  const e = err as DmgError;
  if (typeof code === "string") expect(e.code).toBe(code);
  else expect(e.code).toMatch(code);
  expect(e.table).toBe(WHERE.table);
  expect(e.chunk).toBe(WHERE.chunk);
  expect(e.message).toContain("table 3 chunk 7");
  expect(e.offset).toBeGreaterThanOrEqual(AT);
  expect(ctx.memory.used).toBe(0);
  return e;
}

/** Byte-for-byte equality, fast on large arrays (toEqual walks them element by element). */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length).toBe(expected.length);
  const diff =
    Buffer.compare(actual, expected) === 0 ? -1 : actual.findIndex((b, i) => b !== expected[i]);
  expect(diff).toBe(-1);
}

/** `piece` continues, at decoded offset `at`, the repetition of `period`. */
function expectRepeating(piece: Uint8Array, period: Uint8Array, at: number): void {
  const want = new Uint8Array(piece.length);
  for (let k = 0; k < piece.length; ) {
    const from = (at + k) % period.length;
    const n = Math.min(period.length - from, piece.length - k);
    want.set(period.subarray(from, from + n), k);
    k += n;
  }
  expectBytes(piece, want);
}

/** Deterministic test data: random bytes mixed with repeats, compressible but not trivially. */
function sample(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  let i = 0;
  while (i < size) {
    const r = rnd();
    const len = Math.min(size - i, 1 + (r % 64));
    if (r & 0x100 && i > 300) {
      const from = i - 1 - ((r >>> 9) % 300);
      for (let k = 0; k < len; k++) out[i + k] = out[from + k];
    } else if (r & 0x200) {
      out.fill(r >>> 24, i, i + len);
    } else {
      for (let k = 0; k < len; k++) out[i + k] = rnd() & 0xff;
    }
    i += len;
  }
  return out;
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let n = 0;
  for (const p of parts) {
    out.set(p, n);
    n += p.length;
  }
  return out;
}

const bzip2 = (data: Uint8Array, level = 9): Uint8Array =>
  new Uint8Array(execFileSync("bzip2", ["-c", `-${level}`], { input: data, maxBuffer: 1 << 30 }));

/** `n` bits at bit position `at`, most significant first. */
function getBits(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) v = v * 2 + ((b[i >> 3] >> (7 - (i & 7))) & 1);
  return v;
}

/** A copy of `b` with `n` bits at bit position `at` set to `value`. */
function setBits(b: Uint8Array, at: number, n: number, value: number): Uint8Array {
  const out = b.slice();
  for (let k = 0; k < n; k++) {
    const i = at + k;
    const bit = Math.floor(value / 2 ** (n - 1 - k)) & 1;
    out[i >> 3] = (out[i >> 3] & ~(0x80 >> (i & 7))) | (bit << (7 - (i & 7)));
  }
  return out;
}

/** Flip single bytes at spread-out positions; every outcome must be a decode error or success. */
async function fuzzFlips(codec: Codec, good: Uint8Array, size: number, tries = 60) {
  const seen = new Set<string>();
  for (let t = 0; t < tries; t++) {
    const bad = good.slice();
    const at = Math.floor(((t + 0.5) / tries) * bad.length);
    bad[at] ^= 1 << (t % 8);
    const ctx = ctxFor(bad, size);
    const result = await decodeAll(codec, ctx).then(
      () => "ok",
      (e: unknown) => {
        expect(e).toBeInstanceOf(DmgError);
        expect((e as DmgError).code).toMatch(/^DECODE_/);
        return (e as DmgError).code;
      },
    );
    expect(ctx.memory.used).toBe(0);
    seen.add(result);
  }
  return seen;
}

describe("zlib (UDZO)", () => {
  it("round-trips, piece by piece, at any piece size", async () => {
    for (const size of [1, 512, 100_000, 3 * MiB + 17]) {
      const data = sample(size, size);
      const z = deflate(data);
      for (const max of [1 << 20, 4096, 7]) {
        if (max === 7 && size > 200_000) continue;
        const out = await decodeAll(zlibCodec, ctxFor(z, size), max);
        expectBytes(out, data);
      }
    }
  });

  it("decodes an empty stream to zero bytes", async () => {
    expect((await decodeAll(zlibCodec, ctxFor(deflate(new Uint8Array(0)), 0))).length).toBe(0);
  });

  it("refuses output past the declared size (DECODE_OVERRUN)", async () => {
    const data = sample(70_000);
    const e = await expectFailure(
      zlibCodec,
      ctxFor(deflate(data), data.length - 1),
      "DECODE_OVERRUN",
    );
    expect(e.message).toMatch(/past the declared 69999 bytes/);
  });

  it("refuses output short of the declared size (DECODE_SHORT)", async () => {
    const data = sample(70_000);
    await expectFailure(zlibCodec, ctxFor(deflate(data), data.length + 1), "DECODE_SHORT");
  });

  it("refuses bytes after the end of the stream (DECODE_TRAILING)", async () => {
    const data = sample(70_000);
    const z = deflate(data);
    await expectFailure(zlibCodec, ctxFor(concat(z, [0]), data.length), "DECODE_TRAILING");
    await expectFailure(zlibCodec, ctxFor(concat(z, z), data.length), "DECODE_TRAILING");
  });

  it("refuses a truncated stream (DECODE_SHORT) without spinning", async () => {
    const data = sample(70_000);
    const z = deflate(data);
    for (const cut of [1, 4, 5, z.length >> 1, z.length - 1]) {
      const e = await expectFailure(
        zlibCodec,
        ctxFor(z.subarray(0, z.length - cut), data.length),
        "DECODE_SHORT",
      );
      expect(e.message).toMatch(/truncated/);
    }
    // A stream that never ends: sync-flushed blocks without a final block.
    const d = new Deflate();
    d.push(data, Z_SYNC_FLUSH);
    const open = concat(...d.chunks);
    await expectFailure(zlibCodec, ctxFor(open, data.length + 10), "DECODE_SHORT");
    await expectFailure(zlibCodec, ctxFor(new Uint8Array(0), 512), "DECODE_SHORT");
  });

  it("refuses a bad Adler-32, a bad header and a preset dictionary (DECODE_CORRUPT)", async () => {
    const data = sample(70_000);
    const z = deflate(data);
    const badAdler = z.slice();
    badAdler[badAdler.length - 1] ^= 0x40;
    const e = await expectFailure(zlibCodec, ctxFor(badAdler, data.length), "DECODE_CORRUPT");
    expect(e.message).toMatch(/incorrect data check/);
    const badHeader = z.slice();
    badHeader[0] = 0x79;
    await expectFailure(zlibCodec, ctxFor(badHeader, data.length), "DECODE_CORRUPT");
    const dict = deflate(data, { dictionary: new Uint8Array([1, 2, 3]) });
    await expectFailure(zlibCodec, ctxFor(dict, data.length), "DECODE_CORRUPT");
    // A raw deflate stream has no zlib header.
    await expectFailure(zlibCodec, ctxFor(deflateRaw(data), data.length), "DECODE_CORRUPT");
  });

  it("turns any corrupted byte into a decode error, never another exception", async () => {
    const data = sample(200_000);
    const seen = await fuzzFlips(zlibCodec, deflate(data), data.length);
    expect(seen.has("DECODE_CORRUPT")).toBe(true);
  });

  it("stops a 1 GiB bomb one byte past the declared size", async () => {
    // 1 GiB of zeros as 64 identical full-flushed deflate segments (about 1 MB compressed).
    const seg = new Deflate({ raw: true, level: 9 });
    seg.push(new Uint8Array(16 * MiB), Z_FULL_FLUSH);
    const segment = concat(...seg.chunks);
    const parts: Uint8Array[] = [Uint8Array.of(0x78, 0xda)];
    for (let i = 0; i < 64; i++) parts.push(segment);
    parts.push(Uint8Array.of(0x03, 0x00, 0, 0, 0, 0)); // final empty block; Adler-32 unchecked
    const bomb = concat(...parts);
    expect(bomb.length).toBeLessThan(2 * MiB);
    const ctx = ctxFor(bomb, MiB);
    const started = Date.now();
    await expectFailure(zlibCodec, ctx, "DECODE_OVERRUN");
    expect(Date.now() - started).toBeLessThan(5000);
    // It read no more than one input piece beyond what 1 MiB of output needs.
    expect(ctx.source.bytesRead).toBeLessThan(bomb.length / 3);
  });

  it("decodes a 64 MiB chunk in under 1 MiB of working memory", async () => {
    const data = sample(MiB);
    const d = new Deflate({ level: 1 });
    for (let i = 0; i < 63; i++) d.push(data, false);
    d.push(data, true);
    const z = d.result;
    const memory = new MemoryMeter(8 * MiB);
    const cursor = zlibCodec.open(ctxFor(z, 64 * MiB, memory));
    let n = 0;
    for (let piece = await cursor.next(MiB); piece.length > 0; piece = await cursor.next(MiB)) {
      expectRepeating(piece, data, n);
      n += piece.length;
    }
    cursor.close();
    expect(n).toBe(64 * MiB);
    expect(memory.peak).toBeLessThan(MiB);
    expect(memory.used).toBe(0);
  });

  it("agrees with node:zlib on the real UDZO image", async () => {
    const chunks = realChunks("jhermsmeier_node-udif_zlib-compressed.dmg").filter(
      (c) => c.type === UDZO,
    );
    expect(chunks.length).toBeGreaterThan(2);
    for (const c of chunks) {
      const z = c.file.subarray(c.offset, c.offset + c.length);
      const out = await decodeAll(zlibCodec, ctxFor(z, c.size));
      expectBytes(out, new Uint8Array(inflateSync(z)));
    }
  });
});

describe("bzip2 (UDBZ)", () => {
  it("round-trips data compressed by bzip2 at several block sizes", async () => {
    const runs = concat(
      ...[1, 2, 3, 4, 5, 6, 250, 255, 259, 260, 261, 1000, 70_000].map((n, i) =>
        new Uint8Array(n).fill(i * 17),
      ),
    );
    const cases: Array<[Uint8Array, number]> = [
      [Uint8Array.of(42), 9],
      [new TextEncoder().encode("hello, hello, hello bzip2"), 9],
      [runs, 1],
      [sample(1_500_000, 5), 1], // many blocks
      [sample(2 * MiB, 6), 9],
      [new Uint8Array(randomBytes(300_000)), 2],
    ];
    for (const [data, level] of cases) {
      const bz = bzip2(data, level);
      for (const max of [MiB, 1000]) {
        const out = await decodeAll(bzip2Codec, ctxFor(bz, data.length), max);
        expectBytes(out, data);
      }
    }
  });

  it("needs no Buffer (the core runs in browsers)", async () => {
    const data = sample(300_000, 9);
    const bz = bzip2(data, 1);
    const g = globalThis as { Buffer?: unknown };
    const saved = g.Buffer;
    g.Buffer = undefined;
    let out: Uint8Array;
    try {
      out = await decodeAll(bzip2Codec, ctxFor(bz, data.length));
    } finally {
      g.Buffer = saved;
    }
    expectBytes(out, data);
  });

  it("refuses overrun, short output, trailing data and concatenated streams", async () => {
    const data = sample(250_000, 2);
    const bz = bzip2(data, 1);
    await expectFailure(bzip2Codec, ctxFor(bz, data.length - 1), "DECODE_OVERRUN");
    await expectFailure(bzip2Codec, ctxFor(bz, 100_000), "DECODE_OVERRUN"); // at a block boundary
    await expectFailure(bzip2Codec, ctxFor(bz, data.length + 1), "DECODE_SHORT");
    await expectFailure(bzip2Codec, ctxFor(concat(bz, [0]), data.length), "DECODE_TRAILING");
    // E26: hdiutil writes one stream per chunk.
    await expectFailure(bzip2Codec, ctxFor(concat(bz, bz), data.length), "DECODE_TRAILING");
  });

  it("refuses truncated input (DECODE_SHORT)", async () => {
    const data = sample(250_000, 3);
    const bz = bzip2(data, 1);
    for (const cut of [1, 5, 11, bz.length >> 1, bz.length - 3]) {
      const e = await expectFailure(
        bzip2Codec,
        ctxFor(bz.subarray(0, bz.length - cut), data.length),
        "DECODE_SHORT",
      );
      expect(e.message).toMatch(/truncated/);
    }
    await expectFailure(bzip2Codec, ctxFor(new Uint8Array(0), 512), "DECODE_SHORT");
  });

  it("checks the magic, block size digit, block CRC and stream CRC (DECODE_CORRUPT)", async () => {
    const data = sample(50_000, 4);
    const bz = bzip2(data, 9);
    const edit = (at: number, v: number) => {
      const b = bz.slice();
      b[at] = v;
      return b;
    };
    await expectFailure(bzip2Codec, ctxFor(edit(0, 0x43), data.length), "DECODE_CORRUPT");
    for (const digit of ["0", ":", "A"]) {
      const e = await expectFailure(
        bzip2Codec,
        ctxFor(edit(3, digit.charCodeAt(0)), data.length),
        "DECODE_CORRUPT",
      );
      expect(e.message).toMatch(/block size digit/);
    }
    // Block CRC: bytes 10-13, after "BZh9" and the block magic.
    let e = await expectFailure(
      bzip2Codec,
      ctxFor(edit(12, bz[12] ^ 1), data.length),
      "DECODE_CORRUPT",
    );
    expect(e.message).toMatch(/block CRC/);
    // Stream CRC: the last whole byte before the padding.
    e = await expectFailure(
      bzip2Codec,
      ctxFor(edit(bz.length - 2, bz[bz.length - 2] ^ 1), data.length),
      "DECODE_CORRUPT",
    );
    expect(e.message).toMatch(/stream CRC/);
    // The block magic.
    await expectFailure(bzip2Codec, ctxFor(edit(5, 0), data.length), "DECODE_CORRUPT");
  });

  it("refuses bad block header fields (E26, DECODE_CORRUPT)", async () => {
    const data = new TextEncoder().encode("hello, hello, hello bzip2 block header");
    const bz = bzip2(data, 9);
    // Fixed positions (in bits): "BZh9" 0, block magic 32, CRC 80, randomised 112, origin
    // pointer 113, symbol map 137; then the 16-bit maps, table count (3), selector count (15).
    const used = getBits(bz, 137, 16);
    let mapBits = 16;
    for (let i = 0; i < 16; i++) if (used & (0x8000 >>> i)) mapBits += 16;
    const groupsAt = 137 + mapBits;
    const cases: Array<[number, number, number, RegExp]> = [
      [112, 1, 1, /randomised/],
      [113, 24, 0xffffff, /origin pointer/],
      [137, 16, 0, /no byte values/],
      [groupsAt, 3, 1, /table count/],
      [groupsAt, 3, 7, /table count/],
      [groupsAt + 3, 15, 0, /no selectors/],
    ];
    for (const [at, n, value, message] of cases) {
      const e = await expectFailure(
        bzip2Codec,
        ctxFor(setBits(bz, at, n, value), data.length),
        "DECODE_CORRUPT",
      );
      expect(e.message).toMatch(message);
    }
    // The untouched stream decodes.
    expectBytes(await decodeAll(bzip2Codec, ctxFor(bz, data.length)), data);
  });

  it("decodes an empty stream to zero bytes", async () => {
    expect((await decodeAll(bzip2Codec, ctxFor(bzip2(new Uint8Array(0)), 0))).length).toBe(0);
    await expectFailure(bzip2Codec, ctxFor(bzip2(new Uint8Array(0)), 1), "DECODE_SHORT");
  });

  it("turns any corrupted byte into a decode error, never another exception", async () => {
    const data = sample(120_000, 8);
    const seen = await fuzzFlips(bzip2Codec, bzip2(data, 1), data.length);
    expect(seen.has("DECODE_CORRUPT")).toBe(true);
  });

  it("stops a run-length bomb one byte past the declared size", async () => {
    // One 900k block of zeros decodes to about 45 MB; 200 MB of zeros is a few hundred bytes.
    const bomb = bzip2(new Uint8Array(200 * MiB), 9);
    expect(bomb.length).toBeLessThan(2000);
    const memory = new MemoryMeter(8 * MiB);
    const started = Date.now();
    await expectFailure(bzip2Codec, ctxFor(bomb, MiB, memory), "DECODE_OVERRUN");
    expect(Date.now() - started).toBeLessThan(5000);
    // The block array and its unscrambled text (4.5 MB at level 9), whatever the output size.
    expect(memory.peak).toBeLessThan(6 * MiB);
  });

  it("decodes a 64 MiB chunk in under 8 MiB of working memory", async () => {
    // Runs of 1-120 equal bytes: several 900k blocks that bzip2 compresses quickly.
    const big = new Uint8Array(64 * MiB);
    const noise = sample(MiB, 11);
    for (let i = 0, k = 0; i < big.length; k++) {
      const n = Math.min(big.length - i, 1 + (noise[k % MiB] % 120));
      big.fill(noise[(k * 7 + 3) % MiB], i, i + n);
      i += n;
    }
    const bz = bzip2(big, 9);
    expect(bz.length).toBeGreaterThan(MiB); // several blocks
    const memory = new MemoryMeter(8 * MiB);
    const cursor = bzip2Codec.open(ctxFor(bz, big.length, memory));
    let n = 0;
    for (let piece = await cursor.next(MiB); piece.length > 0; piece = await cursor.next(MiB)) {
      expectBytes(piece, big.subarray(n, n + piece.length));
      n += piece.length;
    }
    cursor.close();
    expect(n).toBe(big.length);
    expect(memory.peak).toBeLessThan(8 * MiB);
    expect(memory.used).toBe(0);
  });

  it("agrees with the bzip2 tool on the real UDBZ image", async () => {
    const chunks = realChunks("jhermsmeier_node-udif_compression-bz2.dmg").filter(
      (c) => c.type === UDBZ,
    );
    expect(chunks.length).toBe(3);
    for (const c of chunks) {
      const bz = c.file.subarray(c.offset, c.offset + c.length);
      const out = await decodeAll(bzip2Codec, ctxFor(bz, c.size));
      expectBytes(out, new Uint8Array(execFileSync("bzip2", ["-dc"], { input: bz })));
    }
  });
});

describe("ADC (UDCO)", () => {
  it("round-trips both match forms and literal runs", async () => {
    for (const size of [1, 3, 200, 70_000, 600_000]) {
      const data = sample(size, size + 1);
      const adc = adcEncode(data);
      for (const max of [1 << 20, 1000, 3]) {
        if (max === 3 && size > 100_000) continue;
        expectBytes(await decodeAll(adcCodec, ctxFor(adc, size), max), data);
      }
    }
  });

  it("follows matches up to 65536 bytes back and overlapping matches", async () => {
    const head = sample(65536, 77);
    const lits: number[][] = [];
    for (let i = 0; i < head.length; i += 128) lits.push(adcLiteral(head.subarray(i, i + 128)));
    const stream = concat(
      ...lits,
      adcMatch(67, 65536),
      adcMatch(4, 1),
      adcMatch(18, 2),
      adcMatch(10, 1000, true),
    );
    const out = await decodeAll(adcCodec, ctxFor(stream, 65536 + 67 + 4 + 18 + 10));
    expectBytes(out.subarray(0, 65536), head);
    expect(out.subarray(65536, 65536 + 67)).toEqual(head.subarray(0, 67));
    const p = 65536 + 67;
    expect(Array.from(out.subarray(p, p + 4))).toEqual(new Array(4).fill(out[p - 1]));
    expect(out[p + 4 + 17]).toBe(out[p + 4 + 15]);
    expect(out.subarray(p + 22, p + 32)).toEqual(out.subarray(p + 22 - 1000, p + 32 - 1000));
  });

  it("decodes opcodes that straddle input pieces", async () => {
    // 2032 full literal runs and one of 14 bytes end 1 byte short of the 256 KiB input piece,
    // so the next 3-byte opcode is split across two pieces; then a 2-byte one on the next.
    const lit = sample(128, 5);
    const parts: ArrayLike<number>[] = [];
    for (let i = 0; i < 2032; i++) parts.push(adcLiteral(lit));
    parts.push(adcLiteral(lit.subarray(0, 14)));
    parts.push(adcMatch(40, 300, true));
    const stream = concat(...parts);
    expect(stream.length).toBe(262_146);
    const size = 2032 * 128 + 14 + 40;
    const out = await decodeAll(adcCodec, ctxFor(stream, size));
    expect(out.subarray(size - 40)).toEqual(out.subarray(size - 340, size - 300));
    const parts2 = [...parts.slice(0, -2), adcLiteral(lit.subarray(0, 15)), adcMatch(5, 7)];
    const out2 = await decodeAll(adcCodec, ctxFor(concat(...parts2), 2032 * 128 + 20));
    expect(out2.subarray(-5)).toEqual(out2.subarray(-12, -7));
  });

  it("refuses back-references before the start of the output (E27, DECODE_CORRUPT)", async () => {
    await expectFailure(adcCodec, ctxFor(Uint8Array.from(adcMatch(3, 1)), 3), "DECODE_CORRUPT");
    const five = adcLiteral([1, 2, 3, 4, 5]);
    const e = await expectFailure(
      adcCodec,
      ctxFor(concat(five, adcMatch(3, 6)), 8),
      "DECODE_CORRUPT",
    );
    expect(e.message).toMatch(/6 bytes back but only 5/);
    expect(e.offset).toBe(AT + 6);
    await expectFailure(adcCodec, ctxFor(concat(five, adcMatch(4, 60_000)), 9), "DECODE_CORRUPT");
    // Exactly as far back as decoded is fine.
    expect(Array.from(await decodeAll(adcCodec, ctxFor(concat(five, adcMatch(3, 5)), 8)))).toEqual([
      1, 2, 3, 4, 5, 1, 2, 3,
    ]);
  });

  it("refuses truncated input: a literal run or an opcode past the end (DECODE_SHORT)", async () => {
    const run = adcLiteral([1, 2, 3, 4, 5, 6]);
    await expectFailure(adcCodec, ctxFor(Uint8Array.from(run.slice(0, 4)), 6), "DECODE_SHORT");
    await expectFailure(adcCodec, ctxFor(concat(run, [0x40, 0]), 10), "DECODE_SHORT");
    await expectFailure(adcCodec, ctxFor(concat(run, [0x04]), 10), "DECODE_SHORT");
    await expectFailure(adcCodec, ctxFor(new Uint8Array(0), 512), "DECODE_SHORT");
  });

  it("refuses overrun, short output and trailing data", async () => {
    const data = sample(20_000, 12);
    const adc = adcEncode(data);
    await expectFailure(adcCodec, ctxFor(adc, data.length - 1), "DECODE_OVERRUN");
    await expectFailure(adcCodec, ctxFor(adc, data.length + 1), "DECODE_SHORT");
    await expectFailure(
      adcCodec,
      ctxFor(concat(adc, adcLiteral([9])), data.length),
      "DECODE_TRAILING",
    );
  });

  it("turns any corrupted byte into a decode error, never another exception", async () => {
    const data = sample(50_000, 13);
    const seen = await fuzzFlips(adcCodec, adcEncode(data), data.length, 100);
    expect(seen.size).toBeGreaterThan(1);
  });

  it("decodes a 64 MiB chunk in under 1 MiB of working memory", async () => {
    const data = sample(MiB, 14);
    const one = adcEncode(data);
    // Concatenated ADC streams decode to the concatenated data: matches are relative.
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 64; i++) parts.push(one);
    const memory = new MemoryMeter(8 * MiB);
    const cursor = adcCodec.open(ctxFor(concat(...parts), 64 * MiB, memory));
    let n = 0;
    for (let piece = await cursor.next(MiB); piece.length > 0; piece = await cursor.next(MiB)) {
      expectRepeating(piece, data, n);
      n += piece.length;
    }
    cursor.close();
    expect(n).toBe(64 * MiB);
    expect(memory.peak).toBeLessThan(MiB);
  });

  it("gives the disk of the real UDCO image (SHA-256 as 7-Zip)", async () => {
    const file = "jhermsmeier_node-udif_compression-adc.dmg";
    const chunks = realChunks(file);
    expect(chunks.some((c) => c.type === UDCO)).toBe(true);
    const disk = await assembleDisk(chunks);
    expect(disk.length).toBe(5242880);
    expect(createHash("sha256").update(disk).digest("hex")).toBe(
      "0786ad1fdcba31a3f03ee80eb1d6e8c7ee2f4647a2b4b6f1855c9fe0719784de",
    );
  });
});

describe("every codec", () => {
  const valid: Array<[Codec, Uint8Array]> = [];
  const data = sample(100_000, 21);
  valid.push([zlibCodec, deflate(data)], [bzip2Codec, bzip2(data)], [adcCodec, adcEncode(data)]);

  for (const [codec, compressed] of valid) {
    it(`${codec.name}: accounts memory before allocating and releases it on close`, async () => {
      const tight = new MemoryMeter(16 * 1024);
      const err = (() => {
        try {
          codec.open(ctxFor(compressed, data.length, tight));
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DmgError);
      expect((err as DmgError).code).toBe("BUDGET_WORKING_MEMORY");
      expect(tight.used).toBe(0);

      const ctx = ctxFor(compressed, data.length);
      const cursor = codec.open(ctx);
      const first = await cursor.next(10);
      expectBytes(first, data.subarray(0, 10));
      expect(ctx.memory.used).toBeGreaterThan(0);
      cursor.close();
      cursor.close();
      expect(ctx.memory.used).toBe(0);
      await expect(cursor.next(10)).rejects.toBeInstanceOf(DmgError);
    });

    it(`${codec.name}: keeps failing after an error and releases its memory`, async () => {
      const ctx = ctxFor(compressed, data.length - 5);
      const cursor = codec.open(ctx);
      let err: unknown;
      try {
        while ((await cursor.next(MiB)).length > 0) {}
      } catch (e) {
        err = e;
      }
      expect((err as DmgError).code).toMatch(/^DECODE_(OVERRUN|TRAILING)$/);
      expect(ctx.memory.used).toBe(0);
      await expect(cursor.next(1)).rejects.toBe(err);
      cursor.close();
    });

    it(`${codec.name}: random input gives a decode result or a decode error`, async () => {
      const rnd = sample(64 * 1024, codec.type);
      for (let t = 0; t < 150; t++) {
        const len = rnd[t] * 8 + rnd[t + 1];
        const bytes = rnd.subarray(t * 300, t * 300 + len);
        if (t % 3 === 0 && bytes.length > 4) bytes.set(compressed.subarray(0, 4)); // valid header
        const ctx = ctxFor(bytes, 512 * (rnd[t + 2] % 8));
        await decodeAll(codec, ctx).catch((e: unknown) => {
          expect(e).toBeInstanceOf(DmgError);
          expect((e as DmgError).code).toMatch(/^DECODE_/);
        });
        expect(ctx.memory.used).toBe(0);
      }
    });

    it(`${codec.name}: reports a failing source as IO_ERROR`, async () => {
      const ctx = ctxFor(compressed, data.length);
      ctx.source.read = async () => {
        throw new Error("disk on fire");
      };
      const e = (await decodeAll(codec, ctx).catch((x: unknown) => x)) as DmgError;
      expect(e).toBeInstanceOf(DmgError);
      expect(e.code).toBe("IO_ERROR");
      expect(e.table).toBe(WHERE.table);
      expect(e.chunk).toBe(WHERE.chunk);
      expect(ctx.memory.used).toBe(0);
    });
  }
});

describe("codec tables", () => {
  it("loads every decoder on demand, zlib too", async () => {
    const table = await codecTable([UDBZ]);
    expect(table.get(UDZO)).toBeUndefined();
    expect(table.get(UDBZ)).toBe(bzip2Codec);
    expect((await codecTable([UDZO])).get(UDZO)).toBe(zlibCodec);
    expect(CORE_CODECS.loaded.size).toBe(0);
    // Only the decoders of the types asked for are loaded into a table.
    expect(table.get(ULMO)).toBeUndefined();
    expect(table.get(UDCO)).toBeUndefined();
    expect((await codecTable([UDCO])).get(UDCO)).toBe(adcCodec);
    const none = await codecTable([UDZE, 0x12345678]); // nothing to load: no error
    expect(none.get(UDZE)).toBeUndefined();
  });

  it("maps each compressed type to its codec and nothing else", async () => {
    const table = await loadCodecs();
    for (const [type, name] of [
      [UDCO, "ADC"],
      [UDZO, "zlib"],
      [UDBZ, "bzip2"],
      [ULFO, "lzfse"],
      [ULMO, "xz"],
    ] as const) {
      const codec = table.get(type);
      expect(codec?.type).toBe(type);
      expect(codec?.name.toLowerCase()).toContain(name.toLowerCase());
      expect(table.isDefault(type)).toBe(true);
    }
    for (const t of [UDZE, UDRW, UDIG, COMMENT, TERMINATOR, 0x80000009, 0x12345678]) {
      expect(table.get(t)).toBeUndefined();
    }
  });

  it("takes a caller's codec for one table only, and falls back on the default to seek", async () => {
    const own: Codec = { type: UDZO, name: "own zlib", open: zlibCodec.open };
    const mine = await codecTable([UDZO], CORE_CODECS, [own]);
    const theirs = await codecTable([UDZO]);
    expect(mine.get(UDZO)).toBe(own);
    expect(mine.isDefault(UDZO)).toBe(false);
    // The caller's codec cannot resume at index points: the default one does that.
    expect(mine.seekable(UDZO)).toBe(zlibCodec);
    expect(theirs.get(UDZO)).toBe(zlibCodec);
    expect(CORE_CODECS.loaders.has(UDZO)).toBe(true);
  });

  it("refuses what is not a codec with INVALID_ARGUMENT", async () => {
    for (const bad of [[{ type: UDZO }], [null], "zlib", [{ type: "x", name: "n", open() {} }]]) {
      await expect(
        codecTable([UDZO], CORE_CODECS, bad as unknown as Codec[]),
      ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    }
  });
});

// ---- Real images: chunk entries read straight from the XML plist (test-only extraction). ----

interface RealChunk {
  file: Uint8Array;
  type: number;
  sector: number;
  size: number;
  offset: number;
  length: number;
}

function realChunks(name: string): RealChunk[] {
  const file = new Uint8Array(
    readFileSync(join(import.meta.dirname, "..", "corpus", "real", name)),
  );
  const koly = parseKoly(file.subarray(file.length - 512), file.length - 512);
  const xml = new TextDecoder().decode(
    file.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength),
  );
  const start = xml.indexOf("<key>blkx</key>");
  const blkx = xml.slice(start, xml.indexOf("</array>", start));
  const out: RealChunk[] = [];
  let t = 0;
  for (const m of blkx.matchAll(/<key>Data<\/key>\s*<data>([^<]*)<\/data>/g)) {
    const blob = new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ""), "base64"));
    const table = parseMish(blob, 0, { table: t++ });
    const e = table.entries;
    for (let i = 0; i < table.count; i++) {
      if (e.type[i] === TERMINATOR || e.type[i] === COMMENT) continue;
      out.push({
        file,
        type: e.type[i],
        sector: table.firstSector + e.sector[i],
        size: e.sectorCount[i] * 512,
        offset: koly.dataForkOffset + table.dataOffset + e.offset[i],
        length: e.length[i],
      });
    }
  }
  return out;
}

async function assembleDisk(chunks: RealChunk[]): Promise<Uint8Array> {
  const end = Math.max(...chunks.map((c) => c.sector * 512 + c.size));
  const disk = new Uint8Array(end);
  for (const c of chunks) {
    const bytes = c.file.subarray(c.offset, c.offset + c.length);
    const codec = (await loadCodecs()).get(c.type);
    if (codec) disk.set(await decodeAll(codec, ctxFor(bytes, c.size)), c.sector * 512);
    else if (c.type === UDRW) disk.set(bytes, c.sector * 512);
  }
  return disk;
}

describe("deferred cursors", () => {
  it("make their cursor at the first read, pass its errors on, and close what they made", async () => {
    let made = 0;
    let closed = 0;
    const real = (): ChunkCursor => {
      made++;
      let position = 7;
      return {
        get position() {
          return position;
        },
        async next(max: number) {
          position += max;
          return new Uint8Array(max);
        },
        close() {
          closed++;
        },
      };
    };
    const c = deferredCursor(async () => real(), 7);
    expect(c.position).toBe(7);
    expect(made).toBe(0);
    expect((await c.next(3)).length).toBe(3);
    expect(c.position).toBe(10);
    c.close();
    expect(closed).toBe(1);
    const failing = deferredCursor(async () => {
      throw new DmgError("INVALID_ARGUMENT", "not a resume point");
    });
    await expect(failing.next(1)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    // Closed before its first read: nothing is made, and a late read closes what it makes.
    const early = deferredCursor(async () => real());
    early.close();
    expect(made).toBe(1);
    await early.next(1);
    expect(closed).toBe(2);
  });
});
