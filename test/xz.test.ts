/**
 * The ULMO codec (XZ streams with LZMA2): round trips against the system `xz` at several
 * presets, checks, dictionary sizes and piece sizes; every E29 error class with its code;
 * bounded working memory; and images built with buildDmg read the way 7-Zip reads them.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { codecTable } from "../src/codecs/registry.js";
import { xzCodec } from "../src/codecs/xz/xz.js";
import { Crc64 } from "../src/codecs/xz/xz-crc64.js";
import { lzma2DictSize } from "../src/codecs/xz/xz-format.js";
import { readVarint } from "../src/codecs/xz/xz-input.js";
import { MemoryMeter } from "../src/core/limits.js";
import { UDZE, ULMO } from "../src/format/types.js";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { buildDmg, type ChunkModel } from "../src/write/model.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { REAL } from "./helpers/corpus.js";
import { requireTool, type SkipContext, sevenZipExtract } from "./helpers/reference.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const WHERE = { table: 2, chunk: 5 };
/** Where the stream sits inside the test source, so file offsets are exercised. */
const AT = 333;

/** Deterministic mixed data: words, random bytes (stored LZMA2 chunks), zeros, a pattern. */
function mixed(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const words = ["disk ", "image ", "sector ", "chunk ", "the ", "of ", "\n", "0x7f ", "apple "];
  let x = seed >>> 0 || 1;
  const rnd = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x >>> 8;
  };
  let i = 0;
  while (i < n) {
    const kind = rnd() % 4;
    const end = Math.min(n, i + 1000 + (rnd() % 30000));
    if (kind === 0) while (i < end) out[i++] = rnd() & 0xff;
    else if (kind === 1) {
      while (i < end)
        for (const c of words[rnd() % words.length]) if (i < end) out[i++] = c.charCodeAt(0);
    } else if (kind === 2) i = end;
    else for (let k = 0; i < end; k++) out[i++] = (k * 7 + (k >> 9)) & 0xff;
  }
  return out;
}

/** `xz -c ARGS` over `data` (the system binary; skips or fails through `t` when missing). */
function xz(t: SkipContext, data: Uint8Array, args: string[]): Uint8Array {
  requireTool("xz", t);
  return new Uint8Array(execFileSync("xz", ["-c", ...args], { input: data, maxBuffer: 1 << 28 }));
}

function ctxFor(stream: Uint8Array, outputSize: number, memory = new MemoryMeter(32 * MiB)) {
  return chunkContext(stream, outputSize, { at: AT, memory, where: WHERE });
}

/** Decode a whole chunk in pieces of at most `max`, checking each piece's size. */
async function decode(
  stream: Uint8Array,
  outputSize: number,
  max = 100_000,
  memory = new MemoryMeter(32 * MiB),
): Promise<{ out: Uint8Array; peak: number }> {
  const ctx = ctxFor(stream, outputSize, memory);
  const cursor = (await codecTable([ULMO])).get(ULMO)!.open(ctx);
  const out = new Uint8Array(outputSize);
  for (;;) {
    const piece = await cursor.next(max);
    if (piece.length === 0) break;
    expect(piece.length).toBeLessThanOrEqual(max);
    out.set(piece, cursor.position - piece.length);
  }
  expect(cursor.position).toBe(outputSize);
  expect(await cursor.next(max)).toHaveLength(0);
  expect(memory.used).toBe(0);
  return { out, peak: memory.peak };
}

/** The error decoding fails with; checks its chunk location and that memory was released. */
async function failure(
  stream: Uint8Array,
  outputSize: number,
  memory = new MemoryMeter(32 * MiB),
): Promise<DmgError> {
  const ctx = ctxFor(stream, outputSize, memory);
  const e = await (async () => {
    const cursor = xzCodec.open(ctx);
    while ((await cursor.next(65536)).length > 0);
  })().catch((x: unknown) => x);
  expect(e).toBeInstanceOf(DmgError);
  const err = e as DmgError;
  expect(err.chunk).toBe(WHERE.chunk);
  expect(err.table).toBe(WHERE.table);
  if (!err.overBudget) {
    expect(err.offset).toBeGreaterThanOrEqual(AT);
    expect(err.offset).toBeLessThanOrEqual(AT + stream.length);
  }
  expect(memory.used).toBe(0);
  return err;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

// ---- A test-side XZ container writer, to make streams xz never writes. ----

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function le32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}

