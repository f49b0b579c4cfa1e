/**
 * Sparse bundles (`.sparsebundle` folders): an `Info.plist` giving the disk's size and its band
 * size, and a `bands` folder of files named by band number in lowercase hex ("0", "1", ...,
 * "a", "10"), each holding that band of the disk. A band with no file, or the part of a band
 * past the end of a short file, reads as zeros.
 *
 * The folder is read by the platform (src/node/io/sparse-bundle.ts lists it safely); this
 * module takes what was read, {@link sparseBundleSource}, checks it and presents the disk as a
 * UDIF file (see udif-shell.ts) whose data fork is the stored bands one after another.
 */
import { DmgError } from "../../core/errors.js";
import { type Budget, checkBudget } from "../../core/limits.js";
import { type PlistValue, parsePlistValue } from "../../format/plist.js";
import type { Piece } from "../../sources/concat.js";
import type { ByteSource } from "../../sources/source.js";
import type { Container, ContainerContext, OpenedContainer } from "../container.js";
import { bundleOf, markBundle } from "../marks.js";
import { SPRS_MAX_SECTORS, SPRS_MAX_SECTORS_PER_BAND } from "./sprs-header.js";
import { type Extents, udifShell } from "./udif-shell.js";

/** The bundle type of a sparse bundle's Info.plist. */
export const BUNDLE_TYPE = "com.apple.diskimage.sparsebundle";
export const K_DICT_VERSION = "CFBundleInfoDictionaryVersion";
export const K_BUNDLE_TYPE = "diskimage-bundle-type";
export const K_BAND_SIZE = "band-size";
export const K_SIZE = "size";
export const K_BACKINGSTORE_VERSION = "bundle-backingstore-version";
/** Backing-store versions known to lay bands out as read here. */
const BACKINGSTORE_VERSIONS = new Set([1, 2]);
/** Largest Info.plist read: real ones are under 1 KB. */
export const MAX_INFO_PLIST_BYTES = 64 * 1024;
const SECTOR = 512;

/** What a sparse bundle's Info.plist says. */
export interface BundleInfo {
  /** Bytes of each band (each file of `bands/` holds at most this many). */
  bandSize: number;
  /** Bytes of the disk. */
  size: number;
  /** Bands of the disk: band files are named 0 .. bands - 1. */
  bands: number;
  backingStoreVersion: number;
  dictionaryVersion: string;
}

/** What the platform read of a bundle: its Info.plist and its band files by number. */
export interface BundleParts {
  info: Uint8Array;
  /** Band files by band number; a number missing is a band of zeros. */
  bands: ReadonlyMap<number, ByteSource>;
  /** Release what the platform holds for the bundle. */
  close?(): Promise<void>;
}

function malformed(message: string, offset = -1): DmgError {
  return new DmgError("BUNDLE_MALFORMED", `Info.plist: ${message}`, offset);
}

/** An unsigned integer value, given as <integer> or as a <string> of digits (both are seen). */
function integerOf(v: PlistValue | undefined, key: string, max: number): number {
  if (v === undefined) throw malformed(`no ${key} key`);
  let n: number | undefined;
  if (v.type === "integer" && v.value >= 0n && v.value <= BigInt(max)) n = Number(v.value);
  if (v.type === "string" && /^[0-9]{1,16}$/.test(v.value)) n = Number(v.value);
  if (n === undefined || n > max) {
    throw malformed(`${key} must be an integer from 0 to ${max}`, v.offset);
  }
  return n;
}

function stringOf(v: PlistValue | undefined, key: string): string {
  if (v === undefined) throw malformed(`no ${key} key`);
  if (v.type !== "string") throw malformed(`${key} must be a string`, v.offset);
  return v.value;
}

/**
 * Parse and check a sparse bundle's Info.plist.
 *
 * @throws DmgError BUNDLE_MALFORMED, BUDGET_IMAGE_SIZE, or a PLIST_* code for XML that is not
 *   a well-formed property list
 */
