/**
 * Sparse bundles on disk: a `.sparsebundle` folder read safely, for the core's sparse bundle
 * container (src/containers/sparse/sparse-bundle.ts). Only `Info.plist` and the files of
 * `bands/` are read; a name that is not a band number, a symbolic link, or anything but a
 * regular file is refused, so nothing outside the folder is ever read through it.
 */
import { constants, type Dir } from "node:fs";
import { type FileHandle, lstat, open, opendir } from "node:fs/promises";
import { join } from "node:path";
import {
  MAX_INFO_PLIST_BYTES,
  parseBundleInfo,
  sparseBundleSource,
} from "../../containers/sparse/sparse-bundle.js";
import { DmgError } from "../../core/errors.js";
import { type Budget, checkBudget, DEFAULT_BUDGET } from "../../core/limits.js";
import { sanitize } from "../../core/text.js";
import type { ByteSource } from "../../sources/source.js";
import { fsReason } from "./file-source.js";

/**
 * A band file name: lowercase hex without leading zeros, as hdiutil names them ("0", "a",
 * "10"). Anything else ("..", "../x", "0A", "01", ".DS_Store") is not a band.
 */
const BAND_NAME = /^(?:0|[1-9a-f][0-9a-f]{0,12})$/;

/** The band number a file of `bands/` is named by, or undefined when the name is no band number. */
export function bandNumber(name: string): number | undefined {
  return BAND_NAME.test(name) ? Number.parseInt(name, 16) : undefined;
}

/** Opens without following a final symbolic link, and without waiting on a FIFO. */
const NO_FOLLOW = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

function bundleError(dir: string, message: string): DmgError {
  return new DmgError("BUNDLE_MALFORMED", `${sanitize(dir)}: ${message}`);
}

/**
 * Open `path` (a regular file inside the bundle, not a link) and check it is still the file
 * that was listed: a band swapped for a link or resized after the listing is refused.
 */
async function openChecked(path: string, size: number | undefined): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, NO_FOLLOW);
  } catch (e) {
    throw new DmgError("IO_ERROR", `cannot open ${sanitize(path)}: ${fsReason(e)}`);
  }
  try {
    const s = await handle.stat();
    if (!s.isFile() || (size !== undefined && s.size !== size)) {
      throw new DmgError(
        "IO_ERROR",
        `${sanitize(path)} changed after the bundle was listed (it is no longer the regular file of ${size} bytes it was)`,
      );
    }
    return handle;
  } catch (e) {
    await handle.close().catch(() => undefined);
    if (e instanceof DmgError) throw e;
    throw new DmgError("IO_ERROR", `cannot read ${sanitize(path)}: ${fsReason(e)}`);
  }
}

/** Read `length` bytes at `position` of an open file, refusing a short read. */
async function readFull(
  handle: FileHandle,
  path: string,
  position: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    let n: number;
    try {
      n = (await handle.read(out, got, length - got, position + got)).bytesRead;
    } catch (e) {
      throw new DmgError("IO_ERROR", `${sanitize(path)}: read failed: ${fsReason(e)}`);
    }
    if (n === 0) {
      throw new DmgError("IO_ERROR", `${sanitize(path)}: file ended while being read`);
    }
    got += n;
  }
  return out;
}

/**
 * A band file as a source: each read opens it (no link followed), checks it is the file
 * listed, reads and closes (a bundle of a million bands holds no descriptor between reads).
 */
function bandSource(path: string, size: number): ByteSource {
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const handle = await openChecked(path, size);
      try {
        return await readFull(handle, path, offset, length);
      } finally {
        await handle.close().catch(() => undefined);
      }
    },
  };
}

/** The lstat of `path`, with failures as IO_ERROR. */
async function lstatOf(path: string) {
  try {
    return await lstat(path);
  } catch (e) {
    throw new DmgError("IO_ERROR", `cannot open ${sanitize(path)}: ${fsReason(e)}`);
  }
}

