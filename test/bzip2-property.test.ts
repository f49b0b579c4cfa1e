/**
 * Properties of the bzip2 decoder on streams of the reference encoder (the system `bzip2`) at
 * every block size 1-9, over content made to reach each of the decoder's paths: small and full
 * byte alphabets (move-to-front indices near the front and far from it), runs around the
 * initial run-length step's edges (4 bytes, then a count up to 255), long repeats (long
 * RUNA/RUNB runs) and text. The decoded bytes equal the input and what seek-bzip (the oracle)
 * decodes, in pieces of any size; a cut stream is DECODE_SHORT; a flipped bit gives a decode
 * error or the same bytes; and every block start a cursor offers resumes to the same tail.
 *
 * Seeds and replay: see test/helpers/prop-config.ts (FC_SEED, FC_RUNS, FC_PATH).
 */
import fc from "fast-check";
import Bunzip from "seek-bzip";
import { describe, expect } from "vitest";
import { bzip2Codec } from "../src/codecs/bzip2/bzip2.js";
import type { DecodeContext, PointRecorder, ResumePoint } from "../src/codecs/codec.js";
import { DmgError } from "../src/core/errors.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { bzip2, haveBzip2 } from "./helpers/prop-payloads.js";
import { property } from "./helpers/prop-run.js";

type Kind = "noise" | "runs" | "repeat" | "words";

/** Content as a seed and segments, each of a kind over an alphabet of `alphabet` byte values. */
interface Recipe {
  seed: number;
  size: number;
  segments: Array<{ kind: Kind; alphabet: number; weight: number }>;
}

/** Run lengths around the initial run-length step's edges, and some longer ones. */
const RUN_LENGTHS = [1, 2, 3, 4, 5, 6, 7, 8, 254, 255, 256, 259, 260, 261, 262, 515, 1000];

function content(r: Recipe): Uint8Array {
  const out = new Uint8Array(r.size);
  let x = r.seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % 0x7fffffff;
  };
  const total = r.segments.reduce((s, g) => s + g.weight, 0);
  let pos = 0;
  r.segments.forEach(({ kind, alphabet, weight }, i) => {
    const end = i === r.segments.length - 1 ? r.size : pos + Math.floor((r.size * weight) / total);
    const base = next() % (257 - alphabet);
    const byte = () => base + (next() % alphabet);
    const period = 1 + (next() % 24);
    while (pos < end) {
      if (kind === "noise") out[pos++] = byte();
      else if (kind === "runs") {
        const n = RUN_LENGTHS[next() % RUN_LENGTHS.length];
        out.fill(byte(), pos, Math.min(end, pos + n));
        pos += n;
      } else if (kind === "repeat") {
        out[pos] = pos - period >= 0 && next() % 64 !== 0 ? out[pos - period] : byte();
        pos++;
      } else {
        for (let k = 1 + (next() % 8); k > 0 && pos < end; k--) out[pos++] = byte();
        if (pos < end) out[pos++] = 0x20;
      }
    }
    pos = end;
  });
  return out;
}

const recipeArb: fc.Arbitrary<Recipe> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  size: fc.oneof(
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 3000 }) },
    { weight: 3, arbitrary: fc.integer({ min: 3000, max: 250_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 250_000, max: 1_300_000 }) },
  ),
  segments: fc.array(
    fc.record({
      kind: fc.constantFrom<Kind>("noise", "runs", "repeat", "words"),
      alphabet: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 256 })),
      weight: fc.integer({ min: 1, max: 4 }),
    }),
    { minLength: 1, maxLength: 4 },
  ),
});

const levelArb = fc.integer({ min: 1, max: 9 });
/** Piece sizes: tiny ones probe the hand-over between pieces (only for small outputs). */
const maxArb = fc.constantFrom(1, 3, 7, 64, 4096, 65_535, 1 << 20);

function ctxOf(compressed: Uint8Array, outputSize: number, points?: PointRecorder): DecodeContext {
  return chunkContext(compressed, outputSize, { points });
}

