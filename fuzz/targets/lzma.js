/**
 * Fuzz target: the lzma codec (ULMO) on one chunk payload (see fuzz/codec-harness.js), with
 * the TypeScript and the WebAssembly LZMA decoders, which must agree byte for byte and error
 * for error.
 */
import { setWasmMode } from "../../dist/codecs/wasm/embedded.js";
import { ULMO } from "../../dist/format/types.js";
import { fuzzCodecEngines } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodecEngines(ULMO, data, setWasmMode);
