/**
 * Opening an image on Node: a file path as a source, node:zlib for zlib chunks. Kept apart
 * from the package entry so that a command which only reads an image (extract, cat, info)
 * loads neither the validator nor the writer: every module loaded stays in resident memory.
 */
import { DmgError } from "../core/errors.js";
import { optionsObject, readOption } from "../core/options.js";
import type { DmgImage } from "../image/image.js";
import { type OpenOptions, openWith, resolveOpenOptions } from "../image/open.js";
import type { SourceLike } from "../sources/source.js";
import { pathSource } from "./io/path-source.js";
import { defaultThreads } from "./parallel/threads.js";
import { NODE_CODECS } from "./zlib/native-zlib-codec.js";

/** How many threads decode, for the operations that read a whole image from a file path. */
export interface ThreadOptions {
  /**
   * Threads decoding chunks at once: this one plus worker threads that open the image file
   * themselves. 1 decodes in this thread only (as the browser build always does). Default: one
   * per core (`os.availableParallelism()`). Output and errors do not depend on it.
   */
  threads?: number;
}

/** The `threads` option of `options`, checked; one per core when absent. */
export function threadCount(options: unknown): number {
  const n = readOption(optionsObject(options), "threads") ?? defaultThreads();
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 1) {
    throw new DmgError("INVALID_ARGUMENT", "threads must be a positive integer");
  }
  return n;
}

/**
 * Open a UDIF image from a file path or any source the core accepts. A file opened from a path
 * is closed when the image is closed (or when opening fails). zlib chunks decode through
 * node:zlib unless `options.codecs` says otherwise.
 *
 * @throws DmgError IO_ERROR when the path cannot be opened or is not a regular file; any other
 *   code for a malformed or over-budget image (see the core `openDmg`).
 */
export async function openDmg(
  source: string | SourceLike,
  options: OpenOptions = {},
): Promise<DmgImage> {
  const resolved = resolveOpenOptions(options);
  if (typeof source !== "string") return openWith(source, resolved, NODE_CODECS);
  const src = await pathSource(source, resolved.budget);
  try {
    return await openWith(src, resolved, NODE_CODECS);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}
