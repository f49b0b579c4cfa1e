/**
 * Which codec decodes which chunk type: one line per codec. Zero, raw and ignore chunks need no
 * codec: the reader handles them.
 *
 * There is no process-wide registration: each image gets a {@link CodecTable} when it is
 * opened, made from a platform's frozen defaults ({@link CORE_CODECS} in the core; the Node
 * entry point's table swaps in node:zlib) and the caller's own codecs for that image only (like
 * Go's `(*zip.Reader).RegisterDecompressor`). Two images opened with different codecs never
 * affect each other.
 *
 * Every decoder is loaded when an image that has its chunks is opened (the Node entry's native
 * zlib is always loaded, its pako half on need): most images need one or two, and each costs code to download
 * (browsers) and resident memory (on Node, up to about 1 MiB apiece; module source survives
 * young-generation collections and makes V8 grow its new space). Loading a module is
 * idempotent, so the loaded decoders are remembered for the process.
 */
import type { CipherProvider } from "../containers/encrypted/ciphers.js";
import { DmgError } from "../core/errors.js";
import { codecParts } from "../core/options.js";
import { UDBZ, UDCO, UDZO, ULFO, ULMO } from "../format/types.js";
import type { Codec } from "./codec.js";

/** A platform's default codecs: those always loaded, and loaders for the others. */
export interface CodecDefaults {
  readonly loaded: ReadonlyMap<number, Codec>;
  readonly loaders: ReadonlyMap<number, () => Promise<Codec>>;
  /** The platform's ciphers for encrypted images (undefined: WebCrypto's). */
  readonly ciphers?: CipherProvider;
}

/** The codecs of one image, fixed when it was opened. */
export interface CodecTable {
  /** The codec that decodes chunks of `type`, or undefined (no codec, or none could load). */
  get(type: number): Codec | undefined;
  /**
   * A codec that resumes at index points for chunks of `type`: the image's own codec when it
   * can, else the platform's default when that can (a caller's codec need not support it).
   */
  seekable(type: number): Codec | undefined;
  /** True when chunks of `type` decode with the platform's default codec (not a caller's). */
  isDefault(type: number): boolean;
}

/** The browser-safe defaults: pako zlib, and our ADC, bzip2, LZFSE and XZ, each loaded on need. */
export const CORE_CODECS: CodecDefaults = freezeDefaults(
  [],
  [
    [UDZO, async () => (await import("./zlib/zlib.js")).zlibCodec],
    [UDCO, async () => (await import("./adc/adc.js")).adcCodec],
    [UDBZ, async () => (await import("./bzip2/bzip2.js")).bzip2Codec],
    [ULFO, async () => (await import("./lzfse/lzfse.js")).lzfseCodec],
    [ULMO, async () => (await import("./xz/xz.js")).xzCodec],
  ],
);

function freezeDefaults(
  loaded: Codec[],
  loaders: Array<[number, () => Promise<Codec>]>,
): CodecDefaults {
  return Object.freeze({
    loaded: new Map(loaded.map((c) => [c.type, c])),
    loaders: new Map(loaders),
  });
}

/** `defaults` with `codec` as the always-loaded codec of its type (the Node entry's zlib). */
export function withDefault(defaults: CodecDefaults, codec: Codec): CodecDefaults {
  const loaded = [...defaults.loaded.values()].filter((c) => c.type !== codec.type);
  loaded.push(codec);
  const loaders = [...defaults.loaders].filter(([t]) => t !== codec.type);
  return freezeDefaults(loaded, loaders);
}

/** Decoders loaded on need, by loader: each module is loaded once per process. */
const loadedOnce = new Map<() => Promise<Codec>, Promise<Codec | undefined>>();

function load(loader: () => Promise<Codec>): Promise<Codec | undefined> {
  let p = loadedOnce.get(loader);
  if (p === undefined) {
    p = loader().then(
      (c) => c,
      () => {
        loadedOnce.delete(loader); // a later open may try again
        return undefined;
      },
    );
    loadedOnce.set(loader, p);
  }
  return p;
}

/**
 * The codec table of an image whose chunks have the types `types`: the defaults for those
 * types (loading the decoders they need), with `overrides` in place of the defaults of their
 * types. A decoder that cannot be loaded is left out: its chunks are then refused as
 * CHUNK_TYPE_UNSUPPORTED when read.
 *
 * @throws DmgError INVALID_ARGUMENT when `overrides` is not an array of codecs
 */
export async function codecTable(
  types: Iterable<number>,
  defaults: CodecDefaults = CORE_CODECS,
  overrides?: readonly Codec[],
): Promise<CodecTable> {
  const own = new Map<number, Codec>();
  if (overrides !== undefined) {
    if (!Array.isArray(overrides)) {
      throw new DmgError("INVALID_ARGUMENT", "codecs must be an array of codecs");
    }
    // The shape is checked where options are read (once, each property read once); here again
    // for callers inside the library that pass codecs of their own.
    overrides.forEach((c, i) => {
      own.set(codecParts(c, `codecs[${i}]`).type, c);
    });
  }
  const builtin = new Map(defaults.loaded);
  const waits: Array<Promise<void>> = [];
  for (const type of new Set(types)) {
    const loader = defaults.loaders.get(type);
    if (loader === undefined || builtin.has(type)) continue;
    waits.push(
      load(loader).then((c) => {
        if (c) builtin.set(type, c);
      }),
    );
  }
  await Promise.all(waits);
  return Object.freeze({
    get: (type: number) => own.get(type) ?? builtin.get(type),
    seekable(type: number) {
      const mine = own.get(type);
      if (mine?.resume) return mine;
      const b = builtin.get(type);
      return b?.resume ? b : undefined;
    },
    isDefault: (type: number) => !own.has(type),
  });
}

/**
 * A table of every default codec of `defaults`, all loaded: for tools and tests that decode
 * payloads without an image.
 */
export function loadCodecs(defaults: CodecDefaults = CORE_CODECS): Promise<CodecTable> {
  return codecTable(defaults.loaders.keys(), defaults);
}
