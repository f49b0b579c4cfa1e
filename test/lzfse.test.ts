/**
 * The LZFSE codec (ULFO): the reference encoder's vectors decode exactly at any piece size,
 * with bounded memory; `bvx1`, LZVN and stored blocks; every malformed stream (truncated,
 * flipped, hand-made) fails with a DECODE_* DmgError located in its chunk; the encoder's
 * streams round-trip here and through 7-Zip.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lzfseCodec } from "../src/codecs/lzfse/lzfse.js";
import { type LzfseBlockHeader, v2HeaderSize } from "../src/codecs/lzfse/lzfse-fse.js";
import { codecTable } from "../src/codecs/registry.js";
import { DmgError } from "../src/core/errors.js";
import { MemoryMeter } from "../src/core/limits.js";
import { ULFO } from "../src/format/types.js";
import { openDmg } from "../src/index.js";
import { encodeLzfse } from "../src/write/lzfse-encode.js";
import { buildDmg } from "../src/write/model.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { REAL } from "./helpers/corpus.js";
import {
  asV1,
  blocks,
  cat,
  END,
  le32,
  lzvn,
  mixedBytes,
  rng,
  stored,
  v2At,
} from "./helpers/lzfse-blocks.js";
import { requireTool, sevenZipExtract } from "./helpers/reference.js";

const FIXTURES = join(import.meta.dirname, "fixtures", "lzfse");
const MiB = 1024 * 1024;
/** The chunk sits at this offset of its source, behind filler, so offsets are exercised. */
const CHUNK_AT = 333;
const WHERE = { table: 2, chunk: 5 };

interface Vector {
  name: string;
  size: number;
  sha256: string;
  magic: string;
  stream: Uint8Array;
  raw?: Uint8Array;
}

/** The vectors the fixtures README lists, with their streams (and raw bytes where included). */
const VECTORS: Vector[] = readFileSync(join(FIXTURES, "README.md"), "utf8")
  .split("\n")
  .flatMap((line) => {
    const m = /^\| ([\w-]+) \| (\d+) \| ([0-9a-f]{64}) \| \d+ \| (bvx.) \|$/.exec(line);
    if (!m) return [];
    const [, name, size, sha256, magic] = m;
    const file = (ext: string) => new Uint8Array(readFileSync(join(FIXTURES, `${name}.${ext}`)));
    const raw = Number(size) <= 65536 ? file("raw") : undefined;
    return [{ name, size: Number(size), sha256, magic, stream: file("lzfse"), raw }];
  });
const vector = (name: string) => VECTORS.find((v) => v.name === name)!;

function contextFor(stream: Uint8Array, outputSize: number, memory = new MemoryMeter(32 * MiB)) {
  return chunkContext(stream, outputSize, { at: CHUNK_AT, memory, where: WHERE });
}

/** Decode a whole stream in pieces of at most `piece` bytes; the meter must end empty. */
async function decodeStream(stream: Uint8Array, outputSize: number, piece = 64 * 1024) {
  const ctx = contextFor(stream, outputSize);
  const cursor = lzfseCodec.open(ctx);
  const out = new Uint8Array(outputSize);
  let at = 0;
  for (let p = await cursor.next(piece); p.length > 0; p = await cursor.next(piece)) {
    if (p.length > piece || at + p.length > outputSize) throw new Error("piece too large");
    out.set(p, at);
    at += p.length;
    expect(cursor.position).toBe(at);
  }
  cursor.close();
  expect(ctx.memory.used).toBe(0);
  return { out, peak: ctx.memory.peak };
}

