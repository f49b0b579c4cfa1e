/**
 * zlib resume points: snapshots of pako's inflate state taken mid-stream (mid-block too) resume
 * in a fresh decoder to exactly the bytes, checks and errors of a decode from the chunk start.
 */
import { readFileSync } from "node:fs";
import { constants, deflateSync } from "node:zlib";
import { deflate } from "pako";
import { describe, expect, it } from "vitest";
import { MemoryMeter } from "../src/budget.js";
import { bytesSource } from "../src/bytes/source.js";
import type { DecodeContext, PointRecorder, ResumePoint } from "../src/codecs/codec.js";
import { POINT_ALIGN, zlibCodec } from "../src/codecs/zlib.js";
import { type InflateSnapshot, snapshotsSupported } from "../src/codecs/zlib-snapshot.js";
import { DmgError } from "../src/errors.js";

const MiB = 1024 * 1024;
const AT = 4096;

/** Mixed test data: text-like runs, random runs and zero runs, so blocks of every kind occur. */
function mixed(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed | 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let p = 0; p < size; ) {
    const r = next();
    const n = Math.min(size - p, 512 + (r % 40_000));
    const kind = (r >>> 20) % 4;
    for (let k = 0; k < n && kind !== 3; k++) {
      out[p + k] = kind === 2 ? next() & 0xff : 0x61 + ((next() >>> 7) % (kind === 0 ? 6 : 26));
    }
    p += n;
  }
  return out;
}

/** A recorder that keeps every point offered (or every `every`-th), compactly if asked. */
function keepAll(compact: boolean, every = 1) {
  const points: ResumePoint[] = [];
  let offered = 0;
  let reserved = 0;
  const rec: PointRecorder = {
    compact,
    reserve: (position, bytes) => {
      expect(position % POINT_ALIGN).toBe(0);
      reserved = bytes;
      return offered++ % every === 0;
    },
    add: (p) => {
      if (p) {
        expect(p.bytes).toBeLessThanOrEqual(reserved);
        points.push(p);
      }
    },
  };
  return { rec, points };
}

function ctxFor(compressed: Uint8Array, size: number, rec?: PointRecorder): DecodeContext {
  const all = new Uint8Array(AT + compressed.length).fill(0xee);
  all.set(compressed, AT);
  return {
    source: bytesSource(all),
    offset: AT,
    length: compressed.length,
    outputSize: size,
    memory: new MemoryMeter(32 * MiB),
    where: { table: 0, chunk: 5 },
    points: rec,
  };
}

/**
 * Decode from a fresh cursor or a point: `limit` bytes, or to the end with its checks when no
 * limit is given. Returns the bytes and the DmgError raised, if any.
 */
