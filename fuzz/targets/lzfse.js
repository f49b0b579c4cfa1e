/**
 * Fuzz target: the lzfse codec (ULFO) on one chunk payload (see fuzz/codec-harness.js),
 * differential: decoded with the TypeScript block decoders (instrumented, they guide coverage)
 * and with their WebAssembly build, which must give the same bytes or the same error (code,
 * message, offset).
 */
import { lzfseWasmReady, setLzfseEngineMode } from "../../dist/codecs/lzfse/wasm/lzfse-wasm.js";
import { ULFO } from "../../dist/format/types.js";
import { fuzzCodec } from "../codec-harness.js";
import { invariant } from "../harness.js";

const describe = (o) =>
  o.err === undefined
    ? `${o.bytes.length} bytes`
    : `${o.err.code} at ${o.err.offset}: ${o.err.message}`;

export const fuzz = async (data) => {
  setLzfseEngineMode("js");
  const js = await fuzzCodec(ULFO, data);
  setLzfseEngineMode("auto");
  invariant(await lzfseWasmReady(), "the WebAssembly LZFSE decoders do not load");
  const wasm = await fuzzCodec(ULFO, data);
  if (js === undefined || wasm === undefined) return;
  invariant(
    js.err?.code === wasm.err?.code &&
      js.err?.message === wasm.err?.message &&
      js.err?.offset === wasm.err?.offset &&
      Buffer.compare(js.bytes, wasm.bytes) === 0,
    `TypeScript: ${describe(js)}; WebAssembly: ${describe(wasm)}`,
  );
};
