/**
 * Which codec decodes which chunk type: one line per codec. Zero, raw and ignore chunks need no
 * codec: the reader handles them.
 */
import { adcCodec } from "./adc.js";
import { bzip2Codec } from "./bzip2.js";
import type { Codec } from "./codec.js";
import { lzfseCodec } from "./lzfse.js";
import { xzCodec } from "./xz.js";
import { zlibCodec } from "./zlib.js";

const codecs = new Map<number, Codec>();

/**
 * Make `codec` the decoder for chunks of type `codec.type`, replacing any codec registered
 * for it before (the Node entry point uses this to swap in a native zlib).
 */
export function registerCodec(codec: Codec): void {
  codecs.set(codec.type, codec);
}

registerCodec(adcCodec);
registerCodec(zlibCodec);
registerCodec(bzip2Codec);
registerCodec(lzfseCodec);
registerCodec(xzCodec);

/**
 * The codec for a compressed chunk type, or undefined for types no codec knows (zero, raw,
 * ignore, comment and terminator chunks, and unknown codes).
 */
export function codecFor(type: number): Codec | undefined {
  return codecs.get(type);
}
