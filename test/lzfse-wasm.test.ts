/**
 * The WebAssembly ULFO block decoders against the TypeScript ones they were written from: the
 * same bytes for the reference encoder's vectors (as `bvx2` and as `bvx1`), the encoder's LZVN
 * streams and the real ULFO image; the same error (code, message, offset) for every corrupted
 * or hand-made stream; pieces handed out stay valid as the contract says; and where
 * WebAssembly is refused, the TypeScript decoders do the work.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV2_BLOCK_MAGIC,
  lzfseCodec,
} from "../src/codecs/lzfse/lzfse.js";
import { wasmLzfseEngine } from "../src/codecs/lzfse/wasm/lzfse-wasm.js";
import { setWasmMode } from "../src/codecs/wasm/embedded.js";
import { openDmg } from "../src/index.js";
import { encodeLzfse } from "../src/write/lzfse-encode.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { type Outcome, outcome } from "./helpers/codec-outcome.js";
import { REAL } from "./helpers/corpus.js";
import { byteFlips } from "./helpers/engines.js";
import { asV1, blocks, cat, END, le32, mixedBytes, stored, v2At } from "./helpers/lzfse-blocks.js";

const FIXTURES = join(import.meta.dirname, "fixtures", "lzfse");
const MiB = 1024 * 1024;
const AT = 333;

afterEach(() => setWasmMode("auto"));

const fixture = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, `${name}.lzfse`)));

/** The vectors of the fixtures README: name and raw size. */
const VECTORS = readFileSync(join(FIXTURES, "README.md"), "utf8")
  .split("\n")
  .flatMap((line) => {
    const m = /^\| ([\w-]+) \| (\d+) \| [0-9a-f]{64} \| \d+ \| bvx. \|$/.exec(line);
    return m ? [{ name: m[1], size: Number(m[2]) }] : [];
  });

/** The outcome with the TypeScript decoders, then with WebAssembly. */
async function both(stream: Uint8Array, size: number, max?: number) {
  setWasmMode("js");
  // No engine, not even a pooled one, while the TypeScript decoders are asked for.
  expect(await wasmLzfseEngine(4096)).toBeUndefined();
  const js = await outcome(lzfseCodec, stream, size, max, AT);
  setWasmMode("auto");
  const engine = await wasmLzfseEngine(4096);
  expect(engine).toBeDefined();
  engine?.release(true);
  const wasm = await outcome(lzfseCodec, stream, size, max, AT);
  return { js, wasm };
}

/** The same error, or the same bytes (a byte compare: deep equality is slow here). */
function expectSame(js: Outcome, wasm: Outcome): void {
  if ("bytes" in js && "bytes" in wasm) expect(Buffer.compare(js.bytes, wasm.bytes)).toBe(0);
  else expect(wasm).toEqual(js);
}

/** Both decode `stream` to the same bytes, which are `size` long; those bytes. */
async function sameBytes(stream: Uint8Array, size: number, max?: number): Promise<Uint8Array> {
  const { js, wasm } = await both(stream, size, max);
  expect("code" in js ? js.message : "bytes").toBe("bytes");
  expect("code" in wasm ? wasm.message : "bytes").toBe("bytes");
  const a = (js as { bytes: Uint8Array }).bytes;
  const b = (wasm as { bytes: Uint8Array }).bytes;
  expect(Buffer.compare(a, b)).toBe(0);
  return b;
}

/** A stream of `stream`'s blocks with each `bvx2` block's header rewritten as `bvx1`. */
function allV1(stream: Uint8Array): Uint8Array {
  const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.length);
  return cat(
    ...blocks(stream).map((b) =>
      b.length >= 4 && view(b).getUint32(0, true) === LZFSE_COMPRESSEDV2_BLOCK_MAGIC ? asV1(b) : b,
    ),
  );
}

