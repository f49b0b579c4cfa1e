/** Fuzz target: the adc codec (UDCO) on one chunk payload (see fuzz/codec-harness.js). */
import { UDCO } from "../../dist/format/types.js";
import { fuzzCodec } from "../codec-harness.js";

export const fuzz = (data) => fuzzCodec(UDCO, data);
