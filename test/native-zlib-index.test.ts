/**
 * Index points of the node:zlib codec: a recording cursor stops at deflate block boundaries,
 * finds each one's exact bit offset (or makes no point), and a cursor resumed at a point by a
 * raw native inflater gives exactly the bytes, checks and errors of a decode from the start.
 */
import { constants, deflateSync } from "node:zlib";
import fc from "fast-check";
import { deflate } from "pako";
import { describe, expect, it } from "vitest";
import type { ResumePoint } from "../src/codecs/codec.js";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import { BlockPoint } from "../src/codecs/zlib/zlib-boundary.js";
import { DmgError } from "../src/core/errors.js";
import { boundariesSupported, exactBit } from "../src/node/zlib/native-zlib-bits.js";
import { nativeZlibAvailable, nativeZlibCodec } from "../src/node/zlib/native-zlib-codec.js";
import {
  boundaries,
  ctxFor,
  damaged,
  decodeFrom,
  keepAll,
  MiB,
  mixed,
  same,
} from "./helpers/zlib-points.js";

const codec = nativeZlibCodec;

/** Record every point of `z` natively; check the decode and return the points. */
async function record(z: Uint8Array, raw: Uint8Array, compact: boolean, every = 1) {
  const { rec, points, offered } = keepAll(compact, every);
  const full = await decodeFrom(codec, ctxFor(z, raw.length, rec));
  expect(full.error).toBeUndefined();
  expect(same(full.bytes, raw)).toBe(true);
  return { points, offered };
}

/** Resume `p` natively: `limit` bytes (or to the end) must equal `raw` from the point. */
async function expectResumes(z: Uint8Array, raw: Uint8Array, p: ResumePoint, limit: number) {
  const got = await decodeFrom(codec, ctxFor(z, raw.length), p, limit);
  expect(got.error).toBeUndefined();
  const want = raw.subarray(p.position, Math.min(raw.length, p.position + limit));
  expect(same(got.bytes, want), `point at ${p.position}`).toBe(true);
}

