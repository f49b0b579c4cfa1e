/** Fuzz target: the lzma codec (ULMO) on one chunk payload (see fuzz/codec-harness.js). */
import { ULMO } from "../../dist/format/types.js";
import { fuzzCodec } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodec(ULMO, data);
