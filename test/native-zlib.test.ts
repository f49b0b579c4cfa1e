/**
 * The node:zlib UDZO codec against the pako one: identical bytes on honest streams, identical
 * error codes (and messages and offsets) on hostile ones, bounded memory, exact stops.
 */
import { deflateSync, inflateSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Codec, DecodeContext } from "../src/codecs/codec.js";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import { DmgError } from "../src/core/errors.js";
import { MemoryMeter } from "../src/core/limits.js";
import { UDZO } from "../src/format/types.js";
import { NODE_CODECS } from "../src/node/zlib/native-zlib-codec.js";
import "../src/node/index.js";
import { nativeZlibAvailable, nativeZlibCodec } from "../src/node/zlib/native-zlib-codec.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { boundaries } from "./helpers/zlib-points.js";

const MiB = 1024 * 1024;
const WHERE = { table: 2, chunk: 5 };
/** The compressed bytes sit at this offset of the source, so error offsets are exercised. */
const AT = 777;

function ctxFor(compressed: Uint8Array, outputSize: number, limit = 32 * MiB): DecodeContext {
  return chunkContext(compressed, outputSize, {
    at: AT,
    memory: new MemoryMeter(limit),
    where: WHERE,
  });
}

/** What decoding one chunk gave: its bytes, or its error as plain fields. */
type Outcome =
  | { ok: true; bytes: Uint8Array; peak: number }
  | { ok: false; code: string; message: string; offset: number; table?: number; chunk?: number };

/** Decode a whole chunk as the reader does: pieces of at most `max`, then the 1-byte probe. */
async function decode(codec: Codec, ctx: DecodeContext, max = MiB): Promise<Outcome> {
  const out = new Uint8Array(ctx.outputSize);
  let cursor: ReturnType<Codec["open"]> | undefined;
  try {
    cursor = codec.open(ctx);
    let n = 0;
    for (;;) {
      const piece = await cursor.next(Math.min(max, Math.max(1, ctx.outputSize - n)));
      if (piece.length === 0) break;
      out.set(piece, n);
      n += piece.length;
    }
    return { ok: true, bytes: out, peak: ctx.memory.peak };
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    return {
      ok: false,
      code: e.code,
      message: e.message,
      offset: e.offset,
      table: e.table,
      chunk: e.chunk,
    };
  } finally {
    cursor?.close();
    expect(ctx.memory.used).toBe(0);
  }
}

/** Both codecs on the same input must agree exactly (bytes, or the whole error). */
async function agree(compressed: Uint8Array, outputSize: number, max = MiB): Promise<Outcome> {
  const pako = await decode(zlibCodec, ctxFor(compressed, outputSize), max);
  const native = await decode(nativeZlibCodec, ctxFor(compressed, outputSize), max);
  if (pako.ok && native.ok) {
    expect(Buffer.compare(native.bytes, pako.bytes)).toBe(0);
  } else {
    expect(native).toEqual(pako);
  }
  return native;
}

/** Deterministic data of a given character: text-like, random, zeros, or a mix. */
function data(n: number, seed: number, kind: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const k = kind === 3 ? (i >> 12) % 3 : kind;
    out[i] = k === 0 ? 0x61 + ((x >>> 8) % 6) : k === 1 ? x & 0xff : 0;
  }
  return out;
}

