/**
 * Fuzz target: the bzip2 codec (UDBZ) on one chunk payload (see fuzz/codec-harness.js), with
 * the TypeScript block stages (instrumented, they guide coverage) and their WebAssembly build,
 * which must agree byte for byte and error for error.
 */
import { setWasmMode } from "../../dist/codecs/wasm/embedded.js";
import { UDBZ } from "../../dist/format/types.js";
import { fuzzCodecEngines } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodecEngines(UDBZ, data, setWasmMode);
