/**
 * Random access inside big compressed chunks: reads resumed at index points, served by the
 * decoded-data cache or by the open decoder give exactly the bytes of a full decode, within
 * the working-memory budget, and hostile chunks give the same errors however they are reached.
 */

import { spawnSync } from "node:child_process";
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import { deflate } from "pako";
import { describe, expect, it } from "vitest";
import type { Codec } from "../src/codecs/codec.js";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import { UDBZ, UDRW, UDZE, UDZO } from "../src/format/types.js";
import { sessionOf } from "../src/image/image.js";
import { DmgError, type DmgImage, openDmg } from "../src/index.js";
import { buildDmg, type ChunkModel } from "../src/write/model.js";

const MiB = 1024 * 1024;
const CHUNK = 3 * MiB;

/** Disk bytes: 48 KiB segments of text, random bytes or zeros, by a seeded generator. */
function diskBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  const rnd = () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
  const words = ["volume ", "catalog ", "extent ", "node ", "btree ", "inode ", "\n"];
  for (let p = 0; p < size; p += 48 * 1024) {
    const end = Math.min(size, p + 48 * 1024);
    const kind = rnd() % 4;
    for (let q = p; q < end && kind !== 3; ) {
      if (kind === 2) out[q++] = rnd() >>> 24;
      else for (const c of words[rnd() % words.length]) if (q < end) out[q++] = c.charCodeAt(0);
    }
  }
  return out;
}

