/**
 * The WebAssembly bzip2 block stages against the TypeScript ones they were written from: the
 * same bytes for every chunk of the real UDBZ image and every stream the system `bzip2` makes
 * at levels 1-9, and the same outcome (the bytes handed out, then the error's code, message and
 * offset) for every corrupted stream; the embedded module is exactly what its C source builds;
 * and where WebAssembly is refused, the TypeScript stages do the work. (bzip2-streams.test.ts
 * runs its hand-made streams through both engines too.)
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bzip2Codec } from "../src/codecs/bzip2/bzip2.js";
import { bzip2WasmReady } from "../src/codecs/bzip2/wasm/bzip2-wasm.js";
import type { Codec } from "../src/codecs/codec.js";
import { setWasmMode } from "../src/codecs/wasm/embedded.js";
import { MemoryMeter } from "../src/core/limits.js";
import { UDBZ } from "../src/format/types.js";
import { DmgError, openDmg } from "../src/index.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { byteFlips, withBothEngines } from "./helpers/engines.js";
import { requireTool, type SkipContext } from "./helpers/reference.js";
import { mixed } from "./helpers/zlib-points.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const AT = 77;
const REAL = "corpus/real/jhermsmeier_node-udif_compression-bz2.dmg";

afterEach(() => setWasmMode("auto"));

function bzip2(t: SkipContext, data: Uint8Array, level: number): Uint8Array {
  requireTool("bzip2", t);
  return new Uint8Array(
    execFileSync("bzip2", ["-c", `-${level}`], { input: data, maxBuffer: 1 << 27 }),
  );
}

/** The bytes handed out, and the error that ended the decode (if any). */
interface Outcome {
  bytes: Uint8Array;
  error?: { code: string; message: string; offset: number | undefined };
}

/** Decode one chunk with `codec` in pieces of at most `max`: its outcome. */
async function outcome(codec: Codec, stream: Uint8Array, size: number, max = 70_000) {
  const memory = new MemoryMeter(32 * MiB);
  const cursor = codec.open(chunkContext(stream, size, { at: AT, memory }));
  const out = new Uint8Array(size);
  let n = 0;
  try {
    for (;;) {
      const piece = await cursor.next(max);
      if (piece.length === 0) break;
      expect(piece.length).toBeLessThanOrEqual(max);
      out.set(piece, n);
      n += piece.length;
    }
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    expect(memory.used).toBe(0);
    const error = { code: e.code, message: e.message, offset: e.offset };
    return { bytes: out.subarray(0, n), error } as Outcome;
  }
  cursor.close();
  expect(memory.used).toBe(0);
  return { bytes: out } as Outcome;
}

/** The outcome with the TypeScript stages, then with WebAssembly. */
const both = (stream: Uint8Array, size: number, max?: number) =>
  withBothEngines(bzip2WasmReady, () => outcome(bzip2Codec, stream, size, max));

/** The two outcomes are the same: equal bytes (a byte compare) and equal errors. */
function expectSame(js: Outcome, wasm: Outcome, what = "") {
  expect(wasm.error, what).toEqual(js.error);
  expect(wasm.bytes.length, what).toBe(js.bytes.length);
  expect(Buffer.compare(wasm.bytes, js.bytes), what).toBe(0);
}

