/**
 * Random reads on Node, where zlib chunks decode through node:zlib: a sequential pass records
 * block points natively, and reads resumed at them equal the disk, decode little, and stay
 * within the working-memory budget; hostile chunks fail the same way from a point.
 */

import { deflateSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BlockPoint } from "../src/codecs/zlib/zlib-boundary.js";
import { UDZE, UDZO } from "../src/format/types.js";
import { sessionOf } from "../src/image/image.js";
import { DmgError, type DmgImage, openDmg } from "../src/node/index.js";
import { nativeZlibAvailable, nativeZlibCodec } from "../src/node/zlib/native-zlib-codec.js";
import { buildDmg } from "../src/write/model.js";
import { MiB, mixed, same } from "./helpers/zlib-points.js";

const CHUNK = 8 * MiB;

/** An image of two zlib chunks of CHUNK bytes and a zero chunk. */
function makeImage(seed: number, payload = (d: Uint8Array) => new Uint8Array(deflateSync(d))) {
  const disk = new Uint8Array(2 * CHUNK + MiB);
  disk.set(mixed(2 * CHUNK, seed));
  const chunks = [0, 1].map((i) => {
    const d = disk.subarray(i * CHUNK, (i + 1) * CHUNK);
    return { type: UDZO, sectors: CHUNK / 512, payload: payload(d) };
  });
  const all = [...chunks, { type: UDZE, sectors: MiB / 512 }];
  return { image: buildDmg({ tables: [{ name: "disk", chunks: all, decoded: disk }] }), disk };
}

async function expectRead(img: DmgImage, disk: Uint8Array, offset: number, length: number) {
  const got = await img.read(offset, length);
  expect(same(got, disk.subarray(offset, offset + length)), `read ${offset}+${length}`).toBe(true);
}

describe.skipIf(!nativeZlibAvailable)("index points on Node", () => {
  const { image, disk } = makeImage(21);

  it("a pass records them; reads resumed at them equal the disk (property)", async () => {
    const img = await openDmg(image);
    let pos = 0;
    for await (const piece of img.stream()) {
      expect(same(piece, disk.subarray(pos, pos + piece.length))).toBe(true);
      pos += piece.length;
    }
    const { points } = sessionOf(img);
    // Native points: block points without the Adler-32 (pako's carry it).
    expect(points.count).toBeGreaterThan(2 * 20);
    const last = points.nearest(0, CHUNK - 1, nativeZlibCodec)?.state as BlockPoint;
    expect(last).toBeInstanceOf(BlockPoint);
    expect(last.check).toBeUndefined();
    const before = img.stats().bytesDecompressed;
    let count = 0;
    const reads = fc.tuple(
      fc.integer({ min: 0, max: disk.length - 1 }),
      fc.oneof(fc.integer({ min: 1, max: 8192 }), fc.integer({ min: 1, max: 2 * MiB })),
    );
    await fc.assert(
      fc.asyncProperty(reads, async ([offset, length]) => {
        count++;
        await expectRead(img, disk, offset, Math.min(length, disk.length - offset));
      }),
      { seed: 0x5eed, numRuns: 300 },
    );
    // Points every ~256 KiB: far less than the ~4 MiB a read would decode without them.
    expect((img.stats().bytesDecompressed - before) / count).toBeLessThan(MiB);
    expect(img.stats().peakWorkingMemory).toBeLessThanOrEqual(img.budget.maxWorkingMemory);
    await img.close();
    expect(sessionOf(img).memory.used).toBe(0);
  });

  it("cold reads build them as they go", async () => {
    const img = await openDmg(image);
    const offsets = [7.9, 1.5, 6.2, 3.1, 7.5].map((f) => Math.floor(f * MiB) + 4321);
    for (const chunk of [1, 0]) {
      for (const at of offsets) await expectRead(img, disk, chunk * CHUNK + at, 4096);
    }
    // The first read into each chunk decoded up to 7.9 MiB; the others resumed near.
    expect(img.stats().bytesDecompressed).toBeLessThan(2 * (8 * MiB + 4 * 600 * 1024));
    await img.close();
  });

  it("stay within a small budget and give memory back", async () => {
    const img = await openDmg(image, { budget: { maxWorkingMemory: 4 * MiB } });
    for await (const _ of img.stream());
    const { points, memory } = sessionOf(img);
    expect(points.count).toBeGreaterThan(0);
    expect(points.bytes).toBeLessThanOrEqual(2 * MiB);
    for (let k = 0; k < 30; k++) {
      const offset = Math.floor((((k * 7919) % 97) / 97) * 2 * CHUNK);
      await expectRead(img, disk, offset, 4096);
    }
    expect(memory.peak).toBeLessThanOrEqual(4 * MiB);
    await img.close();
    expect(memory.used).toBe(0);
  });

  it("a read reaching a damaged chunk's end fails from a point as from the start", async () => {
    const trailing = makeImage(5, (d) => {
      const z = deflateSync(d);
      const out = new Uint8Array(z.length + 3);
      out.set(z);
      return out;
    });
    const img = await openDmg(trailing.image);
    await expectRead(img, trailing.disk, CHUNK - 300_000, 4096);
    expect(sessionOf(img).points.count).toBeGreaterThan(0);
    for (let k = 0; k < 3; k++) {
      const err = await img.read(CHUNK - 4096, 4096).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DmgError);
      expect((err as DmgError).code).toBe("DECODE_TRAILING");
    }
    // The chunk's bytes before its end still read.
    await expectRead(img, trailing.disk, CHUNK - 200_000, 4096);
    await img.close();
  });
});