interface WrapOptions {
  check?: number;
  /** Store sizes in the block header (overridable). */
  packed?: number;
  unpacked?: number;
  /** Filters as [id, props]; default LZMA2 with dictionary property 16 (512 KiB). */
  filters?: Array<[number, number[]]>;
  /** Change the encoded header after its fields (before its CRC). */
  header?: (h: number[]) => void;
  /** Index records override [unpadded, uncompressed][]. */
  records?: Array<[number, number]>;
  streamFlags?: [number, number];
  footerFlags?: [number, number];
  backwardDelta?: number;
  blockPadding?: number;
}

/** Concatenate byte lists. */
function cat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** An XZ stream of one block whose compressed data is `lzma2` (decoding to `data`). */
function wrapXz(lzma2: Uint8Array, data: Uint8Array, o: WrapOptions = {}): Uint8Array {
  const check = o.check ?? 1;
  const flags = o.streamFlags ?? [0, check];
  const head = [
    0xfd,
    0x37,
    0x7a,
    0x58,
    0x5a,
    0x00,
    ...flags,
    ...le32(crc32(new Uint8Array(flags))),
  ];
  const filters = o.filters ?? [[0x21, [16]]];
  const sized = (o.packed !== undefined ? 0x40 : 0) | (o.unpacked !== undefined ? 0x80 : 0);
  const h: number[] = [0, (filters.length - 1) | sized];
  if (o.packed !== undefined) h.push(...varint(o.packed));
  if (o.unpacked !== undefined) h.push(...varint(o.unpacked));
  for (const [id, props] of filters) h.push(...varint(id), ...varint(props.length), ...props);
  o.header?.(h);
  while ((h.length + 4) % 4) h.push(0);
  h[0] = (h.length + 4) / 4 - 1;
  h.push(...le32(crc32(new Uint8Array(h))));
  const pad = new Array((4 - (lzma2.length % 4)) % 4).fill(0);
  if (pad.length > 0) pad[0] = o.blockPadding ?? 0;
  let checkBytes: number[] = [];
  if (check === 1) checkBytes = le32(crc32(data));
  if (check === 4) {
    const c = new Crc64();
    c.update(data);
    checkBytes = [...Buffer.from(c.hex(), "hex").reverse()];
  }
  if (check === 10) checkBytes = [...createHash("sha256").update(data).digest()];
  const records = o.records ?? [[h.length + lzma2.length + checkBytes.length, data.length]];
  const index = [0, ...varint(records.length)];
  for (const [u, c] of records) index.push(...varint(u), ...varint(c));
  while (index.length % 4) index.push(0);
  index.push(...le32(crc32(new Uint8Array(index))));
  const tail = [
    ...le32(index.length / 4 - 1 + (o.backwardDelta ?? 0)),
    ...(o.footerFlags ?? flags),
  ];
  const foot = [...le32(crc32(new Uint8Array(tail))), ...tail, 0x59, 0x5a];
  return cat(head, h, lzma2, pad, checkBytes, index, foot);
}

/** LZMA2 stored chunks holding `data` (dictionary reset on the first). */
function storedLzma2(data: Uint8Array, piece = 40_000): Uint8Array {
  const parts: ArrayLike<number>[] = [];
  for (let i = 0; i < data.length; i += piece) {
    const n = Math.min(piece, data.length - i);
    parts.push([i === 0 ? 0x01 : 0x02, (n - 1) >> 8, (n - 1) & 0xff], data.subarray(i, i + n));
  }
  return cat(...parts, [0x00]);
}