describe.skipIf(!nativeZlibAvailable)("native zlib codec", () => {
  it("is the Node entry point's default for UDZO chunks", () => {
    expect(NODE_CODECS.loaded.get(UDZO)).toBe(nativeZlibCodec);
    expect(nativeZlibCodec.type).toBe(UDZO);
    expect(nativeZlibCodec.name).toBe(zlibCodec.name);
  });

  it("decodes honest streams to the same bytes as pako, in any piece size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 600_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 9 }),
        fc.constantFrom(1, 511, 4096, 65536, MiB),
        async (n, seed, kind, level, piece) => {
          // Byte-at-a-time reads only on small chunks, to keep the run short.
          const max = piece === 1 && n > 5000 ? 3000 : piece;
          const raw = data(n, seed, kind);
          const got = await agree(new Uint8Array(deflateSync(raw, { level })), n, max);
          expect(got.ok).toBe(true);
          if (got.ok) expect(Buffer.compare(got.bytes, raw)).toBe(0);
        },
      ),
      { seed: 0x21b0, numRuns: 60 },
    );
  });

  it("gives the pako path's error on the same hostile inputs", async () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("truncate"), at: fc.nat() }),
      fc.record({ kind: fc.constant("flip"), at: fc.nat(), bit: fc.nat(7) }),
      fc.record({
        kind: fc.constant("smash"),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
      fc.record({
        kind: fc.constant("trail"),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      }),
      fc.record({ kind: fc.constant("size"), delta: fc.integer({ min: -2000, max: 2000 }) }),
    );
    const codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 100_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.constantFrom(777, 4096, MiB),
        async (n, seed, kind, mutations, max) => {
          let z = new Uint8Array(deflateSync(data(n, seed, kind)));
          let size = n;
          for (const m of mutations) {
            if (m.kind === "truncate") z = z.subarray(0, m.at % z.length);
            else if (m.kind === "flip" && z.length > 0) {
              z = z.slice();
              z[m.at % z.length] ^= 1 << m.bit;
            } else if (m.kind === "smash" && z.length > 0) {
              z = z.slice();
              z.set(m.bytes.subarray(0, z.length - (m.at % z.length)), m.at % z.length);
            } else if (m.kind === "trail") {
              const longer = new Uint8Array(z.length + m.bytes.length);
              longer.set(z);
              longer.set(m.bytes, z.length);
              z = longer;
            } else if (m.kind === "size") size = Math.max(1, size + m.delta);
          }
          const got = await agree(z, size, max);
          if (!got.ok) codes.add(got.code);
        },
      ),
      { seed: 0x21b1, numRuns: 300 },
    );
    // The mutations reached every decode error class.
    for (const code of ["DECODE_CORRUPT", "DECODE_SHORT", "DECODE_TRAILING", "DECODE_OVERRUN"]) {
      expect(codes).toContain(code);
    }
  }, 60_000);

  it("agrees on empty, garbage, dictionary and bomb inputs", async () => {
    expect(await agree(new Uint8Array(0), 512)).toMatchObject({ ok: false });
    expect(await agree(data(1000, 7, 1), 4096)).toMatchObject({ code: "DECODE_CORRUPT" });
    // A stream asking for a preset dictionary (FDICT set, header check kept valid).
    const dict = Uint8Array.of(0x78, 0xbb, 0, 0, 0, 1, 0x03, 0x00);
    expect(await agree(dict, 512)).toMatchObject({ code: "DECODE_CORRUPT" });
    // 64 MiB of zeros declared as one 2048-sector chunk: stops right past the declared size.
    const bomb = new Uint8Array(deflateSync(new Uint8Array(64 * MiB), { level: 9 }));
    const start = performance.now();
    expect(await agree(bomb, MiB)).toMatchObject({ code: "DECODE_OVERRUN" });
    expect(performance.now() - start).toBeLessThan(2000);
    // The same bomb declared at its true size decodes.
    expect(await agree(bomb, 64 * MiB)).toMatchObject({ ok: true });
    // Two streams back to back: the second is trailing data.
    const two = new Uint8Array([...deflateSync(data(3000, 1, 0)), ...deflateSync(data(10, 2, 0))]);
    expect(await agree(two, 3000)).toMatchObject({ code: "DECODE_TRAILING" });
  });

  it("streams a large chunk with bounded memory and hands out views of one buffer", async () => {
    const raw = data(40 * MiB, 11, 3);
    const z = new Uint8Array(deflateSync(raw));
    const ctx = ctxFor(z, raw.length);
    const got = await decode(nativeZlibCodec, ctx);
    expect(got.ok).toBe(true);
    if (got.ok) {
      expect(Buffer.compare(got.bytes, raw)).toBe(0);
      // zlib state, the 1 MiB output buffer and one 256 KiB input piece, never the chunk.
      expect(got.peak).toBeLessThanOrEqual(64 * 1024 + MiB + 256 * 1024);
    }
  });

  it("falls back to pako under a budget too small for its buffer, with the same outcome", async () => {
    const raw = data(300_000, 3, 3);
    const z = new Uint8Array(deflateSync(raw));
    const small = ctxFor(z, raw.length, 512 * 1024);
    const got = await decode(nativeZlibCodec, small, 4096);
    expect(got.ok).toBe(true);
    if (got.ok) expect(Buffer.compare(got.bytes, raw)).toBe(0);
    // And where even pako does not fit, both raise the same budget error.
    const tiny = await decode(nativeZlibCodec, ctxFor(z, raw.length, 1000));
    expect(tiny).toEqual(await decode(zlibCodec, ctxFor(z, raw.length, 1000)));
    expect(tiny).toMatchObject({ code: "BUDGET_WORKING_MEMORY" });
  });

  it("records index points itself, at block boundaries, and resumes at them", async () => {
    const raw = data(600_000, 5, 3);
    const z = new Uint8Array(deflateSync(raw));
    const ctx = ctxFor(z, raw.length);
    const offered: number[] = [];
    ctx.points = {
      compact: false,
      reserve: (position) => {
        offered.push(position);
        return false;
      },
      add: () => undefined,
    };
    const got = await decode(nativeZlibCodec, ctx);
    expect(got.ok).toBe(true);
    expect(offered.length).toBeGreaterThan(0);
    // Only where pako too finds a boundary (see native-zlib-index.test.ts for the points).
    const exact = boundaries(z, raw.length);
    for (const q of offered) expect(exact.has(q)).toBe(true);
    expect(typeof nativeZlibCodec.resume).toBe("function");
    expect(nativeZlibCodec.packsCheaply).toBe(true);
  });

  it("refuses use after close and keeps a failure latched", async () => {
    const z = new Uint8Array(deflateSync(data(5000, 9, 0)));
    const cursor = nativeZlibCodec.open(ctxFor(z, 5000));
    await cursor.next(100);
    cursor.close();
    cursor.close();
    await expect(cursor.next(100)).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });

    const bad = nativeZlibCodec.open(ctxFor(z.subarray(0, 200), 5000));
    const failure = async () => {
      try {
        while ((await bad.next(MiB)).length > 0);
      } catch (e) {
        return e;
      }
    };
    const first = await failure();
    expect(first).toMatchObject({ code: "DECODE_SHORT" });
    expect(await failure()).toBe(first);
    bad.close();
    // Sanity: node:zlib itself agrees this is truncated.
    expect(() => inflateSync(z.subarray(0, 200))).toThrow();
  });
});