describe("WebAssembly LZFSE and LZVN decoders", () => {
  it("gives the TypeScript decoders' bytes for every vector, as bvx2 and as bvx1", async () => {
    expect(VECTORS.length).toBeGreaterThan(10);
    for (const { name, size } of VECTORS) {
      const stream = fixture(name);
      for (const max of [1 << 20, 4099]) {
        const bytes = await sameBytes(stream, size, max);
        expect(bytes.length).toBe(size);
        await sameBytes(allV1(stream), size, max);
      }
    }
    // One byte at a time: every literal run and match cut at every length and resumed.
    await sameBytes(fixture("text-64k"), 65536, 1);
    await sameBytes(fixture("text-3000"), 3000, 1);
  });

  it("gives the TypeScript decoders' bytes for the encoder's LZVN streams", async () => {
    for (const [n, seed] of [
      [1, 1],
      [4096, 2],
      [70_000, 3],
      [300_000, 4],
      [1 << 20, 5],
    ]) {
      const raw = mixedBytes(n, seed);
      const stream = encodeLzfse(raw, "lzvn");
      const bytes = await sameBytes(stream, n, 65_537);
      expect(Buffer.compare(bytes, raw)).toBe(0);
    }
  });

  it("reads the real ULFO image to the same disk as the TypeScript decoders", async () => {
    const image = new Uint8Array(
      readFileSync(join(REAL, "jhermsmeier_node-udif_compression-lzfse.dmg")),
    );
    const disks: Uint8Array[] = [];
    for (const mode of ["js", "auto"] as const) {
      setWasmMode(mode);
      const dmg = await openDmg(image);
      expect([...dmg.chunks()].some((c) => c.typeName === "lzfse")).toBe(true);
      disks.push(await dmg.read(0, dmg.size));
      await dmg.close();
    }
    expect(disks[1].length).toBeGreaterThan(0);
    expect(Buffer.compare(disks[0], disks[1])).toBe(0);
  });

  it("fails exactly as the TypeScript decoders on every corruption (property)", async () => {
    const lzvnStream = encodeLzfse(mixedBytes(50_000, 9), "lzvn");
    const streams = [
      { stream: fixture("text-64k"), size: 65536 },
      { stream: allV1(fixture("text-64k")), size: 65536 },
      { stream: fixture("runs-200k"), size: 200_000 },
      { stream: fixture("text-3000"), size: 3000 },
      { stream: lzvnStream, size: 50_000 },
    ];
    let failures = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: streams.length - 1 }),
        byteFlips(),
        fc.constantFrom(1 << 20, 4099, 997),
        async (which, flips, max) => {
          const { stream, size } = streams[which];
          const bad = stream.slice();
          for (const [at, x] of flips) bad[at % bad.length] ^= x;
          const { js, wasm } = await both(bad, size, max);
          expectSame(js, wasm);
          if ("code" in js) failures++;
        },
      ),
      { numRuns: 300, seed: 20261207 },
    );
    expect(failures).toBeGreaterThan(150);
  });

  it("random LZVN payloads fail or decode the same way in both", async () => {
    // Hand-made payloads reach what the encoder never writes: undefined opcodes, distances
    // before the chunk, literal runs past the payload, bad end-of-stream padding.
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.boolean(),
        async (ops, nRaw, eos) => {
          const payload = eos ? cat(ops, [6, 0, 0, 0, 0, 0, 0, 0]) : ops;
          const block = cat(
            le32(LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC),
            le32(nRaw),
            le32(payload.length),
            payload,
          );
          const stream = cat(stored(mixedBytes(40, nRaw)), block, END);
          const { js, wasm } = await both(stream, 40 + nRaw, 997);
          expectSame(js, wasm);
        },
      ),
      { numRuns: 400, seed: 11 },
    );
  });

  it("random payloads behind a valid bvx2 header fail or decode the same way in both", async () => {
    // The header's tables are valid, so the random bits reach every L, M, D and literal check.
    const block = blocks(fixture("text-64k"))[0];
    const h = v2At(block, 0);
    const header = block.subarray(0, h.headerSize);
    const payloadBytes = h.n_literal_payload_bytes + h.n_lmd_payload_bytes;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), async (seed) => {
        const payload = mixedBytes(payloadBytes, seed);
        const { js, wasm } = await both(cat(header, payload, END), 65536, 4099);
        expectSame(js, wasm);
      }),
      { numRuns: 100, seed: 5 },
    );
  });

  it("a piece stays valid while another cursor decodes, after its own cursor closed", async () => {
    const a = fixture("text-64k");
    const b = fixture("mixed-3m");
    const cursor = lzfseCodec.open(chunkContext(a, 65536));
    const piece = await cursor.next(30_000);
    const copy = piece.slice();
    cursor.close();
    // The closed cursor's memory is not handed to the next cursor while `piece` may be in use.
    const other = await outcome(lzfseCodec, b, 3 * MiB);
    expect("bytes" in other && other.bytes.length).toBe(3 * MiB);
    expect(Buffer.compare(piece, copy)).toBe(0);
  });

  it("with WebAssembly refused, the TypeScript decoders do the work", async () => {
    const stream = fixture("text-64k");
    setWasmMode("js");
    const expected = await outcome(lzfseCodec, stream, 65536);
    vi.resetModules();
    vi.stubGlobal("WebAssembly", undefined);
    try {
      const fresh = await import("../src/codecs/lzfse/lzfse.js");
      const wasm = await import("../src/codecs/lzfse/wasm/lzfse-wasm.js");
      expect(await wasm.wasmLzfseEngine(4096)).toBeUndefined();
      expect(await outcome(fresh.lzfseCodec, stream, 65536)).toEqual(expected);
    } finally {
      vi.unstubAllGlobals();
      vi.resetModules();
    }
  });
});
