/** Fuzz target: the lzfse codec (ULFO) on one chunk payload (see fuzz/codec-harness.js). */
import { ULFO } from "../../dist/format/types.js";
import { fuzzCodec } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodec(ULFO, data);
