/**
 * What a path names, opened: a sparse bundle folder, or an image file (with the other parts of
 * a segmented set; its name is noted, so that a sparse image named .dmg is reported as such).
 * The bundle code is loaded only for a folder.
 */
import { stat } from "node:fs/promises";
import { noteSourceName } from "../../containers/marks.js";
import type { Budget } from "../../core/limits.js";
import type { ByteSource } from "../../sources/source.js";
import { imageFileSource } from "./segments.js";

/**
 * Open what a path names: a sparse bundle folder, or an image file (with the other parts of a
 * segmented set; its name is noted, so that a sparse image named .dmg is reported as such).
 *
 * @throws DmgError as {@link imageFileSource} and `sparseBundleDir`
 */
export async function pathSource(path: string, budget?: Budget): Promise<ByteSource> {
  if (typeof path === "string" && path.length > 0) {
    const s = await stat(path).catch(() => undefined);
    if (s?.isDirectory()) return (await import("./sparse-bundle.js")).sparseBundleDir(path, budget);
  }
  const src = await imageFileSource(path);
  noteSourceName(src, path);
  return src;
}
