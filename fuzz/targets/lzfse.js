/**
 * Fuzz target: the lzfse codec (ULFO) on one chunk payload (see fuzz/codec-harness.js), with
 * the TypeScript block decoders (instrumented, they guide coverage) and their WebAssembly
 * build, which must agree byte for byte and error for error.
 */
import { setWasmMode } from "../../dist/codecs/wasm/embedded.js";
import { ULFO } from "../../dist/format/types.js";
import { fuzzCodecEngines } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodecEngines(ULFO, data, setWasmMode);
