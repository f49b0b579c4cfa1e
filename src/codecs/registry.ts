/**
 * Which codec decodes which chunk type: one line per codec. Zero, raw and ignore chunks need no
 * codec: the reader handles them.
 *
 * zlib and ADC are always here. The bzip2, LZFSE and XZ decoders are loaded when an image that
 * has such chunks is opened ({@link loadCodecs}): most images need none of them, and each costs
 * code to download (browsers) and resident memory (about 1 MiB apiece on Node).
 */
import { UDBZ, ULFO, ULMO } from "../format/types.js";
import { adcCodec } from "./adc/adc.js";
import type { Codec } from "./codec.js";
import { zlibCodec } from "./zlib/zlib.js";

const codecs = new Map<number, Codec>();
/** The built-in codecs loaded so far, whether or not a caller's codec replaced them. */
const builtins = new Map<number, Codec>([
  [adcCodec.type, adcCodec],
  [zlibCodec.type, zlibCodec],
]);

/** The decoders loaded on first need, by chunk type. */
const LOADERS = new Map<number, () => Promise<Codec>>([
  [UDBZ, async () => (await import("./bzip2/bzip2.js")).bzip2Codec],
  [ULFO, async () => (await import("./lzfse/lzfse.js")).lzfseCodec],
  [ULMO, async () => (await import("./xz/xz.js")).xzCodec],
]);
const loading = new Map<number, Promise<void>>();

/**
 * Make `codec` the decoder for chunks of type `codec.type`, replacing any codec registered
 * for it before (the Node entry point uses this to swap in a native zlib). A codec registered
 * by the caller is never replaced by a built-in one loaded later.
 */
export function registerCodec(codec: Codec): void {
  codecs.set(codec.type, codec);
}

registerCodec(adcCodec);
registerCodec(zlibCodec);

/**
 * Load the built-in decoders for `types` (default: every one), so that {@link codecFor}
 * knows them. Opening an image does this for the types it has; call it before using
 * `codecFor` directly. A decoder that cannot be loaded is left out: its chunks are then
 * refused as CHUNK_TYPE_UNSUPPORTED when they are read.
 */
export async function loadCodecs(types: Iterable<number> = LOADERS.keys()): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const type of new Set(types)) {
    const load = LOADERS.get(type);
    if (!load || builtins.has(type)) continue;
    let wait = loading.get(type);
    if (wait === undefined) {
      wait = load().then(
        (codec) => {
          builtins.set(type, codec);
          if (!codecs.has(type)) registerCodec(codec);
        },
        () => {
          loading.delete(type); // a later open may try again
        },
      );
      loading.set(type, wait);
    }
    waits.push(wait);
  }
  await Promise.all(waits);
}

/**
 * The built-in codec for `type` if it is loaded, even where a caller's codec replaced it (the
 * reader falls back on it to resume at index points where the caller's cannot).
 */
export function builtinCodec(type: number): Codec | undefined {
  return builtins.get(type);
}

/**
 * The codec for a compressed chunk type, or undefined for types no codec knows (zero, raw,
 * ignore, comment and terminator chunks, and unknown codes) or whose decoder is not loaded.
 */
export function codecFor(type: number): Codec | undefined {
  return codecs.get(type);
}