/** The DmgError decoding `stream` raises; it must carry a DECODE_* code and the chunk. */
async function decodeError(stream: Uint8Array, outputSize: number): Promise<DmgError> {
  const ctx = contextFor(stream, outputSize);
  const cursor = lzfseCodec.open(ctx);
  let err: unknown;
  try {
    while ((await cursor.next(40_000)).length > 0);
  } catch (e) {
    err = e;
  }
  expect(err, "decoding should fail").toBeInstanceOf(DmgError);
  const e = err as DmgError;
  expect(e.code).toMatch(/^DECODE_/);
  expect([e.table, e.chunk]).toEqual([WHERE.table, WHERE.chunk]);
  expect(e.offset).toBeGreaterThanOrEqual(CHUNK_AT);
  expect(e.offset).toBeLessThanOrEqual(CHUNK_AT + stream.length);
  expect(ctx.memory.used).toBe(0);
  await expect(cursor.next(1)).rejects.toBe(e);
  return e;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;
describe("LZFSE: the reference encoder's vectors", () => {
  it("cover stored, LZVN and bvx2 blocks", () => {
    expect(VECTORS.length).toBe(14);
    const kinds = new Set(VECTORS.map((v) => v.magic));
    expect([...kinds].sort()).toEqual(["bvx-", "bvx2", "bvxn"]);
    for (const v of VECTORS) {
      expect(new TextDecoder().decode(v.stream.subarray(0, 4))).toBe(v.magic);
    }
  });

  for (const v of VECTORS) {
    const pieces = v.size > 2 * MiB ? [MiB, 4099] : [MiB, 65536, 4099, 1];
    it(`${v.name} decodes to its ${v.size} bytes at piece sizes ${pieces.join(", ")}`, async () => {
      for (const piece of pieces) {
        if (piece === 1 && v.size > 200_000) continue;
        const { out } = await decodeStream(v.stream, v.size, piece);
        expect(sha256(out)).toBe(v.sha256);
        if (v.raw) expect(same(out, v.raw)).toBe(true);
      }
    });
  }

  it("keeps working memory small: under 1 MiB for mixed-3m, a few KiB for tiny chunks", async () => {
    const big = await decodeStream(vector("mixed-3m").stream, vector("mixed-3m").size);
    expect(big.peak).toBeLessThan(1 * MiB);
    const tiny = await decodeStream(vector("text-100").stream, 100);
    expect(tiny.peak).toBeLessThan(4096);
  });

  it("stops at a working-memory budget too small for the history with BUDGET_WORKING_MEMORY", async () => {
    const v = vector("text-1m");
    const ctx = contextFor(v.stream, v.size, new MemoryMeter(100_000));
    let err: unknown;
    try {
      lzfseCodec.open(ctx);
    } catch (e) {
      err = e;
    }
    expect((err as DmgError).code).toBe("BUDGET_WORKING_MEMORY");
    expect(ctx.memory.used).toBe(0);
  });

  it("reaches back across blocks: later bvx2 blocks alone refer before their start", async () => {
    const parts = blocks(vector("mixed-3m").stream);
    expect(parts.length).toBeGreaterThan(3);
    let far = 0;
    for (const b of parts.slice(1, -1)) {
      const stream = cat(b, END);
      const size = v2At(b, 0).n_raw_bytes;
      const ctx = contextFor(stream, size);
      const cursor = lzfseCodec.open(ctx);
      try {
        while ((await cursor.next(MiB)).length > 0);
      } catch (e) {
        expect((e as DmgError).code).toBe("DECODE_CORRUPT");
        expect((e as DmgError).message).toMatch(/reaches \d+ bytes back/);
        far++;
      }
      expect(ctx.memory.used).toBe(0);
    }
    expect(far).toBeGreaterThan(parts.length / 2);
  });

  it("decodes the same blocks with bvx1 headers (plain frequency tables)", async () => {
    for (const name of ["text-64k", "mixed-3m"]) {
      const v = vector(name);
      const v1 = cat(...blocks(v.stream).map((b) => (b[3] === 0x32 ? asV1(b) : b)));
      expect(new TextDecoder().decode(v1.subarray(0, 4))).toBe("bvx1");
      const { out } = await decodeStream(v1, v.size);
      expect(sha256(out)).toBe(v.sha256);
    }
  });
});

describe("LZFSE: declared sizes and stream ends", () => {
  const cases = ["one-byte", "text-3000", "text-64k", "runs-200k"].map(vector);

  for (const v of cases) {
    it(`${v.name} (${v.magic}): a smaller declared size is DECODE_OVERRUN, a larger DECODE_SHORT`, async () => {
      if (v.size > 1) expect((await decodeError(v.stream, v.size - 1)).code).toBe("DECODE_OVERRUN");
      expect((await decodeError(v.stream, 0)).code).toBe("DECODE_OVERRUN");
      expect((await decodeError(v.stream, v.size + 1)).code).toBe("DECODE_SHORT");
      expect((await decodeError(v.stream, v.size + 512 * 1024)).code).toBe("DECODE_SHORT");
    });
  }

  it("refuses input after bvx$ (DECODE_TRAILING) and a stream without bvx$ (DECODE_SHORT)", async () => {
    const v = vector("text-64k");
    const trailing = await decodeError(cat(v.stream, [0]), v.size);
    expect(trailing.code).toBe("DECODE_TRAILING");
    expect(trailing.offset).toBe(CHUNK_AT + v.stream.length);
    const cut = await decodeError(v.stream.subarray(0, v.stream.length - 4), v.size);
    expect(cut.code).toBe("DECODE_SHORT");
    expect(cut.message).toMatch(/bvx\$/);
    expect((await decodeError(new Uint8Array(0), 0)).code).toBe("DECODE_SHORT");
    expect((await decodeStream(Uint8Array.from(END), 0)).out.length).toBe(0);
  });

  it("refuses an unknown block magic with DECODE_CORRUPT at the block", async () => {
    const v = vector("text-3000");
    const bad = cat(stored([1, 2, 3]), v.stream);
    bad[11 + 3] = 0x33; // bvxn -> bvx3
    const err = await decodeError(bad, v.size + 3);
    expect(err.code).toBe("DECODE_CORRUPT");
    expect(err.offset).toBe(CHUNK_AT + 11);
    expect(err.message).toMatch(/magic 0x33787662/);
  });

  it("gives a DECODE_* error for every truncation of every vector", async () => {
    for (const v of VECTORS.filter((x) => x.stream.length < 400_000)) {
      const n = v.stream.length;
      const cuts = new Set([1, 3, 4, 7, 8, 12, 40, n >> 1, n - 9, n - 5, n - 4, n - 1]);
      for (const cut of [...cuts].filter((c) => c > 0 && c < n)) {
        const err = await decodeError(v.stream.subarray(0, cut), v.size);
        expect(["DECODE_SHORT", "DECODE_CORRUPT"]).toContain(err.code);
      }
    }
  });
});

describe("LZFSE: corrupt streams", () => {
  it("flipped bytes give the right bytes or a DECODE_* error, never another exception", async () => {
    const codes = new Set<string>();
    for (const name of [
      "text-4096",
      "text-64k",
      "text-3000",
      "runs-200k",
      "random-1k",
      "zeros-1m",
    ]) {
      const v = vector(name);
      const next = rng(name.length * 7919);
      for (let t = 0; t < 40; t++) {
        const bad = v.stream.slice();
        const at = next() % bad.length;
        bad[at] ^= 1 << (next() % 8);
        const ctx = contextFor(bad, v.size);
        const cursor = lzfseCodec.open(ctx);
        try {
          const hash = createHash("sha256");
          for (let p = await cursor.next(MiB); p.length > 0; p = await cursor.next(MiB))
            hash.update(p);
          codes.add("decoded");
        } catch (e) {
          expect(e).toBeInstanceOf(DmgError);
          expect((e as DmgError).code).toMatch(/^DECODE_/);
          codes.add((e as DmgError).code);
        }
        expect(ctx.memory.used).toBe(0);
      }
    }
    expect(codes.has("DECODE_CORRUPT")).toBe(true);
  });

  const text = () => vector("text-4096");
  const v2Cases: [string, (b: Uint8Array) => void, RegExp][] = [
    ["a header size below 32", (b) => b.set(le32(31), 24), /header size 31/],
    ["a header size past any frequency table", (b) => b.set(le32(700), 24), /header size 700/],
    [
      "one header byte too many",
      (b) => b.set(le32(v2HeaderSize(b) + 1), 24),
      /longer than its frequency/,
    ],
    ["no frequency tables", (b) => b.set(le32(32), 24), /frequency tables/],
  ];
  for (const [what, edit, message] of v2Cases) {
    it(`refuses a bvx2 block with ${what} (DECODE_CORRUPT)`, async () => {
      const bad = text().stream.slice();
      edit(bad);
      const err = await decodeError(bad, 4096);
      expect(err.code).toBe("DECODE_CORRUPT");
      expect(err.message).toMatch(message);
    });
  }

  /** The most frequent L symbol. */
  const largestL = (h: LzfseBlockHeader) => {
    const l = [...h.freq.subarray(0, 20)];
    return l.indexOf(Math.max(...l));
  };
  const v1Cases: [string, (h: LzfseBlockHeader) => void, RegExp][] = [
    [
      "L frequencies summing below 64",
      (h) => (h.freq[largestL(h)] -= 1),
      /L frequencies sum to 63/,
    ],
    [
      "literal frequencies summing past 1024",
      (h) => (h.freq[200] += 1),
      /literal frequencies sum to 1025/,
    ],
    ["a D state outside its table", (h) => (h.d_state = 256), /state 256 of a 256-state/],
    ["41000 literals", (h) => (h.n_literals = 41000), /41000 literals/],
    ["a literal bit count of -9", (h) => (h.literal_bits = -9), /bit counts -9/],
    ["a payload over 1 MiB", (h) => (h.n_lmd_payload_bytes = 2 ** 20), /over 1048575/],
    [
      "one byte more to decode",
      (h) => (h.n_raw_bytes += 1),
      /ends after 4096 of its declared 4097/,
    ],
  ];
  for (const [what, edit, message] of v1Cases) {
    it(`refuses a bvx1 block with ${what} (DECODE_CORRUPT)`, async () => {
      const err = await decodeError(cat(asV1(blocks(text().stream)[0], edit), END), 8192);
      expect(err.code).toBe("DECODE_CORRUPT");
      expect(err.message).toMatch(message);
    });
  }

  it("refuses a block declaring fewer bytes than its matches make (DECODE_CORRUPT)", async () => {
    const block = asV1(blocks(text().stream)[0], (h) => (h.n_raw_bytes -= 1));
    const err = await decodeError(cat(block, stored([7]), END), 4096);
    expect(err.message).toMatch(/decodes past its declared 4095/);
  });

  it("refuses a payload past the end of the chunk before reading it (DECODE_SHORT)", async () => {
    const block = asV1(blocks(text().stream)[0], (h) => (h.n_lmd_payload_bytes += 5000));
    const err = await decodeError(cat(block, END), 4096);
    expect(err.code).toBe("DECODE_SHORT");
    expect(err.message).toMatch(/payload of \d+ bytes runs past/);
  });
});

describe("LZFSE: LZVN and stored blocks", () => {
  const abc = [0x61, 0x62, 0x63];

  it("copies matches of every short distance as a byte-by-byte copy would, across slides of the history", async () => {
    // Distances 1-40 (overlapping copies, word copies that read their own output) and far
    // ones, lengths 3-271, 0-3 literals before each to vary alignment; over 600 KB, so the
    // history slides and copies meet the end of the output buffer.
    const next = rng(17);
    const want = Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
    const ops = [0xe0, 64 - 16, ...want];
    while (want.length < 620_000) {
      const r = next();
      const l = r & 3;
      const far = Math.min(65_535, want.length);
      const d = (r >>> 2) % 8 === 0 ? 1 + (next() % far) : 1 + ((r >>> 5) % 40);
      // With 1-3 literals the top M values are other opcodes' patterns.
      const m = 3 + Math.min((r >>> 11) & 7, [7, 5, 3, 1][l]);
      const lits = Array.from({ length: l }, () => next() & 0xff);
      // lrg_d: LL MMM 111, then D as 16 bits.
      ops.push((l << 6) | ((m - 3) << 3) | 7, d & 0xff, d >> 8, ...lits);
      want.push(...lits);
      const extra = (r >>> 14) % 3 === 0 ? (r >>> 16) % 256 : -1;
      // lrg_m: M8 + 16 more bytes at the same distance.
      if (extra >= 0) ops.push(0xf0, extra);
      const total = m + (extra >= 0 ? extra + 16 : 0);
      for (let i = 0; i < total; i++) want.push(want[want.length - d]);
    }
    const stream = cat(lzvn(want.length, ops), END);
    for (const piece of [MiB, 65536, 4099]) {
      const { out } = await decodeStream(stream, want.length, piece);
      expect(same(out, Uint8Array.from(want))).toBe(true);
    }
  });

  it("decodes every LZVN opcode kind, across blocks, and no-ops", async () => {
    const big = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7) & 0xff);
    const ops = [
      0xe3,
      ...abc, // sml_l: "abc"
      0xc8,
      0x03,
      0x78,
      0x79,
      0x7a, // sml_d L=3 M=4 D=3: "xyz" + 4 bytes from 3 back
      0x0e,
      0x16, // no-ops
      0xa0 | (1 << 3) | 1,
      0x00 | (2 << 2) | 1,
      0x01,
      0x51, // med_d L=1 M=8 D=66: 'Q' + 8 bytes
      0x46 | (2 << 3),
      0x52, // pre_d L=1 M=5: 'R' + 5 bytes at D=66
      0xf5, // sml_m M=5 (D=66)
      0xf0,
      4, // lrg_m M=20 (D=66)
      0x07 | (7 << 3),
      0x30,
      0x75, // lrg_d L=0 M=10 D=30000: into the stored block before
      0xe0,
      0,
      ...new Array<number>(16).fill(0x2d), // lrg_l: 16 bytes
    ];
    const size = 3 + 7 + 9 + 6 + 5 + 20 + 10 + 16;
    const stream = cat(stored(big), lzvn(size, ops), END);
    const { out } = await decodeStream(stream, big.length + size, 7);
    const want = [...big, ...abc, 0x78, 0x79, 0x7a];
    const copy = (d: number, m: number) => {
      for (let i = 0; i < m; i++) want.push(want[want.length - d]);
    };
    copy(3, 4);
    want.push(0x51);
    copy(66, 8);
    want.push(0x52);
    copy(66, 5 + 5 + 20);
    copy(30000, 10);
    want.push(...new Array<number>(16).fill(0x2d));
    expect(same(out, Uint8Array.from(want))).toBe(true);
  });

  /** A whole stream of one block. */
  const one = (block: Uint8Array) => cat(block, END);
  const bad: [string, Uint8Array, number, string, RegExp][] = [
    [
      "a match before the output start",
      one(lzvn(7, [0xe3, ...abc, 0x08, 4])),
      7,
      "DECODE_CORRUPT",
      /reaches 4 bytes back with 3/,
    ],
    [
      "a previous-distance match with no distance",
      one(lzvn(8, [0xe3, ...abc, 0xf5])),
      8,
      "DECODE_CORRUPT",
      /reaches 0 bytes back/,
    ],
    [
      "an undefined opcode",
      one(lzvn(3, [0xe3, ...abc, 0x1e])),
      3,
      "DECODE_CORRUPT",
      /opcode 0x1e is undefined/,
    ],
    ["an undefined opcode 0x70", one(lzvn(3, [0x70])), 3, "DECODE_CORRUPT", /opcode 0x70/],
    [
      "no end-of-stream opcode",
      one(lzvn(3, [0xe3, ...abc], false)),
      3,
      "DECODE_CORRUPT",
      /without its end-of-stream/,
    ],
    [
      "a short end-of-stream opcode",
      one(lzvn(3, [0xe3, ...abc, 6, 0, 0], false)),
      3,
      "DECODE_CORRUPT",
      /cut short/,
    ],
    [
      "non-zero end-of-stream padding",
      one(lzvn(3, [0xe3, ...abc, 6, 0, 0, 0, 0, 0, 0, 1], false)),
      3,
      "DECODE_CORRUPT",
      /padding is not zero/,
    ],
    [
      "bytes after end-of-stream",
      one(lzvn(3, [0xe3, ...abc, 6, 0, 0, 0, 0, 0, 0, 0, 0], false)),
      3,
      "DECODE_CORRUPT",
      /leaves 1 bytes/,
    ],
    [
      "fewer bytes than declared",
      one(lzvn(4, [0xe3, ...abc])),
      4,
      "DECODE_CORRUPT",
      /after 3 of its declared 4/,
    ],
    [
      "more bytes than declared",
      one(lzvn(2, [0xe3, ...abc])),
      2,
      "DECODE_CORRUPT",
      /past its declared 2/,
    ],
    [
      "a literal past its payload",
      one(lzvn(5, [0xe5, ...abc], false)),
      5,
      "DECODE_CORRUPT",
      /past the block payload/,
    ],
    [
      "an opcode cut by its payload",
      one(lzvn(5, [0xe3, ...abc, 0xa0], false)),
      5,
      "DECODE_CORRUPT",
      /opcode runs past/,
    ],
    [
      "a payload past the chunk",
      lzvn(3, [0xe3, ...abc]).subarray(0, 15),
      3,
      "DECODE_SHORT",
      /payload of 12 bytes runs past the 3/,
    ],
    [
      "more raw bytes than the chunk declares",
      one(lzvn(10, [0xe3, ...abc])),
      9,
      "DECODE_OVERRUN",
      /declares 10 bytes but only 9/,
    ],
    [
      "a stored block past the chunk",
      stored([1, 2, 3]).subarray(0, 10),
      3,
      "DECODE_SHORT",
      /stored block of 3 bytes/,
    ],
  ];
  for (const [what, stream, size, code, message] of bad) {
    it(`refuses ${what} (${code})`, async () => {
      const err = await decodeError(stream, size);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    });
  }
});

