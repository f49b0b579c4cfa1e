/** Fuzz target: the zlib codec (UDZO) on one chunk payload (see fuzz/codec-harness.js). */
import { UDZO } from "../../dist/format/types.js";
import { fuzzCodec } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodec(UDZO, data);
