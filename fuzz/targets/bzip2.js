/** Fuzz target: the bzip2 codec (UDBZ) on one chunk payload (see fuzz/codec-harness.js). */
import { UDBZ } from "../../dist/format/types.js";
import { fuzzCodec } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodec(UDBZ, data);
