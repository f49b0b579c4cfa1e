/**
 * Fuzz target: the bzip2 codec (UDBZ) on one chunk payload (see fuzz/codec-harness.js), with
 * the contract checked on the TypeScript block stages, then both engines compared: the
 * WebAssembly build must hand out the same bytes and fail the same way.
 */
import { bzip2WasmReady, setBzip2EngineMode } from "../../dist/codecs/bzip2/wasm/bzip2-wasm.js";
import { UDBZ } from "../../dist/format/types.js";
import { fuzzCodec, sameWithBothEngines } from "../codec-harness.js";

export const fuzz = async (data) => {
  setBzip2EngineMode("js");
  await fuzzCodec(UDBZ, data);
  await sameWithBothEngines(UDBZ, data, setBzip2EngineMode, bzip2WasmReady);
};