describe("format helpers", () => {
  it("CRC-64 matches the ECMA-182 check value, byte by byte or in one go", () => {
    const text = new TextEncoder().encode("123456789");
    const whole = new Crc64();
    whole.update(text);
    expect(whole.hex()).toBe("995dc9bbdf1939fa");
    const split = new Crc64();
    for (let i = 0; i < text.length; i += 2) split.update(text.subarray(i, i + 2));
    expect(split.hex()).toBe("995dc9bbdf1939fa");
  });

  it("reads multibyte integers and refuses bad encodings", () => {
    const b = (...x: number[]) => new Uint8Array(x);
    expect(readVarint(b(0x7f), 0, 1)).toEqual([127, 1]);
    expect(readVarint(b(0x80, 0x01), 0, 2)).toEqual([128, 2]);
    expect(readVarint(b(0x80, 0x01), 0, 1)).toEqual([0, 0]); // runs past the end
    expect(readVarint(b(0x80, 0x00), 0, 2)).toEqual([0, -1]); // redundant zero byte
    expect(readVarint(new Uint8Array(10).fill(0x80), 0, 10)).toEqual([0, -1]); // over 9 bytes
    const big = b(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f);
    expect(readVarint(big, 0, 9)).toEqual([Number.POSITIVE_INFINITY, 9]);
    expect(readVarint(b(...varint(2 ** 53 - 1)), 0, 9)[0]).toBe(2 ** 53 - 1);
  });

  it("decodes LZMA2 dictionary sizes", () => {
    expect(lzma2DictSize(0)).toBe(4 * KiB);
    expect(lzma2DictSize(1)).toBe(6 * KiB);
    expect(lzma2DictSize(22)).toBe(8 * MiB);
    expect(lzma2DictSize(39)).toBe(3072 * MiB);
    expect(lzma2DictSize(40)).toBe(0xffffffff);
    expect(lzma2DictSize(41)).toBe(-1);
  });
});

describe("round trips with the system xz", () => {
  const data = mixed(400 * KiB, 7);
  const cases: Array<[string, string[]]> = [
    ["-0", ["-0"]],
    ["-6", ["-6"]],
    ["-9e", ["-9e"]],
    ["--check=crc32", ["--check=crc32"]],
    ["--check=crc64", ["--check=crc64"]],
    ["--check=none", ["--check=none"]],
    ["--check=sha256 (read, not verified)", ["--check=sha256"]],
    ["dict=4KiB", ["--lzma2=dict=4KiB"]],
    ["dict=64KiB,lc=0,lp=2,pb=0", ["--lzma2=dict=64KiB,lc=0,lp=2,pb=0"]],
    ["lc=4,pb=4", ["--lzma2=preset=6,lc=4,pb=4"]],
    ["lc=1,lp=3,pb=1", ["--lzma2=preset=3,lc=1,lp=3,pb=1"]],
    ["several blocks with sizes in their headers", ["-T2", "--block-size=70000"]],
    [
      "hdiutil's layout: no check, sizes in the header",
      ["--check=none", "-T2", "--block-size=1MiB"],
    ],
  ];
  for (const [name, args] of cases) {
    it(name, async (t) => {
      const stream = xz(t, data, args);
      const { out } = await decode(stream, data.length, 77_777);
      expect(same(out, data)).toBe(true);
    });
  }

  it("gives the same bytes at every piece size", async (t) => {
    const small = mixed(48 * KiB, 3);
    const stream = xz(t, small, ["-6", "-T2", "--block-size=20000"]);
    for (const max of [1, 3, 512, 4096, 65536, MiB]) {
      const { out } = await decode(stream, small.length, max);
      expect(same(out, small)).toBe(true);
    }
  });

  it("copies matches of every shape: long, self-overlapping, across the window's wrap, cut short", async (t) => {
    // Runs repeated from 1 to 65535 bytes back (overlapping their own output below their
    // length, block moves above it), between random literals, through a 64 KiB dictionary:
    // the window wraps many times, and pieces of 1000 bytes cut matches mid-copy.
    const data = new Uint8Array(600 * KiB);
    const distances = [1, 2, 3, 7, 31, 32, 33, 100, 4095, 40_000, 65_535];
    let x = 5;
    const rnd = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x >>> 8;
    };
    for (let i = 0; i < data.length; ) {
      const d = distances[rnd() % distances.length];
      const end = Math.min(data.length, i + 2 + (rnd() % 600));
      if (i < d || rnd() % 4 === 0) while (i < end) data[i++] = rnd() & 0xff;
      else
        while (i < end) {
          data[i] = data[i - d];
          i++;
        }
    }
    for (const args of [["-6"], ["--lzma2=preset=6,dict=64KiB"], ["--lzma2=preset=9e,dict=4KiB"]]) {
      const stream = xz(t, data, args);
      for (const max of [1000, MiB]) {
        const { out } = await decode(stream, data.length, max);
        expect(same(out, data)).toBe(true);
      }
    }
  });

  it("decodes an empty stream to an empty chunk", async (t) => {
    const stream = xz(t, new Uint8Array(0), ["-6"]);
    const { out } = await decode(stream, 0);
    expect(out).toHaveLength(0);
    expect((await failure(stream, 512)).code).toBe("DECODE_SHORT");
  });

  it("streams a large chunk with working memory bounded by the dictionary", async (t) => {
    const big = mixed(6 * MiB, 11);
    const stream = xz(t, big, ["-1", "--lzma2=preset=1,dict=256KiB"]);
    const { out, peak } = await decode(stream, big.length, MiB);
    expect(same(out, big)).toBe(true);
    // Dictionary, input window, model and input piece: far less than the 6 MiB decoded.
    expect(peak).toBeLessThan(256 * KiB + 512 * KiB);
  });
});