async function decodeFrom(ctx: DecodeContext, point?: ResumePoint, limit = Infinity) {
  const cursor = point ? zlibCodec.resume!(ctx, point) : zlibCodec.open(ctx);
  const out = new Uint8Array(Math.min(limit, ctx.outputSize - (point?.position ?? 0)));
  let n = 0;
  try {
    while (n < limit) {
      const p = await cursor.next(Math.min(100_000, limit - n));
      if (p.length === 0) break;
      out.set(p, n);
      n += p.length;
    }
    return { bytes: out.subarray(0, n), error: undefined };
  } catch (e) {
    expect(e).toBeInstanceOf(DmgError);
    return { bytes: out.subarray(0, n), error: e as DmgError };
  } finally {
    cursor.close();
    expect(ctx.memory.used).toBe(0);
  }
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

describe("zlib snapshots", () => {
  it("are enabled for pako 3.0.3, the exact version package.json pins", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(pkg.dependencies.pako).toBe("3.0.3");
    expect(snapshotsSupported()).toBe(true);
  });

  const data = mixed(4 * MiB, 7);
  const streams: Array<[string, Uint8Array]> = [
    ["node:zlib level 1", deflateSync(data, { level: 1 })],
    ["node:zlib level 6", deflateSync(data, { level: 6 })],
    ["node:zlib level 9", deflateSync(data, { level: 9 })],
    ["node:zlib fixed Huffman", deflateSync(data, { strategy: constants.Z_FIXED })],
    ["node:zlib stored", deflateSync(data.subarray(0, 2 * MiB), { level: 0 })],
    ["pako level 6", deflate(data)],
  ];
  for (const [name, z] of streams) {
    it(`${name}: every point resumes to the same bytes and end checks`, async () => {
      const size = name.endsWith("stored") ? 2 * MiB : data.length;
      for (const compact of [false, true]) {
        const { rec, points } = keepAll(compact, compact ? 3 : 1);
        const full = await decodeFrom(ctxFor(z, size, rec));
        expect(full.error).toBeUndefined();
        expect(same(full.bytes, data.subarray(0, size))).toBe(true);
        expect(points.length).toBeGreaterThan(compact ? 5 : 20);
        for (const [k, p] of points.entries()) {
          // Past the next point; every eighth to the end, through the Adler-32 and size checks.
          const limit = k % 8 === 0 ? Infinity : 3 * POINT_ALIGN + 1;
          const got = await decodeFrom(ctxFor(z, size), p, limit);
          expect(got.error).toBeUndefined();
          const want = data.subarray(p.position, Math.min(size, p.position + limit));
          expect(same(got.bytes, want)).toBe(true);
        }
        // Compact points are deflated blobs: smaller than a window for this data.
        const packed = points.filter((p) => (p.state as InflateSnapshot).blob.length < 32768);
        expect(packed.length > 0).toBe(compact);
      }
    });
  }

  it("keeps the decoding tables only inside Huffman-coded blocks", async () => {
    const z = deflateSync(data.subarray(0, 2 * MiB), { level: 0 });
    const { rec, points } = keepAll(false);
    await decodeFrom(ctxFor(z, 2 * MiB, rec));
    // Stored blocks: window only.
    for (const p of points) expect((p.state as InflateSnapshot).rawLength).toBe(32768);
    // Level 6: inside dynamic blocks, some in the middle of a match (pako 3.0.3's mode MATCH).
    const six = keepAll(false);
    await decodeFrom(ctxFor(deflateSync(data), data.length, six.rec));
    const snaps = six.points.map((p) => p.state as InflateSnapshot);
    expect(snaps.some((s) => s.lenCopied && s.distCopied)).toBe(true);
    expect(snaps.some((s) => s.scalars[0] === 16204)).toBe(true);
  });

  it("resumed decoders raise the same error, at the same offset, as a full decode", async () => {
    const z = deflateSync(data, { level: 6 });
    const { rec, points } = keepAll(false);
    await decodeFrom(ctxFor(z, data.length, rec));
    const cases: Array<[string, Uint8Array, number]> = [];
    const flipped = z.slice();
    flipped[Math.floor(z.length * 0.7)] ^= 0x10;
    cases.push(["corrupt", flipped, data.length]);
    const adler = z.slice();
    adler[z.length - 1] ^= 1;
    cases.push(["bad Adler-32", adler, data.length]);
    cases.push(["declared too small", z, data.length - 1]);
    cases.push(["declared too large", z, data.length + 512]);
    cases.push(["truncated", z.subarray(0, z.length - 9), data.length]);
    const trailing = new Uint8Array(z.length + 3);
    trailing.set(z);
    cases.push(["trailing", trailing, data.length]);
    for (const [what, bad, size] of cases) {
      const full = await decodeFrom(ctxFor(bad, size));
      expect(full.error, what).toBeInstanceOf(DmgError);
      // Points from the good stream lie before the damage (the flip is at 70% of the input).
      const usable = points.filter((p) => (p.state as InflateSnapshot).totalIn < z.length * 0.69);
      for (const p of [usable[0], usable[usable.length >> 1], usable[usable.length - 1]]) {
        const got = await decodeFrom(ctxFor(bad, size), p);
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

  it("refuses a point made by another codec", () => {
    const ctx = ctxFor(deflateSync(data.subarray(0, 1000)), 1000);
    const alien = { position: 0, bytes: 0, state: { bitOffset: 0 } };
    expect(() => zlibCodec.resume!(ctx, alien)).toThrow(DmgError);
    expect(ctx.memory.used).toBe(0);
  });
});
