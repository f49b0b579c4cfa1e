/**
 * zlib resume points through pako: block-boundary points (and mid-block snapshots where blocks
 * are far apart) resume in a fresh decoder to exactly the bytes, checks and errors of a decode
 * from the chunk start; a point's history and alignment blocks bring any raw inflater to its
 * bit offset.
 */
import { readFileSync } from "node:fs";
import { constants, deflateSync, inflateRawSync } from "node:zlib";
import { deflate, inflateRaw } from "pako";
import { describe, expect, it } from "vitest";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import {
  BlockPoint,
  pointByte,
  resumePrefix,
  resumeStart,
  STORED_HEADER,
  storedHistory,
} from "../src/codecs/zlib/zlib-boundary.js";
import { FAR_GAP, POINT_ALIGN } from "../src/codecs/zlib/zlib-points.js";
import { InflateSnapshot, snapshotsSupported } from "../src/codecs/zlib/zlib-snapshot.js";
import { DmgError } from "../src/core/errors.js";
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

/** Compressed bytes before a point (to tell which points lie before some damage). */
const inputAt = (p: { state: unknown }) =>
  p.state instanceof BlockPoint ? pointByte(p.state) : (p.state as InflateSnapshot).totalIn;

/** Long zero runs with a few bytes between: level 6 blocks of ~4 MB, so snapshots too. */
function sparse(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let p = 1000; p < size; p += 150_000) out[p] = p & 0xff;
  return out;
}