describe("E29: bad headers and structures", () => {
  const data = mixed(20 * KiB, 5);
  const lzma2 = storedLzma2(data);

  it("the test writer makes streams the decoder and xz accept", async (t) => {
    for (const check of [0, 1, 4, 10]) {
      const stream = wrapXz(lzma2, data, { check, packed: lzma2.length, unpacked: data.length });
      expect(same((await decode(stream, data.length)).out, data)).toBe(true);
      requireTool("xz", t);
      const back = execFileSync("xz", ["-dc"], { input: stream });
      expect(same(new Uint8Array(back), data)).toBe(true);
    }
  });

  // Stored chunks of a length that needs block padding.
  const oddData = data.subarray(1);
  const odd = storedLzma2(oddData);
  const corrupt: Array<[string, () => Uint8Array, RegExp, number?]> = [
    ["wrong magic", () => Object.assign(wrapXz(lzma2, data), { 0: 0xfe }), /XZ magic/],
    ["a few bytes that are not XZ", () => new Uint8Array([1, 2, 3]), /XZ magic/],
    [
      "stream flags failing their CRC32",
      () => Object.assign(wrapXz(lzma2, data), { 8: 0x77 }),
      /stream flags fail/,
    ],
    [
      "block header failing its CRC32",
      () => Object.assign(wrapXz(lzma2, data), { 13: 0x01 }),
      /block header fails its CRC32/,
    ],
    [
      "non-zero block header padding",
      () => wrapXz(lzma2, data, { header: (h) => h.push(0, 7) }),
      /padding is not zero/,
    ],
    [
      "a redundant zero byte in a size",
      // Uncompressed size 5 written as 0x85 0x00: two bytes where one does.
      () => wrapXz(lzma2, data, { header: (h) => h.splice(1, 1, h[1] | 0x80, 0x85, 0x00) }),
      /bad uncompressed size/,
    ],
    ["compressed size 0", () => wrapXz(lzma2, data, { packed: 0 }), /compressed size of 0/],
    [
      "LZMA2 not last",
      () =>
        wrapXz(lzma2, data, {
          filters: [
            [0x21, [16]],
            [0x21, [16]],
          ],
        }),
      /not the last filter/,
    ],
    [
      "LZMA2 properties over 40",
      () => wrapXz(lzma2, data, { filters: [[0x21, [41]]] }),
      /invalid properties/,
    ],
    [
      "LZMA2 properties of two bytes",
      () => wrapXz(lzma2, data, { filters: [[0x21, [16, 0]]] }),
      /invalid properties/,
    ],
    [
      "a reserved filter ID",
      () =>
        wrapXz(lzma2, data, {
          filters: [
            [2 ** 62, []],
            [0x21, [16]],
          ],
        }),
      /reserved filter/,
    ],
    [
      "a wrong compressed size",
      () => wrapXz(lzma2, data, { packed: lzma2.length + 1 }),
      /compressed bytes; its header says/,
    ],
    [
      "a smaller uncompressed size",
      () => wrapXz(lzma2, data, { unpacked: data.length - 1 }),
      /past its declared uncompressed size/,
    ],
    [
      "a larger uncompressed size",
      () => wrapXz(lzma2, data, { unpacked: data.length + 1 }),
      /decodes to \d+ bytes; its header says/,
      data.length + 1,
    ],
    ["non-zero block padding", () => wrapXz(odd, oddData, { blockPadding: 1 }), /block padding/],
    [
      "a wrong CRC32 check",
      () => wrapXz(lzma2, mixed(20 * KiB, 6), { check: 1 }),
      /check does not match/,
    ],
    [
      "a wrong CRC64 check",
      () => wrapXz(lzma2, mixed(20 * KiB, 6), { check: 4 }),
      /check does not match/,
    ],
    [
      "an index with two records",
      () =>
        wrapXz(lzma2, data, {
          records: [
            [1, 1],
            [1, 1],
          ],
        }),
      /index lists 2 blocks; the stream has 1/,
    ],
    [
      "an index with a wrong size",
      () => wrapXz(lzma2, data, { records: [[24 + lzma2.length, data.length + 1]] }),
      /index records differ/,
    ],
    [
      "a footer with a wrong index size",
      () => wrapXz(lzma2, data, { backwardDelta: 1 }),
      /footer records/,
    ],
    [
      "footer flags differing from the header's",
      () => wrapXz(lzma2, data, { footerFlags: [0, 4] }),
      /differ from the header/,
    ],
  ];
  for (const [name, make, message, size] of corrupt) {
    it(`${name} is DECODE_CORRUPT`, async () => {
      const err = await failure(make(), size ?? data.length);
      expect(err.code).toBe("DECODE_CORRUPT");
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/^table 2 chunk 5: /);
    });
  }

  it("a footer without its magic is DECODE_CORRUPT", async () => {
    const s = wrapXz(lzma2, data);
    s[s.length - 1] = 0;
    expect((await failure(s, data.length)).message).toMatch(/YZ magic/);
  });

  const unsupported: Array<[string, () => Uint8Array, RegExp]> = [
    [
      "BCJ x86 before LZMA2",
      () =>
        wrapXz(lzma2, data, {
          filters: [
            [0x04, []],
            [0x21, [16]],
          ],
        }),
      /filter 0x04 \(BCJ x86\)/,
    ],
    [
      "delta before LZMA2",
      () =>
        wrapXz(lzma2, data, {
          filters: [
            [0x03, [0]],
            [0x21, [16]],
          ],
        }),
      /filter 0x03 \(delta\)/,
    ],
    [
      "an unknown filter",
      () =>
        wrapXz(lzma2, data, {
          filters: [
            [0x4242, []],
            [0x21, [16]],
          ],
        }),
      /filter 0x4242 is not supported/,
    ],
    [
      "reserved stream flag bits",
      () => wrapXz(lzma2, data, { streamFlags: [0, 0x11] }),
      /reserved bits/,
    ],
    [
      "a reserved check type",
      () => wrapXz(lzma2, data, { check: 2 }),
      /check type 0x02 is reserved/,
    ],
    [
      "reserved block flag bits",
      () =>
        wrapXz(lzma2, data, {
          header: (h) => {
            h[1] |= 0x04;
          },
        }),
      /block flags set reserved bits/,
    ],
  ];
  for (const [name, make, message] of unsupported) {
    it(`${name} is CHUNK_TYPE_UNSUPPORTED`, async () => {
      const err = await failure(make(), data.length);
      expect(err.code).toBe("CHUNK_TYPE_UNSUPPORTED");
      expect(err.message).toMatch(message);
    });
  }

  it("streams xz makes with BCJ or delta filters name the filter", async (t) => {
    for (const [args, name] of [
      [["--x86", "--lzma2"], /0x04 \(BCJ x86\)/],
      [["--arm", "--lzma2"], /0x07 \(BCJ ARM\)/],
      [["--delta=dist=4", "--lzma2"], /0x03 \(delta\)/],
    ] as const) {
      const err = await failure(xz(t, data, [...args]), data.length);
      expect(err.code).toBe("CHUNK_TYPE_UNSUPPORTED");
      expect(err.message).toMatch(name);
    }
  });

  it("a SHA-256 check is read but not verified", async () => {
    const s = wrapXz(lzma2, data, { check: 10 });
    const at = s.length - 12 - 8 - 32;
    s[at] ^= 1;
    expect(same((await decode(s, data.length)).out, data)).toBe(true);
  });
});