function bzip2(data: Uint8Array, level: number): Uint8Array {
  const r = spawnSync("bzip2", ["-c", `-${level}`], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`bzip2 failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** Every way of compressing a chunk the tests cover, by name. */
const COMPRESS: Record<string, (d: Uint8Array) => ChunkModel> = {
  "zlib 1": (d) => ({ type: UDZO, sectors: d.length / 512, payload: deflateSync(d, { level: 1 }) }),
  "zlib 6": (d) => ({ type: UDZO, sectors: d.length / 512, payload: deflateSync(d, { level: 6 }) }),
  "zlib 9": (d) => ({ type: UDZO, sectors: d.length / 512, payload: deflateSync(d, { level: 9 }) }),
  pako: (d) => ({ type: UDZO, sectors: d.length / 512, payload: deflate(d) }),
  "bzip2 1": (d) => ({ type: UDBZ, sectors: d.length / 512, payload: bzip2(d, 1) }),
  raw: (d) => ({ type: UDRW, sectors: d.length / 512, payload: d }),
};

/** An image of one chunk per entry of `kinds` (CHUNK bytes each) plus a zero chunk. */
function makeImage(kinds: string[], seed = 5) {
  const disk = new Uint8Array(kinds.length * CHUNK + MiB);
  const chunks = kinds.map((k, i) => {
    const d = diskBytes(CHUNK, seed + i);
    disk.set(d, i * CHUNK);
    return COMPRESS[k](d);
  });
  chunks.push({ type: UDZE, sectors: MiB / 512 });
  const image = buildDmg({ tables: [{ name: "disk", chunks, decoded: disk }] });
  return { image, disk };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

async function expectRead(img: DmgImage, disk: Uint8Array, offset: number, length: number) {
  const got = await img.read(offset, length);
  expect(same(got, disk.subarray(offset, offset + length)), `read ${offset}+${length}`).toBe(true);
}

describe("random reads", () => {
  const { image, disk } = makeImage(["zlib 1", "zlib 6", "zlib 9", "pako", "bzip2 1", "raw"]);

  it("equal a full decode at random offsets, resumed at index points", async () => {
    const img = await openDmg(image);
    // One full pass first: it records the points (and checks every chunk's end).
    let pos = 0;
    for await (const piece of img.stream()) {
      expect(same(piece, disk.subarray(pos, pos + piece.length))).toBe(true);
      pos += piece.length;
    }
    expect(pos).toBe(disk.length);
    const { points } = sessionOf(img);
    // 3 MiB chunks at one point per 256 KiB at most: zlib and bzip2 chunks all have some.
    expect(points.count).toBeGreaterThan(5 * 4);
    const before = img.stats().bytesDecompressed;
    const reads = fc.tuple(
      fc.integer({ min: 0, max: disk.length - 1 }),
      fc.oneof(fc.integer({ min: 1, max: 8192 }), fc.integer({ min: 1, max: 2 * MiB })),
    );
    let count = 0;
    await fc.assert(
      fc.asyncProperty(reads, async ([offset, length]) => {
        count++;
        await expectRead(img, disk, offset, Math.min(length, disk.length - offset));
      }),
      { seed: 20240611, numRuns: 250 },
    );
    // Without points each read would decode ~1.5 MiB on average before its range.
    const perRead = (img.stats().bytesDecompressed - before) / count;
    expect(perRead).toBeLessThan(MiB);
    expect(img.stats().peakWorkingMemory).toBeLessThanOrEqual(img.budget.maxWorkingMemory);
    await img.close();
    expect(sessionOf(img).memory.used).toBe(0);
  });

  it("build points lazily, without a full pass first", async () => {
    const img = await openDmg(image);
    const offsets = [2.9, 0.5, 2.2, 1.1].map((f) => Math.floor(f * MiB) + 12_345);
    for (const chunk of [0, 1, 4]) {
      for (const at of offsets) await expectRead(img, disk, chunk * CHUNK + at, 4096);
    }
    // The first read into each chunk decoded up to 2.9 MiB; the three after it resumed.
    expect(img.stats().bytesDecompressed).toBeLessThan(3 * (3 * MiB + 3 * 400 * 1024));
    await img.close();
  });

  it("bzip2: decode only the blocks a read touches", async () => {
    const img = await openDmg(image);
    const base = 4 * CHUNK;
    await expectRead(img, disk, base + CHUNK - 4096, 4096);
    // Every block start (level 1: 100k-symbol blocks) is a point: a read decodes from the
    // start of its block, not from the chunk start.
    expect(sessionOf(img).points.count).toBeGreaterThanOrEqual(CHUNK / 200_000);
    for (const at of [0.3, 2.5, 1.7, 0.9].map((f) => Math.floor(f * MiB))) {
      const before = img.stats().bytesDecompressed;
      await expectRead(img, disk, base + at, 4096);
      expect(img.stats().bytesDecompressed - before).toBeLessThan(200_000 + 65536);
    }
    await img.close();
  });

  it("keep points within a small budget, spaced wider, and give memory back on demand", async () => {
    const budget = { maxWorkingMemory: 2 * MiB };
    const img = await openDmg(image, { budget });
    for (let k = 0; k < 40; k++) {
      const offset = Math.floor((((k * 7919) % 97) / 97) * 4 * CHUNK);
      await expectRead(img, disk, offset, 4096);
    }
    const { points, memory } = sessionOf(img);
    expect(points.bytes).toBeLessThanOrEqual(MiB);
    expect(points.count).toBeGreaterThan(0);
    expect(memory.peak).toBeLessThanOrEqual(2 * MiB);
    // A read needing nearly the whole budget still fits: points and cache give way.
    const soft = points.bytes + sessionOf(img).cache.bytes;
    expect(soft).toBeGreaterThan(MiB / 2);
    const big = 2 * MiB - 600 * 1024;
    await expectRead(img, disk, 0, big);
    expect(points.bytes + sessionOf(img).cache.bytes).toBeLessThan(soft);
    expect(memory.peak).toBeLessThanOrEqual(2 * MiB);
    await img.close();
  });

  it("serve nearby reads from the decoded-data cache", async () => {
    const img = await openDmg(image);
    const at = CHUNK + 1_000_000;
    await expectRead(img, disk, at, 4096);
    const after = img.stats().bytesDecompressed;
    // Before it in the same page, the bytes just read again, and the rest of the page.
    await expectRead(img, disk, at - (at % 65536), 512);
    await expectRead(img, disk, at, 4096);
    await expectRead(img, disk, at + 8192, 8192);
    expect(img.stats().bytesDecompressed).toBe(after);
    expect(sessionOf(img).cache.bytes).toBeGreaterThan(0);
    await img.close();
    expect(sessionOf(img).memory.used).toBe(0);
  });

  it("resume with the pako codec when the image's own zlib codec cannot", async () => {
    // Like a native zlib: fast from the chunk start, no snapshots.
    const plain: Codec = { type: UDZO, name: "zlib (plain)", open: (ctx) => zlibCodec.open(ctx) };
    const img = await openDmg(image, { codecs: [plain] });
    await expectRead(img, disk, 2 * CHUNK + 2 * MiB, 4096);
    const first = img.stats().bytesDecompressed;
    await expectRead(img, disk, 2 * CHUNK + MiB, 4096);
    expect(img.stats().bytesDecompressed - first).toBeLessThan(MiB / 2);
    await expectRead(img, disk, 2 * CHUNK, CHUNK);
    await img.close();
  });
});

describe("hostile chunks read at random", () => {
  /** The outcome of reading `[offset, offset + length)`: its bytes or its DmgError. */
  const outcome = (img: DmgImage, offset: number, length: number) =>
    img.read(offset, length).then(
      (bytes) => ({ bytes, error: undefined }),
      (e: unknown) => {
        expect(e).toBeInstanceOf(DmgError);
        return { bytes: undefined, error: e as DmgError };
      },
    );

  for (const kind of ["zlib 6", "bzip2 1"]) {
    it(`${kind}: a damaged chunk reads the same from a point as from the start`, async () => {
      const { image, disk } = makeImage([kind, kind], 9);
      const payload = COMPRESS[kind](disk.subarray(CHUNK, 2 * CHUNK)).payload!;
      // Flip a byte at 80% of the second chunk's payload.
      const start = Buffer.from(image).lastIndexOf(Buffer.from(payload.subarray(0, 256)));
      expect(start).toBeGreaterThan(0);
      const bad = image.slice();
      bad[start + Math.floor(payload.length * 0.8)] ^= 0x44;
      const img = await openDmg(bad);
      // Early bytes are fine (and record points); then reads reach the damage from points.
      await expectRead(img, disk, CHUNK + MiB / 2, 4096);
      await expectRead(img, disk, CHUNK + 2 * MiB - 8192, 4096);
      let errors = 0;
      for (const [from, len] of [
        [CHUNK + 2 * MiB, CHUNK - 2 * MiB],
        [CHUNK + 2 * MiB + 100_000, 4096 * 200],
        [CHUNK + 2 * MiB + 400_000, 4096],
        [2 * CHUNK - 4096, 4096],
        [CHUNK, CHUNK],
      ]) {
        // A fresh image decodes from the chunk start: the reference.
        const fresh = await openDmg(bad);
        const want = await outcome(fresh, from, len);
        await fresh.close();
        const got = await outcome(img, from, len);
        expect(got.error?.code).toBe(want.error?.code);
        expect(got.error?.offset).toBe(want.error?.offset);
        expect(got.error?.chunk).toBe(want.error?.chunk);
        if (want.bytes) expect(same(got.bytes!, want.bytes)).toBe(true);
        if (want.error) errors++;
      }
      expect(errors).toBeGreaterThanOrEqual(3);
      expect(sessionOf(img).points.count).toBeGreaterThan(0);
      await img.close();
      expect(sessionOf(img).memory.used).toBe(0);
    });
  }

  it("trailing bytes after a zlib stream fail every read that reaches the chunk end", async () => {
    const d = diskBytes(CHUNK, 3);
    const z = deflateSync(d);
    const payload = new Uint8Array(z.length + 5);
    payload.set(z);
    const image = buildDmg({
      tables: [{ name: "disk", chunks: [{ type: UDZO, sectors: CHUNK / 512, payload }] }],
    });
    const img = await openDmg(image);
    await expectRead(img, d, CHUNK - 300_000, 4096);
    for (let k = 0; k < 3; k++) {
      const { error } = await outcome(img, CHUNK - 4096, 4096);
      expect(error?.code).toBe("DECODE_TRAILING");
    }
    await img.close();
  });
});
