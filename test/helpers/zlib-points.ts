/** What the zlib index-point tests share: data, contexts, recorders and decodes. */
import { expect } from "vitest";
import type { Codec, DecodeContext, PointRecorder, ResumePoint } from "../../src/codecs/codec.js";
import { streamBoundaries } from "../../src/codecs/zlib/zlib-boundary.js";
import { DmgError } from "../../src/core/errors.js";
import { MemoryMeter } from "../../src/core/limits.js";
import { chunkContext } from "./chunk-context.js";

export const MiB = 1024 * 1024;
/** The compressed bytes sit at this offset of the source, so error offsets are exercised. */
const AT = 4096;

export const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

/** Mixed test data: text-like runs, random runs and zero runs, so blocks of every kind occur. */
export function mixed(size: number, seed: number): Uint8Array {
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
export function keepAll(compact: boolean, every = 1) {
  const points: ResumePoint[] = [];
  const offered: number[] = [];
  let reserved = 0;
  const rec: PointRecorder = {
    compact,
    reserve: (position, bytes) => {
      reserved = bytes;
      offered.push(position);
      return (offered.length - 1) % every === 0;
    },
    add: (p) => {
      if (p) {
        expect(p.bytes).toBeLessThanOrEqual(reserved);
        points.push(p);
      }
    },
  };
  return { rec, points, offered };
}

export function ctxFor(
  compressed: Uint8Array,
  size: number,
  rec?: PointRecorder,
  limit = 32 * MiB,
): DecodeContext {
  const memory = new MemoryMeter(limit);
  return chunkContext(compressed, size, {
    at: AT,
    memory,
    where: { table: 0, chunk: 5 },
    points: rec,
  });
}

/**
 * Decode with `codec` from the chunk start or a point: `limit` bytes, or to the end with its
 * checks when no limit is given. Returns the bytes and the DmgError raised, if any.
 */
export async function decodeFrom(
  codec: Codec,
  ctx: DecodeContext,
  point?: ResumePoint,
  limit = Number.POSITIVE_INFINITY,
) {
  const cursor = point ? codec.resume!(ctx, point) : codec.open(ctx);
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

/** Every block boundary of zlib stream `z` (but the last) as decoded position -> bit offset. */
export const boundaries = streamBoundaries;

/**
 * `z` (decoding to `size` bytes) damaged in each way a zlib chunk can be, the damage at 70% of
 * the input or at its end: [what, compressed bytes, declared size].
 */
export function damaged(z: Uint8Array, size: number): Array<[string, Uint8Array, number]> {
  const flipped = z.slice();
  flipped[Math.floor(z.length * 0.7)] ^= 0x10;
  const adler = z.slice();
  adler[z.length - 1] ^= 1;
  const trailing = new Uint8Array(z.length + 3);
  trailing.set(z);
  return [
    ["corrupt", flipped, size],
    ["bad Adler-32", adler, size],
    ["declared too small", z, size - 1],
    ["declared too large", z, size + 512],
    ["truncated", z.subarray(0, z.length - 9), size],
    ["trailing", trailing, size],
  ];
}