describe("LZFSE: the encoder", () => {
  const inputs: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["one byte", Uint8Array.of(42)],
    ["5 bytes", Uint8Array.of(1, 2, 3, 4, 5)],
    ["zeros 300k", new Uint8Array(300_000)],
    ["random 70k", Uint8Array.from({ length: 70_000 }, rng(5))],
    ["mixed 3 MiB", mixedBytes(3 * MiB, 9)],
    ["text 4096", vector("text-4096").raw!],
  ];
  for (const [name, raw] of inputs) {
    it(`round-trips ${name} as stored and LZVN blocks`, async () => {
      for (const mode of ["raw", "lzvn"] as const) {
        const stream = encodeLzfse(raw, mode);
        const magic = mode === "raw" ? "bvx-" : "bvxn";
        const kinds = blocks(stream).map((b) => new TextDecoder().decode(b.subarray(0, 4)));
        expect(kinds.at(-1)).toBe("bvx$");
        expect(kinds.slice(0, -1).every((k) => k === magic)).toBe(true);
        expect(kinds.length).toBe(1 + Math.ceil(raw.length / (mode === "raw" ? MiB : 65536)));
        const { out } = await decodeStream(stream, raw.length, 50_000);
        expect(same(out, raw)).toBe(true);
      }
    });
  }

  it("reads its input front to back, each byte once, whether or not the source fills `into`", async () => {
    // Sources read the range after a sequential reader's read ahead (sources/sequential.ts):
    // that pays only when each read starts where the one before ended.
    const raw = mixedBytes(3 * MiB, 4);
    for (const mode of ["lzvn", "raw"] as const) {
      const stream = encodeLzfse(raw, mode);
      for (const fills of [true, false]) {
        const ctx = contextFor(stream, raw.length);
        const inner = ctx.source;
        const reads: [number, number][] = [];
        ctx.source = {
          size: inner.size,
          async read(offset, length, into) {
            reads.push([offset, length]);
            const got = await inner.read(offset, length);
            if (!fills || !into) return got.slice();
            into.set(got);
            return into.subarray(0, length);
          },
        };
        const cursor = lzfseCodec.open(ctx);
        const out = new Uint8Array(raw.length);
        let at = 0;
        for (let p = await cursor.next(65536); p.length > 0; p = await cursor.next(65536)) {
          out.set(p, at);
          at += p.length;
        }
        expect(same(out, raw)).toBe(true);
        expect(reads.length).toBeGreaterThan(3);
        let end = CHUNK_AT;
        for (const [offset, length] of reads) {
          expect(offset).toBe(end);
          end += length;
        }
        expect(end).toBe(CHUNK_AT + stream.length);
      }
    }
  });

  it("compresses: LZVN is smaller than stored for repetitive data", () => {
    const raw = mixedBytes(MiB, 3);
    expect(encodeLzfse(raw, "lzvn").length).toBeLessThan(raw.length * 0.8);
    expect(encodeLzfse(new Uint8Array(300_000), "lzvn").length).toBeLessThan(10_000);
  });

  // Not stored blocks: 7-Zip 26.02 reads a `bvx-` block's bytes without counting them down, so
  // it fails on every stored block, the reference encoder's included (see the fixtures README).
  it("LZVN chunks of the encoder and bvx2 chunks of the reference encoder read the same through 7-Zip", async (ctx) => {
    requireTool("7zz", ctx);
    const a = mixedBytes(1536 * 512, 11);
    const b = vector("text-64k");
    const c = new Uint8Array(64 * 512).fill(7);
    const disk = cat(a, b.raw!, c);
    const image = buildDmg({
      tables: [
        {
          name: "lzfse",
          chunks: [
            { type: ULFO, sectors: 1536, payload: encodeLzfse(a, "lzvn") },
            { type: ULFO, sectors: 128, payload: b.stream },
            { type: ULFO, sectors: 64, payload: encodeLzfse(c, "lzvn") },
          ],
          decoded: disk,
        },
      ],
    });
    const dmg = await openDmg(image);
    expect(same(await dmg.read(0, dmg.size), disk)).toBe(true);
    const seven = sevenZipExtract(image);
    expect(seven.status, seven.stderr).toBe(0);
    expect(same(seven.disk!, disk)).toBe(true);
  });

  it("stored chunks read through the image reader", async () => {
    const a = mixedBytes(2100 * 512, 13);
    const image = buildDmg({
      tables: [
        {
          name: "stored",
          chunks: [{ type: ULFO, sectors: 2100, payload: encodeLzfse(a, "raw") }],
          decoded: a,
        },
      ],
    });
    const dmg = await openDmg(image);
    expect(same(await dmg.read(0, dmg.size), a)).toBe(true);
  });
});

