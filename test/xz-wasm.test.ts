/**
 * The WebAssembly LZMA decoder against the TypeScript one it was written from: the same bytes
 * for every stream the system `xz` makes at several presets and literal/position settings, and
 * the same error (code, message, offset) for every corrupted stream; the engine's memory
 * within what the budget counts; and where WebAssembly is refused, the TypeScript decoder does
 * the work. (test/wasm-build.test.ts checks the embedded module is what lzma.c builds.)
 */
import { execFileSync } from "node:child_process";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { setWasmMode } from "../src/codecs/wasm/embedded.js";
import { LZMA_WASM_FIXED, wasmLzmaEngine } from "../src/codecs/xz/wasm/lzma-wasm.js";
import { xzCodec } from "../src/codecs/xz/xz.js";
import { type Outcome, outcome } from "./helpers/codec-outcome.js";
import { byteFlips } from "./helpers/engines.js";
import { requireTool, type SkipContext } from "./helpers/reference.js";
import { mixed } from "./helpers/zlib-points.js";

const KiB = 1024;
const MiB = 1024 * KiB;

afterEach(() => setWasmMode("auto"));

function xz(t: SkipContext, data: Uint8Array, args: string[]): Uint8Array {
  requireTool("xz", t);
  return new Uint8Array(execFileSync("xz", ["-c", ...args], { input: data, maxBuffer: 1 << 27 }));
}

/** True when the outcome is exactly `data` (a byte compare: deep equality is slow here). */
function sameBytes(o: Outcome, data: Uint8Array): boolean {
  return "bytes" in o && Buffer.compare(o.bytes, data) === 0;
}

/** The outcome with the TypeScript decoder, then with WebAssembly. */
async function both(stream: Uint8Array, size: number, max?: number) {
  setWasmMode("js");
  // No engine, not even a pooled one, while the TypeScript decoder is asked for.
  expect(await wasmLzmaEngine(64 * KiB)).toBeUndefined();
  const js = await outcome(xzCodec, stream, size, max);
  setWasmMode("auto");
  const engine = await wasmLzmaEngine(64 * KiB);
  expect(engine).toBeDefined();
  engine?.release();
  const wasm = await outcome(xzCodec, stream, size, max);
  return { js, wasm };
}

describe("WebAssembly LZMA decoder", () => {
  it("gives the TypeScript decoder's bytes for every preset and lc/lp/pb", async (t) => {
    const data = mixed(400 * KiB, 3);
    const settings = [
      ["-0"],
      ["-6"],
      ["-9e"],
      ["--lzma2=preset=6,lc=0,lp=0,pb=0"],
      ["--lzma2=preset=6,lc=4,lp=0,pb=4"],
      ["--lzma2=preset=1,lc=1,lp=3,pb=3"],
      ["--lzma2=preset=6,dict=4KiB"],
      ["-6", "-T2", "--block-size=100000"],
    ];
    for (const args of settings) {
      const stream = xz(t, data, args);
      for (const max of [4093, 1 << 20]) {
        const { js, wasm } = await both(stream, data.length, max);
        expect(sameBytes(js, data), args.join(" ")).toBe(true);
        expect(sameBytes(wasm, data), args.join(" ")).toBe(true);
      }
    }
    // One byte at a time: every match cut at every length and resumed.
    const small = data.subarray(0, 24 * KiB);
    const { js, wasm } = await both(xz(t, small, ["-6"]), small.length, 1);
    expect(sameBytes(js, small)).toBe(true);
    expect(sameBytes(wasm, small)).toBe(true);
  });

  it("fails exactly as the TypeScript decoder on every corruption (property)", async (t) => {
    const data = mixed(96 * KiB, 9);
    const streams = [xz(t, data, ["-6"]), xz(t, data, ["--lzma2=preset=2,lc=2,lp=2,pb=1"])];
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: streams.length - 1 }),
        byteFlips(),
        async (which, flips) => {
          const bad = streams[which].slice();
          // Past the stream header, so most flips reach the LZMA data.
          for (const [at, x] of flips) bad[12 + (at % (bad.length - 12))] ^= x;
          const { js, wasm } = await both(bad, data.length);
          expect(wasm).toEqual(js);
          if ("code" in js) failures++;
        },
      ),
      { numRuns: 150, seed: 20261207 },
    );
    expect(failures).toBeGreaterThan(100);
  });

  it("random bytes behind a valid LZMA2 chunk header fail the same way in both", async () => {
    // Hand-made streams reach states the encoder never writes: distances past the window,
    // end markers, chunks overrun by a symbol. The stream's CRCs are not needed to get there.
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 5, maxLength: 600 }), async (payload) => {
        const { js, wasm } = await both(lzma2Stream(payload), 64 * KiB);
        expect(wasm).toEqual(js);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it("an engine's memory stays within the window plus the fixed cost the budget counts", async () => {
    // Increasing sizes, so no pooled engine fits and each is made afresh.
    for (const bytes of [64 * KiB, 64 * KiB + 16, MiB + 16, 3 * MiB, 9 * MiB + 48]) {
      const engine = await wasmLzmaEngine(bytes);
      expect(engine).toBeDefined();
      const buf = engine!.window.buf;
      expect(buf.length).toBe(bytes);
      expect(buf.buffer.byteLength).toBeLessThanOrEqual(bytes + LZMA_WASM_FIXED);
      expect(buf.buffer.byteLength).toBeGreaterThanOrEqual(bytes);
      engine!.release();
    }
  });

  it("with WebAssembly refused, the TypeScript decoder does the work", async (t) => {
    const data = mixed(200 * KiB, 5);
    const stream = xz(t, data, ["-6"]);
    vi.resetModules();
    vi.stubGlobal("WebAssembly", undefined);
    try {
      const fresh = await import("../src/codecs/xz/xz.js");
      const wasm = await import("../src/codecs/xz/wasm/lzma-wasm.js");
      expect(await wasm.wasmLzmaEngine(64 * KiB)).toBeUndefined();
      expect(sameBytes(await outcome(fresh.xzCodec, stream, data.length), data)).toBe(true);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});

/**
 * An XZ stream (no check) with one block whose LZMA2 data is one LZMA chunk holding `payload`
 * (its first byte forced to the range coder's zero), decoding to 64 KiB.
 */
function lzma2Stream(payload: Uint8Array): Uint8Array {
  const p = payload.slice();
  p[0] = 0;
  const unpacked = 64 * KiB - 1;
  const lz = [
    0xe0,
    unpacked >> 8,
    unpacked & 0xff,
    (p.length - 1) >> 8,
    (p.length - 1) & 0xff,
    0x5d,
  ];
  const header = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x00];
  const crc = crc32(new Uint8Array([0, 0]));
  const streamHeader = [...header, crc & 0xff, (crc >>> 8) & 0xff, (crc >>> 16) & 0xff, crc >>> 24];
  const block = [0x02, 0x00, 0x21, 0x01, 0x16, 0x00, 0x00, 0x00];
  const bcrc = crc32(new Uint8Array(block));
  const blockHeader = [
    ...block,
    bcrc & 0xff,
    (bcrc >>> 8) & 0xff,
    (bcrc >>> 16) & 0xff,
    bcrc >>> 24,
  ];
  return new Uint8Array([...streamHeader, ...blockHeader, ...lz, ...p, 0x00]);
}