describe("E29: LZMA2 chunks", () => {
  const data = mixed(50 * KiB, 9);
  const wrap = (l: number[]) => wrapXz(new Uint8Array(l), data, { check: 0 });

  it("stored chunks decode, wrapping the dictionary at every size", async () => {
    for (const piece of [1, 100, 4096, 65536]) {
      const s = wrapXz(storedLzma2(data, piece), data, { check: 4, filters: [[0x21, [0]]] });
      expect(same((await decode(s, data.length, 3000)).out, data)).toBe(true);
    }
  });

  const cases: Array<[string, number[], RegExp]> = [
    [
      "a first chunk without a dictionary reset",
      [0x02, 0, 0, 0x41, 0x00],
      /does not reset the dictionary/,
    ],
    ["control byte 0x03", [0x01, 0, 0, 0x41, 0x03], /invalid LZMA2 control byte 0x3/],
    [
      "an LZMA chunk without properties after a reset",
      [0x01, 0, 0, 0x41, 0x80, 0, 0, 0, 4, 0, 0, 0, 0, 0],
      /lacks the properties/,
    ],
    ["lc + lp over 4", [0xe0, 0, 0, 0, 4, 4 + 9, 0, 0, 0, 0, 0], /invalid LZMA properties/],
    ["pb over 4", [0xe0, 0, 0, 0, 4, 225, 0, 0, 0, 0, 0], /invalid LZMA properties/],
    [
      "a range coder not starting with 0",
      [0xe0, 0, 0, 0, 4, 0x5d, 1, 0, 0, 0, 0],
      /range coder header/,
    ],
    ["an LZMA chunk of 4 bytes", [0xe0, 0, 0, 0, 3, 0x5d, 0, 0, 0, 0], /range coder header/],
  ];
  for (const [name, lzma2, message] of cases) {
    it(`${name} is DECODE_CORRUPT`, async () => {
      const err = await failure(wrap(lzma2), data.length);
      expect(err.code).toBe("DECODE_CORRUPT");
      expect(err.message).toMatch(message);
    });
  }

  it("an LZMA chunk not using its compressed size exactly is DECODE_CORRUPT", async (t) => {
    const small = mixed(3000, 2);
    const raw = xz(t, small, ["--format=raw", "--lzma2=preset=6"]);
    expect(raw[0]).toBeGreaterThanOrEqual(0xe0); // one LZMA chunk, then the end byte
    expect(same((await decode(wrapXz(raw, small), small.length)).out, small)).toBe(true);
    // One more compressed byte declared, and a zero byte inserted after the chunk's data.
    const packed = ((raw[3] << 8) | raw[4]) + 1;
    const longer = new Uint8Array([...raw.subarray(0, raw.length - 1), 0, 0]);
    longer[3] = packed >> 8;
    longer[4] = packed & 0xff;
    const err = await failure(wrapXz(longer, small), small.length);
    expect(err.message).toMatch(/does not end where its sizes say/);
    // One fewer: the decoder runs out of compressed bytes.
    const shorter = new Uint8Array([...raw.subarray(0, raw.length - 2), 0]);
    shorter[3] = (packed - 2) >> 8;
    shorter[4] = (packed - 2) & 0xff;
    expect((await failure(wrapXz(shorter, small), small.length)).code).toBe("DECODE_CORRUPT");
  });
});

