/**
 * Which codec decodes which chunk type. Zero, raw and ignore chunks need no codec: the reader
 * handles them. Types that are known but not decodable yet map to a codec whose `open` raises
 * CHUNK_TYPE_UNSUPPORTED, so the error names the type instead of calling it unknown.
 */
import { ULFO, ULMO } from "../format/types.js";
import { adcCodec } from "./adc.js";
import { bzip2Codec } from "./bzip2.js";
import { type ChunkCursor, type Codec, type DecodeContext, decodeError } from "./codec.js";
import { zlibCodec } from "./zlib.js";

/** Compressed chunk types no codec decodes yet, with the name messages use for them. */
export const UNSUPPORTED_TYPES: ReadonlyMap<number, string> = new Map([
  [ULFO, "LZFSE (ULFO)"],
  [ULMO, "LZMA (ULMO)"],
]);

/** A codec whose `open` raises CHUNK_TYPE_UNSUPPORTED naming `label` (e.g. "LZFSE (ULFO)"). */
export function unsupportedCodec(type: number, label: string): Codec {
  return {
    type,
    name: label,
    open(ctx: DecodeContext): ChunkCursor {
      return decodeError(ctx, "CHUNK_TYPE_UNSUPPORTED", `${label} chunks are not supported yet`);
    },
  };
}

const codecs = new Map<number, Codec>();

/**
 * Make `codec` the decoder for chunks of type `codec.type`, replacing any codec registered
 * for it before (the Node entry point uses this to swap in a native zlib).
 */
export function registerCodec(codec: Codec): void {
  codecs.set(codec.type, codec);
}

for (const [type, label] of UNSUPPORTED_TYPES) registerCodec(unsupportedCodec(type, label));
registerCodec(adcCodec);
registerCodec(zlibCodec);
registerCodec(bzip2Codec);

/**
 * The codec for a compressed chunk type, or undefined for types no codec knows (zero, raw,
 * ignore, comment and terminator chunks, and unknown codes).
 */
export function codecFor(type: number): Codec | undefined {
  return codecs.get(type);
}