describe("WebAssembly bzip2 block stages", () => {
  it("gives the TypeScript stages' bytes for every chunk of the real UDBZ image", async () => {
    const file = new Uint8Array(readFileSync(REAL));
    const image = await openDmg(file);
    const chunks = [...image.chunks()].filter((c) => c.type === UDBZ);
    await image.close();
    expect(chunks.length).toBeGreaterThan(0);
    for (const c of chunks) {
      const stream = file.subarray(c.offset, c.offset + c.length);
      const size = c.sectorCount * 512;
      const { js, wasm } = await both(stream, size);
      expect(js.error).toBeUndefined();
      expectSame(js, wasm, `chunk at ${c.offset}`);
    }
  });

  it("gives the TypeScript stages' bytes for bzip2 streams at levels 1-9", async (t) => {
    // Text-like, random and zero stretches: short and long runs, every byte value, blocks
    // large enough to be walked in several chains and small ones walked in one.
    const data = mixed(1200 * KiB, 3);
    for (let level = 1; level <= 9; level++) {
      const stream = bzip2(t, data, level);
      for (const max of [4093, 1 << 20]) {
        const { js, wasm } = await both(stream, data.length, max);
        expect(js.error, `level ${level}`).toBeUndefined();
        expect(Buffer.compare(js.bytes, data), `level ${level}`).toBe(0);
        expectSame(js, wasm, `level ${level}, pieces of ${max}`);
      }
    }
    // One byte at a time: every run count cut at every length and resumed.
    const small = data.subarray(0, 40 * KiB);
    const { js, wasm } = await both(bzip2(t, small, 1), small.length, 1);
    expect(Buffer.compare(js.bytes, small)).toBe(0);
    expectSame(js, wasm);
    // A long run-length stretch: the 4-byte-and-count step over whole output pieces.
    const runs = new Uint8Array(3 * MiB).fill(0x41);
    runs.fill(0x42, MiB, MiB + 5);
    const r = await both(bzip2(t, runs, 9), runs.length, 1 << 20);
    expect(Buffer.compare(r.js.bytes, runs)).toBe(0);
    expectSame(r.js, r.wasm);
  });

  it("hands out the same bytes and fails the same way on every corruption (property)", async (t) => {
    // Flips in the symbol data give blocks whose links form several cycles, whose bytes are
    // handed out before the block CRC refuses them: those bytes are compared too.
    const data = mixed(300 * KiB, 9);
    const streams = [bzip2(t, data, 9), bzip2(t, data, 2), bzip2(t, data.subarray(0, 20 * KiB), 1)];
    let failures = 0;
    let walked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: streams.length - 1 }),
        byteFlips(),
        fc.constantFrom(1000, 65_536, 1 << 20),
        async (which, flips, max) => {
          const bad = streams[which].slice();
          for (const [at, x] of flips) bad[4 + (at % (bad.length - 4))] ^= x;
          const size = which === 2 ? 20 * KiB : data.length;
          const { js, wasm } = await both(bad, size, max);
          expectSame(js, wasm);
          if (js.error) failures++;
          if (js.error?.message.endsWith("bzip2 block CRC mismatch") && js.bytes.length > 0)
            walked++;
        },
      ),
      { numRuns: 150, seed: 20261207 },
    );
    expect(failures).toBeGreaterThan(100);
    expect(walked).toBeGreaterThan(10);
  });

  it("cut streams and wrong declared sizes fail the same way in both", async (t) => {
    const data = mixed(200 * KiB, 5);
    const stream = bzip2(t, data, 9);
    for (const cut of [5, 40, 1000, stream.length >> 1, stream.length - 7, stream.length - 1]) {
      const { js, wasm } = await both(stream.subarray(0, cut), data.length);
      expect(js.error?.code).toBe("DECODE_SHORT");
      expectSame(js, wasm, `cut at ${cut}`);
    }
    for (const size of [data.length - 512, data.length + 512, 512]) {
      const { js, wasm } = await both(stream, size);
      expect(js.error).toBeDefined();
      expectSame(js, wasm, `declared ${size}`);
    }
  });

  it("with WebAssembly refused, the TypeScript stages do the work", async (t) => {
    const data = mixed(200 * KiB, 5);
    const stream = bzip2(t, data, 9);
    vi.resetModules();
    vi.stubGlobal("WebAssembly", undefined);
    try {
      const fresh = await import("../src/codecs/bzip2/bzip2.js");
      const wasm = await import("../src/codecs/bzip2/wasm/bzip2-wasm.js");
      expect(await wasm.bzip2WasmReady()).toBe(false);
      const got = await outcome(fresh.bzip2Codec, stream, data.length);
      expect(got.error).toBeUndefined();
      expect(Buffer.compare(got.bytes, data)).toBe(0);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
