/**
 * What the platform says about a source besides its bytes, kept beside it: the name it was
 * opened by, the other parts of a segmented set, the band files of a sparse bundle, and the
 * UDIF files the containers make themselves. A module of side tables only (nothing to parse),
 * so that opening a plain image file loads no container's code.
 */
import type { ByteSource } from "../sources/source.js";
import type { BlockLayout } from "./encrypted/block-source.js";
import type { DataKeys } from "./encrypted/unwrap.js";
import type { PartFinder } from "./segments/set.js";
import type { BundleParts } from "./sparse/sparse-bundle.js";

const names = new WeakMap<ByteSource, string>();
const finders = new WeakMap<ByteSource, PartFinder>();
const bundles = new WeakMap<ByteSource, BundleParts>();
const shells = new WeakSet<ByteSource>();
const decryptions = new WeakMap<ByteSource, Decryption>();

/** What a decrypting source was made of: enough for another thread to make its own. */
export interface Decryption {
  outer: ByteSource;
  layout: BlockLayout;
  keys: DataKeys;
}

/** Note the file name `src` was opened by (a sparse image named .dmg is warned about). */
export function noteSourceName(src: ByteSource, name: string): void {
  names.set(src, name);
}

/** The file name `src` was opened by, if the platform said. */
export function sourceName(src: ByteSource): string | undefined {
  return names.get(src);
}

/**
 * Mark `first` as the first part of a set whose other parts `finder` opens; returns `first`.
 *
 * @internal
 */
export function withPartFinder(first: ByteSource, finder: PartFinder): ByteSource {
  finders.set(first, finder);
  return first;
}

/** How the other parts of the set `first` begins are found, if the platform said. */
export function partFinderOf(first: ByteSource): PartFinder | undefined {
  return finders.get(first);
}

/** Mark `src` as standing for the sparse bundle `parts`; returns `src`. */
export function markBundle(src: ByteSource, parts: BundleParts): ByteSource {
  bundles.set(src, parts);
  return src;
}

/** The sparse bundle `src` stands for, if any. */
export function bundleOf(src: ByteSource): BundleParts | undefined {
  return bundles.get(src);
}

/** Mark `src` as a UDIF file a container made (it is not claimed by a container again). */
export function markShell(src: ByteSource): ByteSource {
  shells.add(src);
  return src;
}

/** True when `src` is a UDIF file a container made. */
export function isShell(src: ByteSource): boolean {
  return shells.has(src);
}

/** Note what the decrypting source `src` reads and with which keys; returns `src`. */
export function markDecryption(src: ByteSource, d: Decryption): ByteSource {
  decryptions.set(src, d);
  return src;
}

/**
 * What `src` decrypts, when it is an encrypted image's decrypting source: decoding threads
 * read the same file through their own, keyed with the data keys (the password is never sent
 * to them, nor PBKDF2 run again).
 *
 * @internal
 */
export function decryptionOf(src: ByteSource): Decryption | undefined {
  return decryptions.get(src);
}