describe("E29: truncation, corruption, sizes, budget, trailing data", () => {
  it("every truncation is DECODE_SHORT", async (t) => {
    const data = mixed(30 * KiB, 13);
    const stream = xz(t, data, ["-6", "-T2", "--block-size=12000"]);
    for (let n = 0; n < stream.length; n++) {
      const err = await failure(stream.subarray(0, n), data.length);
      expect(err.code, `truncated to ${n} bytes`).toBe("DECODE_SHORT");
    }
  });

  it("byte flips (fixed seed) always fail with a decode error, never anything else", async (t) => {
    const data = mixed(60 * KiB, 17);
    for (const args of [["-6"], ["-0", "--check=crc32", "-T2", "--block-size=20000"]]) {
      const stream = xz(t, data, args);
      let seed = 12345;
      const codes = new Set<string>();
      for (let k = 0; k < 150; k++) {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        const at = seed % stream.length;
        const bad = stream.slice();
        bad[at] ^= 1 << ((seed >>> 16) % 8);
        const err = await failure(bad, data.length);
        expect(err.code).toMatch(
          /^DECODE_(CORRUPT|SHORT|OVERRUN|TRAILING)$|^CHUNK_TYPE_UNSUPPORTED$/,
        );
        codes.add(err.code);
      }
      expect(codes.has("DECODE_CORRUPT")).toBe(true);
    }
  });

  it("output past the declared size is DECODE_OVERRUN, one byte past at most", async (t) => {
    const data = mixed(100 * KiB, 19);
    const stream = xz(t, data, ["-6"]);
    const err = await failure(stream, data.length - 512);
    expect(err.code).toBe("DECODE_OVERRUN");
    // The cursor hands out exactly the declared bytes before refusing the next one.
    const ctx = ctxFor(stream, 4096);
    const cursor = xzCodec.open(ctx);
    let n = 0;
    const e = await (async () => {
      for (;;) n += (await cursor.next(1000)).length;
    })().catch((x: unknown) => x);
    expect(n).toBe(4096);
    expect((e as DmgError).code).toBe("DECODE_OVERRUN");
    expect(ctx.memory.used).toBe(0);
  });

  it("a block declaring more than the chunk's size is DECODE_OVERRUN before decoding", async (t) => {
    const data = mixed(100 * KiB, 19);
    const stream = xz(t, data, ["-6", "-T2", "--block-size=1MiB"]);
    const ctx = ctxFor(stream, data.length - 512);
    const cursor = xzCodec.open(ctx);
    const e = (await cursor.next(1000).catch((x: unknown) => x)) as DmgError;
    expect(e.code).toBe("DECODE_OVERRUN");
    expect(e.message).toMatch(/declares 102400 uncompressed bytes/);
    expect(cursor.position).toBe(0);
    expect(ctx.memory.used).toBe(0);
  });

  it("output short of the declared size is DECODE_SHORT", async (t) => {
    const data = mixed(100 * KiB, 19);
    const err = await failure(xz(t, data, ["-6"]), data.length + 512);
    expect(err.code).toBe("DECODE_SHORT");
    expect(err.message).toMatch(/ends after 102400 of the declared 102912 bytes/);
  });

  it("a second stream, stream padding or garbage after the footer is DECODE_TRAILING", async (t) => {
    const a = mixed(10 * KiB, 1);
    const b = mixed(10 * KiB, 2);
    const sa = xz(t, a, ["-6"]);
    const both = new Uint8Array([...sa, ...xz(t, b, ["-6"])]);
    expect((await failure(both, 20 * KiB)).code).toBe("DECODE_TRAILING");
    expect((await failure(new Uint8Array([...sa, 0, 0, 0, 0]), 10 * KiB)).code).toBe(
      "DECODE_TRAILING",
    );
    const err = await failure(new Uint8Array([...sa, 0x42]), 10 * KiB);
    expect(err.code).toBe("DECODE_TRAILING");
    expect(err.message).toMatch(/1 bytes follow the end of the XZ stream/);
  });

  it("a dictionary over the working-memory budget is refused before allocation", async (t) => {
    const data = mixed(64 * KiB, 23);
    // Read from stdin, xz keeps the dictionary it is given, however small the input.
    const stream = xz(t, data, ["--lzma2=preset=1,dict=64MiB"]);
    const memory = new MemoryMeter(32 * MiB);
    // The chunk declares 64 MiB, so a 64 MiB dictionary could be needed: refused.
    const err = await failure(stream, 64 * MiB, memory);
    expect(err.code).toBe("BUDGET_WORKING_MEMORY");
    expect(err.message).toMatch(/LZMA2 dictionary \(67108864 bytes declared\)/);
    expect(memory.peak).toBeLessThan(MiB);
    // A dictionary larger than the chunk is capped at the chunk's size.
    const { out, peak } = await decode(stream, data.length, 100_000, new MemoryMeter(MiB));
    expect(same(out, data)).toBe(true);
    expect(peak).toBeLessThan(512 * KiB);
  });

  it("the 4 GiB dictionary property is refused for a large chunk", async () => {
    const data = mixed(8 * KiB, 1);
    const s = wrapXz(storedLzma2(data), data, { filters: [[0x21, [40]]] });
    const err = await failure(s, 512 * MiB, new MemoryMeter(32 * MiB));
    expect(err.code).toBe("BUDGET_WORKING_MEMORY");
  });

  it("latches the first error and refuses use after close", async (t) => {
    const data = mixed(10 * KiB, 1);
    const stream = xz(t, data, ["-6"]);
    const ctx = ctxFor(stream.subarray(0, 40), data.length);
    const cursor = xzCodec.open(ctx);
    const first = await cursor.next(100).catch((x: unknown) => x);
    expect((first as DmgError).code).toBe("DECODE_SHORT");
    expect(await cursor.next(100).catch((x: unknown) => x)).toBe(first);
    const again = xzCodec.open(ctxFor(stream, data.length));
    again.close();
    again.close();
    expect(((await again.next(10).catch((x: unknown) => x)) as DmgError).code).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("a budget too small for the codec's own state is BUDGET_WORKING_MEMORY at open", () => {
    const memory = new MemoryMeter(100 * KiB);
    const ctx = ctxFor(new Uint8Array(100), 512, memory);
    expect(() => xzCodec.open(ctx)).toThrow(/working memory/);
    expect(memory.used).toBe(0);
  });
});

describe("ULMO images", () => {
  it("the real hdiutil image decodes within a 1 MiB budget despite its 8 MiB dictionaries", async () => {
    const bytes = new Uint8Array(readFileSync(join(REAL, "citruz_dmgwiz_input_lzma.dmg")));
    const image = await openDmg(bytes, { budget: { maxWorkingMemory: MiB } });
    const hash = createHash("sha256");
    for await (const piece of image.stream()) hash.update(piece);
    expect(hash.digest("hex")).toBe(
      "1407509ff44696aab011815d84951ad2c53cb7345a71d9803b73817c2d2d83cf",
    );
    await image.close();
  });

  /** An image of ULMO chunks (xz with `args`) and other chunk types, and its disk. */
  function ulmoImage(t: SkipContext, seed: number, sectors: number[], args: string[][]) {
    const chunks: ChunkModel[] = [];
    const parts: Uint8Array[] = [];
    sectors.forEach((n, i) => {
      const data = i % 4 === 3 ? new Uint8Array(n * 512) : mixed(n * 512, seed + i);
      parts.push(data);
      if (i % 4 === 3) chunks.push({ type: UDZE, sectors: n });
      else chunks.push({ type: ULMO, sectors: n, payload: xz(t, data, args[i % args.length]) });
    });
    const disk = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let pos = 0;
    for (const p of parts) {
      disk.set(p, pos);
      pos += p.length;
    }
    const image = buildDmg({
      tables: [{ name: "disk image (Apple_HFS : 0)", chunks, decoded: disk }],
    });
    return { image, disk };
  }

  const images: Array<[string, number, number[], string[][]]> = [
    ["one chunk, xz -6", 1, [200], [["-6"]]],
    [
      "hdiutil-like chunks: no check, sizes in headers",
      2,
      [816, 816, 300, 64, 816],
      [["--check=none", "-T2", "--block-size=8MiB"]],
    ],
    [
      "mixed presets and checks",
      3,
      [100, 7, 300, 20, 1, 256],
      [["-0"], ["-9e", "--check=crc32"], ["--check=sha256", "--lzma2=dict=16KiB"]],
    ],
  ];
  for (const [name, seed, sectors, args] of images) {
    it(`${name}: our read equals the source disk and 7-Zip's read`, async (t) => {
      const { image, disk } = ulmoImage(t, seed, sectors, args);
      const dmg = await openDmg(image);
      const ours = await dmg.read(0, dmg.size);
      await dmg.close();
      expect(same(ours, disk)).toBe(true);
      const report = await validateDmg(image);
      expect(report.errors).toEqual([]);
      requireTool("7zz", t);
      const seven = sevenZipExtract(image);
      expect(seven.status).toBe(0);
      expect(same(seven.disk!, ours)).toBe(true);
    });
  }

  it("a ULMO chunk decoding past its sectors fails the read with DECODE_OVERRUN", async (t) => {
    const data = mixed(8 * 512, 4);
    const payload = xz(t, data, ["-6"]);
    const image = buildDmg({
      tables: [
        {
          name: "d",
          chunks: [{ type: ULMO, sectors: 7, payload }],
        },
      ],
    });
    const dmg = await openDmg(image);
    const err = await dmg.read(0, dmg.size).catch((x: unknown) => x);
    expect((err as DmgError).code).toBe("DECODE_OVERRUN");
    expect((err as DmgError).chunk).toBe(0);
    await dmg.close();
  });
});