describe.skipIf(!nativeZlibAvailable)("native zlib index points", () => {
  it("rely on node:zlib stopping at boundaries where pako does", () => {
    expect(boundariesSupported()).toBe(true);
  });

  const data = mixed(4 * MiB, 11);
  const streams: Array<[string, Uint8Array]> = [
    ["level 1", deflateSync(data, { level: 1 })],
    ["level 6", deflateSync(data, { level: 6 })],
    ["level 9", deflateSync(data, { level: 9 })],
    ["fixed Huffman", deflateSync(data, { strategy: constants.Z_FIXED })],
    ["pako level 6", deflate(data)],
  ];
  for (const [name, z] of streams) {
    it(`${name}: every point resumes natively to the same bytes and end checks`, async () => {
      const exact = boundaries(z, data.length);
      for (const compact of [false, true]) {
        const { points, offered } = await record(z, data, compact, compact ? 3 : 1);
        expect(points.length).toBeGreaterThan(compact ? 5 : 20);
        // Offered at boundaries only, with the window packed when asked.
        for (const q of offered) expect(exact.has(q)).toBe(true);
        expect(points.some((p) => (p.state as BlockPoint).packed)).toBe(compact);
        for (const [k, p] of points.entries()) {
          const s = p.state as BlockPoint;
          expect(s).toBeInstanceOf(BlockPoint);
          // pako's bit, or one that provably decodes alike (the resume below shows it does).
          if (s.bit !== exact.get(p.position))
            expect(Math.abs(s.bit - exact.get(p.position)!)).toBeLessThan(8);
          await expectResumes(z, data, p, k % 8 === 0 ? Number.POSITIVE_INFINITY : 200_001);
        }
      }
    });
  }

  it("make exact points on any stream (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 40_000, max: 700_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom(1, 6, 9),
        fc.constantFrom(1, 2, 8, 9),
        fc.constantFrom(
          constants.Z_DEFAULT_STRATEGY,
          constants.Z_FILTERED,
          constants.Z_HUFFMAN_ONLY,
          constants.Z_RLE,
          constants.Z_FIXED,
        ),
        async (n, seed, level, memLevel, strategy) => {
          const raw = mixed(n, seed);
          const z = new Uint8Array(deflateSync(raw, { level, memLevel, strategy }));
          const { points } = await record(z, raw, seed % 2 === 0, 1 + (seed % 5));
          // Each point to the next one and a little beyond; some to the end.
          for (const [k, p] of points.entries()) {
            const next = points[k + 1]?.position ?? raw.length;
            const limit = k % 5 === 0 ? Number.POSITIVE_INFINITY : next - p.position + 5000;
            await expectResumes(z, raw, p, limit);
          }
        },
      ),
      { seed: 0x1dc5, numRuns: 40 },
    );
  }, 60_000);

  it("make no point from bytes that are not what follows the boundary", async () => {
    const z = deflateSync(data, { level: 6, memLevel: 2 });
    const exact = [...boundaries(z, data.length)].filter(([q]) => q > 40_000).slice(0, 60);
    const ctx = ctxFor(z, data.length);
    let told = 0;
    for (const [q, bit] of exact) {
      const window = data.subarray(q - 32768, q);
      const after = data.subarray(q, q + 70_000);
      const consumed = Math.ceil(bit / 8);
      const found = await exactBit(ctx, consumed, window, after);
      if (found !== undefined) {
        told++;
        expect(Math.abs(found - bit)).toBeLessThan(8);
      }
      const wrong = after.slice();
      wrong[100] ^= 1;
      expect(await exactBit(ctx, consumed, window, wrong)).toBeUndefined();
    }
    expect(told).toBeGreaterThan(50);
    expect(ctx.memory.used).toBe(0);
  });

  it("resumed cursors raise the pako path's error, at the same offset", async () => {
    const z = deflateSync(data, { level: 6 });
    const { points } = await record(z, data, false);
    const cases = damaged(z, data.length);
    const usable = points.filter((p) => (p.state as BlockPoint).bit < 8 * z.length * 0.69);
    for (const [what, bad, size] of cases) {
      const full = await decodeFrom(zlibCodec, ctxFor(bad, size));
      expect(full.error, what).toBeInstanceOf(DmgError);
      for (const p of [usable[0], usable[usable.length >> 1], usable[usable.length - 1]]) {
        const got = await decodeFrom(codec, ctxFor(bad, size), p);
        expect(got.error?.code, what).toBe(full.error!.code);
        expect(got.error?.offset, what).toBe(full.error!.offset);
        expect(got.error?.message, what).toBe(full.error!.message);
        const n = Math.min(got.bytes.length, full.bytes.length - p.position);
        const want = full.bytes.subarray(p.position, p.position + n);
        expect(same(got.bytes.subarray(0, n), want), what).toBe(true);
      }
      // And a recording cursor from the start, as the pako path.
      const rec = keepAll(true);
      const native = await decodeFrom(codec, ctxFor(bad, size, rec.rec));
      expect(native.error?.code, what).toBe(full.error!.code);
      expect(native.error?.offset, what).toBe(full.error!.offset);
    }
  });

  it("hand out the same pieces recording or not, up to any error (property)", async () => {
    /** Piece lengths and the error of a decode in pieces of at most `max`. */
    const pieces = async (z: Uint8Array, size: number, max: number, record: boolean) => {
      const ctx = ctxFor(z, size, record ? keepAll(true).rec : undefined);
      const cursor = codec.open(ctx);
      const lengths: number[] = [];
      try {
        for (let p = await cursor.next(max); p.length > 0; p = await cursor.next(max)) {
          lengths.push(p.length);
        }
        return { lengths, error: undefined };
      } catch (e) {
        const { code, offset, message } = e as DmgError;
        return { lengths, error: { code, offset, message } };
      } finally {
        cursor.close();
        expect(ctx.memory.used).toBe(0);
      }
    };
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 300_000, max: 2_000_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
        fc.constantFrom(65536, MiB),
        async (n, seed, damage, max) => {
          const raw = mixed(n, seed);
          const z = new Uint8Array(deflateSync(raw, { memLevel: 1 + (seed % 9) }));
          if (damage !== null) z[Math.floor(damage * (z.length - 1))] ^= 1 << (seed % 8);
          const plain = await pieces(z, n, max, false);
          expect(await pieces(z, n, max, true)).toEqual(plain);
        },
      ),
      { seed: 0x91ec, numRuns: 30 },
    );
  }, 60_000);

  it("refuse points of another kind and fall back to pako for snapshots", async () => {
    const z = deflateSync(data.subarray(0, 300_000));
    const ctx = ctxFor(z, 300_000);
    expect(() => codec.resume!(ctx, { position: 5, bytes: 0, state: {} })).toThrow(DmgError);
    // pako's points (a budget too small for native buffers makes them) resume too.
    const { rec, points } = keepAll(false);
    await decodeFrom(zlibCodec, ctxFor(z, 300_000, rec));
    for (const p of points) await expectResumes(z, data.subarray(0, 300_000), p, 50_000);
    expect(ctx.memory.used).toBe(0);
  });

  it("hold the memory they account for, and none once closed", async () => {
    const z = deflateSync(data);
    const { points } = await record(z, data, true, 2);
    const p = points[points.length >> 1];
    const ctx = ctxFor(z, data.length, undefined, 2 * MiB);
    const cursor = codec.resume!(ctx, p);
    await cursor.next(1000);
    // State, 1 MiB output, 256 KiB input piece and the point's prefix.
    expect(ctx.memory.used).toBeLessThanOrEqual(64 * 1024 + MiB + 256 * 1024 + 33_000);
    cursor.close();
    expect(ctx.memory.used).toBe(0);
    // Without room for native buffers, resuming refuses (the reader then starts over).
    const tight = ctxFor(z, data.length, undefined, 600 * 1024);
    expect(() => codec.resume!(tight, p)).toThrow(DmgError);
    expect(tight.memory.used).toBe(0);
  });
});