/** Read `Info.plist`: a regular file (not a link) of bounded size. */
async function readInfo(dir: string): Promise<Uint8Array> {
  const path = join(dir, "Info.plist");
  const s = await lstatOf(path);
  // A link could make the bundle read a file elsewhere; a huge file is no Info.plist.
  if (!s.isFile()) throw bundleError(dir, "Info.plist is not a regular file (a link?)");
  if (s.size === 0 || s.size > MAX_INFO_PLIST_BYTES) {
    throw bundleError(
      dir,
      `Info.plist is ${s.size} bytes; a sparse bundle's is 1..${MAX_INFO_PLIST_BYTES}`,
    );
  }
  const handle = await openChecked(path, s.size);
  try {
    return await readFull(handle, path, 0, s.size);
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/**
 * List `bands/` of the bundle at `dir`: every entry a band number below `bands` naming a
 * regular file (not a link), at most `budget.maxChunks` of them.
 */
async function listBands(
  dir: string,
  bands: number,
  bandSize: number,
  budget: Budget,
): Promise<Map<number, ByteSource>> {
  const bandsDir = join(dir, "bands");
  const out = new Map<number, ByteSource>();
  const s = await lstatOf(bandsDir);
  if (!s.isDirectory()) throw bundleError(dir, "bands is not a folder (a link?)");
  let d: Dir;
  try {
    d = await opendir(bandsDir);
  } catch (e) {
    throw new DmgError("IO_ERROR", `cannot read ${sanitize(bandsDir)}: ${fsReason(e)}`);
  }
  try {
    for await (const entry of d) {
      const name = entry.name;
      // Attack: a folder of millions of files, refused as it is listed, not after.
      checkBudget(budget, "maxChunks", out.size + 1, {
        subject: `band files in ${sanitize(bandsDir)}`,
      });
      const band = bandNumber(name);
      // Attack: names that are no band number ("../x", "0A", "01") could alias another band
      // or mean something to another reader.
      if (band === undefined) {
        throw bundleError(
          dir,
          `bands/${sanitize(name)} is not a band number (lowercase hex, no leading zeros)`,
        );
      }
      // Attack: a band past the disk (its bytes would land nowhere, or grow the disk).
      if (band >= bands) {
        throw bundleError(dir, `bands/${name} is band ${band}; the disk has ${bands} bands`);
      }
      const path = join(bandsDir, name);
      const info = await lstatOf(path);
      // Attack: a link reads a file outside the bundle; a FIFO or device blocks or never ends.
      if (!info.isFile()) {
        throw bundleError(
          dir,
          `bands/${name} is not a regular file (a symbolic link, folder or device)`,
        );
      }
      if (info.size > bandSize) {
        throw bundleError(
          dir,
          `bands/${name} is ${info.size} bytes; bands are at most ${bandSize}`,
        );
      }
      if (info.size > 0) out.set(band, bandSource(path, info.size));
    }
  } catch (e) {
    if (e instanceof DmgError) throw e;
    throw new DmgError("IO_ERROR", `cannot read ${sanitize(bandsDir)}: ${fsReason(e)}`);
  }
  return out;
}

/**
 * The sparse bundle at folder `dir` as a source the core opens (openDmg, validateDmg).
 *
 * @throws DmgError IO_ERROR when the folder cannot be read or is no sparse bundle (no
 *   Info.plist), BUNDLE_MALFORMED for an unsafe or malformed bundle, a budget code when it has
 *   more band files or a larger disk than the budget allows
 */
export async function sparseBundleDir(
  dir: string,
  budget: Budget = DEFAULT_BUDGET,
): Promise<ByteSource> {
  const hasInfo = await lstat(join(dir, "Info.plist")).then(
    () => true,
    () => false,
  );
  if (!hasInfo) {
    throw new DmgError(
      "IO_ERROR",
      `${sanitize(dir)}: is a directory with no Info.plist, not a sparse bundle; only regular files and .sparsebundle folders can be read`,
    );
  }
  const info = await readInfo(dir);
  const parsed = parseBundleInfo(info, budget);
  const bands = await listBands(dir, parsed.bands, parsed.bandSize, budget);
  return sparseBundleSource({ info, bands });
}
