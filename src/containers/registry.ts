/**
 * The containers read, in the order they are tried. A file that none of them claims is read
 * as a UDIF image (or refused as one).
 */

import type { Finding } from "../core/errors.js";
import type { ByteSource } from "../sources/source.js";
import { readExact } from "../sources/source.js";
import type { Container, ContainerContext, ContainerInfo } from "./container.js";
import { isCdsaencr, isEncrcdsa, isSegmentPart, isSparseImage } from "./magic.js";
import { bundleOf, isShell } from "./marks.js";

/**
 * A container format: how it is told (from signatures and what the platform said, in
 * magic.ts and marks.ts) and where its code is, loaded only when a file is one: a plain image
 * loads none of it (every module loaded stays resident).
 */
interface Entry {
  detect(head: Uint8Array, tail: Uint8Array, src: ByteSource): boolean;
  load(): Promise<Container>;
}

/** One line per container format, in the order they are tried. */
export const CONTAINERS: readonly Entry[] = [
  {
    detect: (_head, tail) => isSegmentPart(tail),
    load: async () => (await import("./segments/set.js")).SEGMENTED,
  },
  {
    detect: (head, tail) => isEncrcdsa(head) || isCdsaencr(tail),
    load: async () => (await import("./encrypted/encrypted.js")).encryptedContainer,
  },
  {
    detect: (head, _tail, src) => isSparseImage(head) && !isShell(src),
    load: async () => (await import("./sparse/sparse-image.js")).SPARSE_IMAGE,
  },
  {
    detect: (_head, _tail, src) => bundleOf(src) !== undefined,
    load: async () => (await import("./sparse/sparse-bundle.js")).SPARSE_BUNDLE,
  },
];

/**
 * Bytes read from each end of a file to tell its container: signatures are at most 8 bytes at
 * the start, and a koly trailer (512) at the end.
 */
const PROBE = 512;

/** Containers inside containers, at most (a segmented set of encrypted parts). */
const MAX_DEPTH = 2;

/** What the layers above read: the UDIF bytes, what held them, and what opening noted. */
export interface Unwrapped {
  source: ByteSource;
  container: ContainerInfo;
  warnings: Finding[];
}

/**
 * Open the containers around `src`, outermost first, until what is left is not one of them;
 * a file that is no container is its own UDIF image (`container.kind` "UDIF").
 */
export async function unwrap(src: ByteSource, ctx: ContainerContext): Promise<Unwrapped> {
  const warnings: Finding[] = [];
  const infos: ContainerInfo[] = [];
  let source = src;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const entry = await claim(source);
    if (!entry) break;
    ctx.work.check();
    const opened = await (await entry.load()).open(source, ctx);
    infos.push(opened.info);
    for (const w of opened.warnings) warnings.push(w);
    source = opened.source;
  }
  // The outermost container holds the next one in; the innermost holds a UDIF image.
  let container: ContainerInfo = { kind: "UDIF", fields: {} };
  for (let i = infos.length - 1; i >= 0; i--) container = { ...infos[i], inner: container };
  return { source, container, warnings };
}

/** The container `src` is, if any. */
async function claim(src: ByteSource): Promise<Entry | undefined> {
  if (src.size === 0) return undefined;
  const [head, tail] = await ends(src);
  return CONTAINERS.find((c) => c.detect(head, tail, src));
}

/** The first and last bytes of `src`, up to {@link PROBE} each. */
async function ends(src: ByteSource): Promise<[Uint8Array, Uint8Array]> {
  const n = Math.min(PROBE, src.size);
  const head = await readExact(src, 0, n, "file header");
  const tail = await readExact(src, src.size - n, n, "file end");
  return [head, tail];
}