export function parseBundleInfo(info: Uint8Array, budget: Budget): BundleInfo {
  // Attack: an Info.plist of gigabytes; a real one is a few hundred bytes.
  if (info.length > MAX_INFO_PLIST_BYTES) {
    throw malformed(`${info.length} bytes; at most ${MAX_INFO_PLIST_BYTES} are read`);
  }
  const root = parsePlistValue(info, 0, budget);
  if (root.type !== "dict") throw malformed("the property list is not a dict", root.offset);
  const e = root.entries;
  const dictionaryVersion = stringOf(e.get(K_DICT_VERSION), K_DICT_VERSION);
  const type = stringOf(e.get(K_BUNDLE_TYPE), K_BUNDLE_TYPE);
  // Other bundle types may lay their bands out otherwise.
  if (type !== BUNDLE_TYPE) {
    throw malformed(`${K_BUNDLE_TYPE} is not ${BUNDLE_TYPE}`, e.get(K_BUNDLE_TYPE)?.offset);
  }
  const version = integerOf(e.get(K_BACKINGSTORE_VERSION), K_BACKINGSTORE_VERSION, 2 ** 31);
  if (!BACKINGSTORE_VERSIONS.has(version)) {
    throw malformed(
      `${K_BACKINGSTORE_VERSION} ${version}; only 1 and 2 are known`,
      e.get(K_BACKINGSTORE_VERSION)?.offset,
    );
  }
  const maxBand = SPRS_MAX_SECTORS_PER_BAND * SECTOR;
  const bandSize = integerOf(e.get(K_BAND_SIZE), K_BAND_SIZE, maxBand);
  // A zero band size divides by zero; one not a whole number of sectors would split sectors
  // between files.
  if (bandSize === 0 || bandSize % SECTOR !== 0) {
    throw malformed(
      `${K_BAND_SIZE} ${bandSize} is not a positive multiple of ${SECTOR}`,
      e.get(K_BAND_SIZE)?.offset,
    );
  }
  const size = integerOf(e.get(K_SIZE), K_SIZE, SPRS_MAX_SECTORS * SECTOR);
  // Disks are whole sectors; a size that is not has no last sector to read.
  if (size % SECTOR !== 0) {
    throw malformed(`${K_SIZE} ${size} is not a multiple of ${SECTOR}`, e.get(K_SIZE)?.offset);
  }
  checkBudget(budget, "maxImageBytes", size, { subject: "sparse bundle disk" });
  return {
    bandSize,
    size,
    bands: Math.ceil(size / bandSize),
    backingStoreVersion: version,
    dictionaryVersion,
  };
}

/**
 * A source standing for a sparse bundle read by the platform: its bytes are the Info.plist;
 * opening it (openDmg, validateDmg) reads the disk the bands hold. Closing it calls
 * `parts.close`.
 */
export function sparseBundleSource(parts: BundleParts): ByteSource {
  const info = parts.info;
  const src: ByteSource = {
    size: info.length,
    read: async (offset, length) => info.subarray(offset, offset + length),
    close: async () => {
      await parts.close?.();
    },
  };
  return markBundle(src, parts);
}

/** Open a sparse bundle handed in by {@link sparseBundleSource}. */
async function openSparseBundle(src: ByteSource, ctx: ContainerContext): Promise<OpenedContainer> {
  const parts = bundleOf(src) as BundleParts;
  const info = parseBundleInfo(parts.info, ctx.budget);
  // Attack: a folder of millions of band files; bounded before anything is sized by it.
  checkBudget(ctx.budget, "maxChunks", parts.bands.size, { subject: "band files" });
  const numbers = Array.from(parts.bands.keys()).sort((a, b) => a - b);
  const fork: Piece[] = [];
  const e: Extents = {
    count: 0,
    sector: new Float64Array(numbers.length),
    sectors: new Float64Array(numbers.length),
    offset: new Float64Array(numbers.length),
  };
  let forkLength = 0;
  for (const band of numbers) {
    await ctx.work.pace();
    const file = parts.bands.get(band) as ByteSource;
    // Attack: a band file past the disk, or one named by something that is no band number.
    if (!Number.isSafeInteger(band) || band < 0 || band >= info.bands) {
      throw new DmgError(
        "BUNDLE_MALFORMED",
        `band ${band} lies past the disk's ${info.bands} bands of ${info.bandSize} bytes`,
      );
    }
    // A band file longer than a band would overlap the next band's sectors.
    if (!Number.isSafeInteger(file.size) || file.size > info.bandSize) {
      throw new DmgError(
        "BUNDLE_MALFORMED",
        `band ${band.toString(16)} is ${file.size} bytes; bands are at most ${info.bandSize}`,
      );
    }
    const start = band * info.bandSize;
    // The last band's file may run past the disk's end: only the disk's part is read.
    const used = Math.min(file.size, info.size - start);
    if (used <= 0) continue;
    const sectors = Math.ceil(used / SECTOR);
    fork.push({ source: file, offset: 0, length: used, what: `band ${band.toString(16)}` });
    // A file that ends inside a sector: the rest of that sector is zeros.
    if (used % SECTOR !== 0) fork.push({ zeros: sectors * SECTOR - used });
    e.sector[e.count] = start / SECTOR;
    e.sectors[e.count] = sectors;
    e.offset[e.count++] = forkLength;
    forkLength += sectors * SECTOR;
  }
  const totalSectors = info.size / SECTOR;
  const source = await udifShell(
    fork,
    forkLength,
    e,
    totalSectors,
    "disk (sparse bundle bands)",
    ctx.budget,
    ctx.work,
    async () => {
      await src.close?.();
    },
  );
  return {
    info: {
      kind: "sparsebundle",
      fields: {
        backingStoreVersion: info.backingStoreVersion,
        bandSize: info.bandSize,
        bandsUsed: e.count,
        bandsTotal: info.bands,
        diskSize: info.size,
      },
    },
    source,
    warnings: [],
  };
}

/** Sparse bundles: claimed only as the source {@link sparseBundleSource} made for one. */
export const SPARSE_BUNDLE: Container = {
  name: "sparse bundle",
  detect: (_head, _tail, src) => bundleOf(src) !== undefined,
  open: openSparseBundle,
};
