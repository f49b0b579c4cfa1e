/**
 * Segmented sets on disk: the parts after the first are found by name next to it, as
 * `hdiutil segment` names them (`X.dmg`, then `X.002.dmgpart`, `X.003.dmgpart`, ...).
 */
import { lstat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { withPartFinder } from "../../containers/marks.js";
import { DmgError } from "../../core/errors.js";
import type { ByteSource } from "../../sources/source.js";
import { fileSource, fsReason } from "./file-source.js";

/**
 * Open the image file at `path` as {@link fileSource} does; when it is the first part of a
 * segmented set, its other parts are opened from the same directory as the set is read.
 */
export async function imageFileSource(path: string): Promise<ByteSource> {
  return withSetParts(await fileSource(path), path);
}

/**
 * Mark `src`, the file at `path` (opened here or, by its descriptor, in another thread), so
 * that when it is the first part of a segmented set its other parts are opened next to it.
 */
export function withSetParts(src: ByteSource, path: string): ByteSource {
  return withPartFinder(src, {
    name: (n) => (n === 1 ? basename(path) : partName(path, n)),
    open: (count) => openParts(path, count),
  });
}

/**
 * The file name of part `n` (2 and up) of the set whose first part is `first`: the first
 * part's name without its extension, the number in three digits or more, `.dmgpart`.
 */
export function partName(first: string, n: number): string {
  const name = basename(first);
  const stem = name.slice(0, name.length - extname(name).length);
  return `${stem}.${String(n).padStart(3, "0")}.dmgpart`;
}

/** Open parts 2..`count` next to `first`, stopping at the first one not there. */
async function openParts(first: string, count: number) {
  const dir = dirname(first);
  const parts: ByteSource[] = [];
  try {
    for (let n = 2; n <= count; n++) {
      const name = partName(first, n);
      const path = join(dir, name);
      // Parts are read from the first part's directory only: a part that is a symbolic link
      // could point anywhere (attack class F34: a set used to read another file).
      let link: boolean;
      try {
        link = (await lstat(path)).isSymbolicLink();
      } catch (e) {
        if ((e as NodeJS.ErrnoException)?.code === "ENOENT") return { parts, missing: name };
        throw new DmgError("IO_ERROR", `cannot open ${path}: ${fsReason(e)}`);
      }
      if (link) {
        throw new DmgError(
          "IO_ERROR",
          `${path}: is a symbolic link; the parts of a segmented set are read only as files next to the first part`,
        );
      }
      parts.push(await fileSource(path));
    }
    return { parts };
  } catch (e) {
    await Promise.all(parts.map((p) => p.close?.()));
    throw e;
  }
}
