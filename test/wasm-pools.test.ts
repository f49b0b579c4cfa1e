/**
 * The WebAssembly engines' pools hand out an engine again only when the budget pays for its
 * whole memory: a bzip2 engine grown for 900k blocks never serves a 100k stream, and an LZFSE
 * engine grown by a large payload never serves a cursor that counted less room than it holds.
 * (Each test file loads its own modules, so the pools start empty here.)
 */
import { describe, expect, it } from "vitest";
import { wasmBzip2Engine } from "../src/codecs/bzip2/wasm/bzip2-wasm.js";
import { wasmLzfseEngine } from "../src/codecs/lzfse/wasm/lzfse-wasm.js";

describe("WebAssembly engine pools", () => {
  it("bzip2: an engine made for level 9 is reused for level 9, never for level 1", async () => {
    const nine = await wasmBzip2Engine(900_000);
    expect(nine).toBeDefined();
    nine!.release();
    const one = await wasmBzip2Engine(100_000);
    expect(one).toBeDefined();
    expect(one).not.toBe(nine);
    one!.release();
    const again = await wasmBzip2Engine(900_000);
    expect(again).toBe(nine);
    again!.release();
  });

  it("LZFSE: an engine grown by a 1 MiB payload is reused only where that room is counted", async () => {
    const bytes = 300 * 1024;
    const e = await wasmLzfseEngine(bytes, 64 * 1024);
    expect(e).toBeDefined();
    // A block's payload is copied into the engine's memory, which grows to hold it.
    e!.lzvn(
      new Uint8Array(1024 * 1024),
      16,
      () => {
        throw new Error("refused");
      },
      0,
    );
    e!.release(true);
    const small = await wasmLzfseEngine(bytes, 64 * 1024);
    expect(small).toBeDefined();
    expect(small).not.toBe(e);
    small!.release(true);
    const roomy = await wasmLzfseEngine(bytes, 2 * 1024 * 1024);
    expect(roomy).toBe(e);
    roomy!.release(true);
  });
});