describe("LZFSE: registry and the real file", () => {
  it("is the ULFO codec, once loaded", async () => {
    expect((await codecTable([ULFO])).get(ULFO)).toBe(lzfseCodec);
  });

  it("reads the real ULFO image as 7-Zip does", async (ctx) => {
    requireTool("7zz", ctx);
    const image = new Uint8Array(
      readFileSync(join(REAL, "jhermsmeier_node-udif_compression-lzfse.dmg")),
    );
    const dmg = await openDmg(image);
    const disk = await dmg.read(0, dmg.size);
    expect(sha256(disk)).toBe("0786ad1fdcba31a3f03ee80eb1d6e8c7ee2f4647a2b4b6f1855c9fe0719784de");
    const seven = sevenZipExtract(image);
    expect(seven.status, seven.stderr).toBe(0);
    expect(same(seven.disk!, disk)).toBe(true);
  });
});

describe("writer: LZFSE images", () => {
  it("writeDmg with codec lzfse makes ULFO chunks that read back exactly", async () => {
    const { writeDmgBytes } = await import("../src/write/writer.js");
    const { openDmg } = await import("../src/index.js");
    const raw = new Uint8Array(300_000);
    for (let i = 0; i < raw.length; i++)
      raw[i] = (i * 7) % 251 < 120 ? 0x41 + (i % 13) : (i * 31) & 0xff;
    const image = await openDmg(await writeDmgBytes(raw, { codec: "lzfse", chunkSectors: 64 }));
    expect([...image.chunks()].some((c) => c.typeName === "lzfse")).toBe(true);
    const disk = await image.read(0, image.size);
    expect(Buffer.compare(disk.subarray(0, raw.length), raw)).toBe(0);
  });
});
