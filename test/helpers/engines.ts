/**
 * Decoding the same input with a codec's TypeScript decoder and with its WebAssembly build, for
 * tests that hold the two to the same bytes and the same errors.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { setWasmMode } from "../../src/codecs/wasm/embedded.js";

/**
 * Run `decode` with the TypeScript decoders (`setWasmMode("js")`), then with WebAssembly
 * (`ready()` must resolve true): both results, for the caller to compare.
 */
export async function withBothEngines<T>(
  ready: () => Promise<boolean>,
  decode: () => Promise<T>,
): Promise<{ js: T; wasm: T }> {
  setWasmMode("js");
  let js: T;
  try {
    expect(await ready()).toBe(false);
    js = await decode();
  } finally {
    setWasmMode("auto");
  }
  expect(await ready()).toBe(true);
  const wasm = await decode();
  return { js, wasm };
}

/** One to four byte flips: a position (taken modulo the input's length) and a non-zero mask. */
export function byteFlips() {
  return fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
    minLength: 1,
    maxLength: 4,
  });
}