/** Decode from the start (or `point`) in pieces of at most `max`: the bytes, or the DmgError. */
async function decode(ctx: DecodeContext, max: number, point?: ResumePoint) {
  const cursor = point ? bzip2Codec.resume!(ctx, point) : bzip2Codec.open(ctx);
  const out = new Uint8Array(ctx.outputSize - (point?.position ?? 0));
  let n = 0;
  try {
    for (let p = await cursor.next(max); p.length > 0; p = await cursor.next(max)) {
      expect(p.length).toBeLessThanOrEqual(max);
      out.set(p, n);
      n += p.length;
    }
    return { bytes: out, error: undefined };
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    return { bytes: out.subarray(0, n), error: e };
  } finally {
    cursor.close();
    expect(ctx.memory.used).toBe(0);
  }
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

describe.skipIf(!haveBzip2())("bzip2 decoder properties", () => {
  property(
    "any content at any block size decodes to the input, as seek-bzip decodes it",
    60,
    400,
    fc.tuple(recipeArb, levelArb, maxArb),
    async ([recipe, level, max]) => {
      const data = content(recipe);
      const bz = bzip2(data, level);
      const got = await decode(ctxOf(bz, data.length), data.length > 20_000 ? max | 4096 : max);
      expect(got.error).toBeUndefined();
      expect(same(got.bytes, data)).toBe(true);
      const oracle = new Uint8Array(Bunzip.decode(Buffer.from(bz)));
      expect(same(oracle, data)).toBe(true);
    },
  );

  property(
    "a cut stream is DECODE_SHORT after correct bytes",
    40,
    200,
    fc.tuple(recipeArb, levelArb, fc.double({ min: 0, max: 1, noNaN: true })),
    async ([recipe, level, where]) => {
      const data = content({ ...recipe, size: Math.min(recipe.size, 300_000) });
      const bz = bzip2(data, level);
      const cut = Math.floor(where * (bz.length - 1));
      const got = await decode(ctxOf(bz.subarray(0, cut), data.length), 1 << 20);
      expect(got.error?.code).toBe("DECODE_SHORT");
      expect(same(got.bytes, data.subarray(0, got.bytes.length))).toBe(true);
    },
  );

  property(
    "a flipped bit gives a decode error or the same bytes",
    40,
    200,
    fc.tuple(recipeArb, levelArb, fc.array(fc.nat(), { minLength: 1, maxLength: 8 })),
    async ([recipe, level, flips]) => {
      const data = content({ ...recipe, size: Math.min(recipe.size, 120_000) });
      const bz = bzip2(data, level);
      for (const f of flips) {
        const bad = bz.slice();
        bad[(f >>> 3) % bad.length] ^= 1 << (f & 7);
        const got = await decode(ctxOf(bad, data.length), 1 << 20);
        if (got.error) expect(got.error.code).toMatch(/^DECODE_(CORRUPT|SHORT|OVERRUN)$/);
        else expect(same(got.bytes, data)).toBe(true);
      }
    },
  );

  property(
    "every block start offered resumes to the same tail",
    15,
    1500,
    fc.tuple(recipeArb, levelArb),
    async ([recipe, level]) => {
      // Full-alphabet noise after the content: more than one block, so at least one start.
      const head = content({ ...recipe, size: Math.min(recipe.size, 300_000) });
      const noise = content({
        seed: recipe.seed,
        size: level * 100_000 + 5000,
        segments: [{ kind: "noise", alphabet: 256, weight: 1 }],
      });
      const data = new Uint8Array(head.length + noise.length);
      data.set(head);
      data.set(noise, head.length);
      const bz = bzip2(data, level);
      const points: ResumePoint[] = [];
      const rec: PointRecorder = {
        compact: false,
        reserve: () => true,
        add: (p) => {
          if (p) points.push(p);
        },
      };
      const full = await decode(ctxOf(bz, data.length, rec), 1 << 20);
      expect(same(full.bytes, data)).toBe(true);
      expect(points.length).toBeGreaterThanOrEqual(1);
      for (const p of [points[0], points[points.length >> 1], points[points.length - 1]]) {
        const tail = await decode(ctxOf(bz, data.length), 1 << 20, p);
        expect(tail.error).toBeUndefined();
        expect(same(tail.bytes, data.subarray(p.position))).toBe(true);
      }
    },
  );
});