describe("zlib points (pako)", () => {
  it("are enabled for pako 3.0.3, the exact version package.json pins", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(pkg.dependencies.pako).toBe("3.0.3");
    expect(snapshotsSupported()).toBe(true);
  });

  const data = mixed(4 * MiB, 7);
  const streams: Array<[string, Uint8Array, Uint8Array]> = [
    ["node:zlib level 1", data, deflateSync(data, { level: 1 })],
    ["node:zlib level 6", data, deflateSync(data, { level: 6 })],
    ["node:zlib level 9", data, deflateSync(data, { level: 9 })],
    ["node:zlib fixed Huffman", data, deflateSync(data, { strategy: constants.Z_FIXED })],
    [
      "node:zlib stored",
      data.subarray(0, 2 * MiB),
      deflateSync(data.subarray(0, 2 * MiB), { level: 0 }),
    ],
    ["pako level 6", data, deflate(data)],
    ["long zero runs", sparse(12 * MiB), deflateSync(sparse(12 * MiB))],
  ];
  for (const [name, raw, z] of streams) {
    it(`${name}: every point resumes to the same bytes and end checks`, async () => {
      const size = raw.length;
      const exact = boundaries(z, size);
      for (const compact of [false, true]) {
        const { rec, points, offered } = keepAll(compact, compact ? 3 : 1);
        const full = await decodeFrom(zlibCodec, ctxFor(z, size, rec));
        expect(full.error).toBeUndefined();
        expect(same(full.bytes, raw)).toBe(true);
        expect(points.length).toBeGreaterThan(compact ? 5 : 20);
        for (const [k, p] of points.entries()) {
          if (p.state instanceof BlockPoint) {
            // At a block boundary, with pako's own bit offset and checksum so far.
            expect(p.state.bit).toBe(exact.get(p.position));
            expect(p.state.check).toBeTypeOf("number");
          } else {
            // A snapshot only where no boundary has passed for FAR_GAP bytes.
            expect(p.position % POINT_ALIGN).toBe(0);
            const last = Math.max(0, ...[...exact.keys()].filter((q) => q <= p.position));
            expect(p.position - last).toBeGreaterThanOrEqual(FAR_GAP);
          }
          // Past the next point; every eighth to the end, through the Adler-32 and size checks.
          const limit = k % 8 === 0 ? Number.POSITIVE_INFINITY : 3 * POINT_ALIGN + 1;
          const got = await decodeFrom(zlibCodec, ctxFor(z, size), p, limit);
          expect(got.error).toBeUndefined();
          const want = raw.subarray(p.position, Math.min(size, p.position + limit));
          expect(same(got.bytes, want)).toBe(true);
        }
        // Every boundary (but the first, after the header) was offered.
        for (const q of exact.keys()) if (q > 0) expect(offered).toContain(q);
        // Compact points are deflated: smaller than their window for this data.
        const packed = points.filter(({ state: s }) =>
          s instanceof BlockPoint ? s.packed : (s as InflateSnapshot).blob.length < 32768,
        );
        expect(packed.length > 0).toBe(compact);
      }
    });
  }

  it("takes snapshots inside blocks far apart, with the tables of the block", async () => {
    const raw = sparse(12 * MiB);
    const six = keepAll(false);
    await decodeFrom(zlibCodec, ctxFor(deflateSync(raw), raw.length, six.rec));
    const snaps = six.points.map((p) => p.state).filter((s) => s instanceof InflateSnapshot);
    expect(snaps.length).toBeGreaterThan(20);
    expect(snaps.some((s) => s.lenCopied && s.distCopied)).toBe(true);
    // Some in the middle of a match (pako 3.0.3's mode MATCH).
    expect(snaps.some((s) => s.scalars[0] === 16204)).toBe(true);
    // Mixed data has boundaries every few KB: block points only.
    const mix = keepAll(false);
    await decodeFrom(zlibCodec, ctxFor(deflateSync(data), data.length, mix.rec));
    expect(mix.points.every((p) => p.state instanceof BlockPoint)).toBe(true);
  });

  it("resumed decoders raise the same error, at the same offset, as a full decode", async () => {
    const z = deflateSync(data, { level: 6 });
    const { rec, points } = keepAll(false);
    await decodeFrom(zlibCodec, ctxFor(z, data.length, rec));
    const cases = damaged(z, data.length);
    for (const [what, bad, size] of cases) {
      const full = await decodeFrom(zlibCodec, ctxFor(bad, size));
      expect(full.error, what).toBeInstanceOf(DmgError);
      // Points from the good stream lie before the damage (the flip is at 70% of the input).
      const usable = points.filter((p) => inputAt(p) < z.length * 0.69);
      for (const p of [usable[0], usable[usable.length >> 1], usable[usable.length - 1]]) {
        const got = await decodeFrom(zlibCodec, ctxFor(bad, size), p);
        expect(got.error?.code, what).toBe(full.error!.code);
        expect(got.error?.offset, what).toBe(full.error!.offset);
        expect(got.error?.chunk).toBe(5);
        // The bytes before the error agree (the piece that fails is not handed out).
        const n = Math.min(got.bytes.length, full.bytes.length - p.position);
        const want = full.bytes.subarray(p.position, p.position + n);
        expect(same(got.bytes.subarray(0, n), want), what).toBe(true);
        expect(p.position + got.bytes.length).toBeGreaterThan(full.bytes.length - 200_000);
      }
    }
  });

  it("refuses a point made by another codec, or without its Adler-32", async () => {
    const z = deflateSync(data.subarray(0, 100_000));
    const ctx = ctxFor(z, 100_000);
    const alien = { position: 0, bytes: 0, state: { bitOffset: 0 } };
    expect(() => zlibCodec.resume!(ctx, alien)).toThrow(DmgError);
    const { rec, points } = keepAll(false);
    await decodeFrom(zlibCodec, ctxFor(z, 100_000, rec));
    const s = points[0].state as BlockPoint;
    const blind = new BlockPoint(s.bit, s.history, s.windowLength, s.packed, undefined);
    expect(() => zlibCodec.resume!(ctx, { ...points[0], state: blind })).toThrow(DmgError);
    // A point past the chunk's data, or with a window of the wrong length.
    const far = new BlockPoint(8 * z.length + 3, s.history, s.windowLength, s.packed, s.check);
    expect(() => zlibCodec.resume!(ctx, { ...points[0], state: far })).toThrow(DmgError);
    expect(() => zlibCodec.resume!(ctx, { ...points[0], position: 1 })).toThrow(DmgError);
    expect(ctx.memory.used).toBe(0);
  });
});

describe("resume prefix", () => {
  // A stream of many small blocks, so that boundaries fall at every bit offset in a byte.
  const raw = mixed(300_000, 3);
  const z = deflateSync(raw, { memLevel: 1 });
  const exact = boundaries(z, raw.length);

  it("brings pako's and node:zlib's raw inflaters to a boundary at any bit offset", () => {
    const shifts = new Set<number>();
    let tried = 0;
    for (const [position, bit] of exact) {
      if (position === 0 || shifts.has(bit % 8)) continue;
      shifts.add(bit % 8);
      const window = raw.subarray(Math.max(0, position - 32768), position);
      const history = storedHistory(window.length);
      history.set(window, STORED_HEADER);
      const point = new BlockPoint(bit, history, window.length, false, undefined);
      const prefix = resumePrefix(point, z[pointByte(point)]);
      const input = Buffer.concat([prefix, z.subarray(resumeStart(point))]);
      // The raw deflate ends before the zlib trailer: both inflaters stop there.
      const native = inflateRawSync(input, { finishFlush: constants.Z_SYNC_FLUSH });
      const pako = inflateRaw(input);
      for (const out of [native, pako]) {
        expect(same(out.subarray(0, window.length), window)).toBe(true);
        expect(same(out.subarray(window.length), raw.subarray(position))).toBe(true);
      }
      tried++;
    }
    expect(tried).toBe(8);
  });
});
