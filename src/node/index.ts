/**
 * dmg-validate for Node: everything of the core entry point, plus file paths as sources,
 * extraction to a file and image creation from a raw disk file.
 *
 * @packageDocumentation
 */

import { DmgError, errorFinding } from "../core/errors.js";
import { type DmgImage, type OpenOptions, openDmg as openCore } from "../image/open.js";
import {
  type ValidateHooks,
  type ValidateOptions,
  type ValidationReport,
  validateDmg as validateCore,
} from "../image/validate.js";
import type { SourceLike } from "../sources/source.js";
import { type WriteOptions, type WriteSummary, writeDmg } from "../write/writer.js";
import { writeFileAtomic } from "./io/file-sink.js";
import { fileSource } from "./io/file-source.js";
import { OverlappedWriter, writeDisk } from "./io/write-disk.js";
import { ChunkPool, defaultThreads } from "./parallel/parallel.js";
import { nodeDeflate } from "./zlib/native-zlib.js";
import { useNativeZlib } from "./zlib/native-zlib-codec.js";

export * from "../index.js";
export type { ByteSink, Deflater, WriteOptions, WriteSummary } from "../write/writer.js";
export { writeFileAtomic } from "./io/file-sink.js";
export { fileSource } from "./io/file-source.js";
export { type DiskWriteOptions, OverlappedWriter, writeDisk } from "./io/write-disk.js";
export { nodeDeflate } from "./zlib/native-zlib.js";
export { nativeZlibAvailable, nativeZlibCodec, useNativeZlib } from "./zlib/native-zlib-codec.js";

// Node users get zlib (UDZO) chunks decoded by node:zlib; the browser core keeps pako.
useNativeZlib();

/** How many threads decode, for the operations that read a whole image from a file path. */
export interface ThreadOptions {
  /**
   * Threads decoding chunks at once: this one plus worker threads that open the image file
   * themselves. 1 decodes in this thread only (as the browser build always does). Default: one
   * per core (`os.availableParallelism()`). Output and errors do not depend on it.
   */
  threads?: number;
}

/** Options for {@link extractDmg}. */
export interface ExtractOptions extends OpenOptions, ThreadOptions {
  /**
   * Whether worker threads start: "auto" (default) where they pay, judged by the image's codecs
   * and the thread count (bzip2, ADC, LZFSE and XZ chunks: yes; zlib chunks on node:zlib with
   * two threads: no, writing keeps the second core busy); "always" whenever `threads` allows.
   */
  threadStart?: "auto" | "always";
  /** Called as bytes are written, with virtual bytes done and the disk size. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Leave aligned 4 KiB blocks of zeros as holes in the output file (default true), as
   * `qemu-img convert` does: the same bytes when read, less disk space, faster. False writes
   * every byte.
   */
  sparse?: boolean;
  /**
   * Flush the output to disk before renaming it into place (default false), so that it also
   * survives a power cut; the rename alone already guarantees all or nothing on any failure
   * of the extraction itself.
   */
  sync?: boolean;
}

/** Options for {@link validateDmg} on Node. */
export interface NodeValidateOptions extends ValidateOptions, ThreadOptions {}

function threadCount(options: ThreadOptions): number {
  const n = options.threads ?? defaultThreads();
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new DmgError("INVALID_ARGUMENT", `threads must be a positive integer, not ${n}`);
  }
  return n;
}

/**
 * Open a UDIF image from a file path or any source the core accepts. A file opened from a path
 * is closed when the image is closed (or when opening fails).
 *
 * @throws DmgError IO_ERROR when the path cannot be opened or is not a regular file; any other
 *   code for a malformed or over-budget image (see the core `openDmg`).
 */
export async function openDmg(
  source: string | SourceLike,
  options: OpenOptions = {},
): Promise<DmgImage> {
  if (typeof source !== "string") return openCore(source, options);
  const src = await fileSource(source);
  try {
    return await openCore(src, options);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}

/**
 * Validate a UDIF image given by file path or any source the core accepts. Problems with the
 * file, including a path that cannot be opened, become findings of the report (IO_ERROR for
 * the path), never exceptions; only misuse of the API is thrown. A file opened from a path is
 * closed before the report is returned.
 */
export async function validateDmg(
  source: string | SourceLike,
  options: NodeValidateOptions = {},
): Promise<ValidationReport> {
  if (typeof source !== "string") return validateCore(source, options);
  const threads = threadCount(options);
  let src: Awaited<ReturnType<typeof fileSource>>;
  try {
    src = await fileSource(source);
  } catch (e) {
    if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
    return {
      ok: false,
      overBudget: false,
      mode: options.quick ? "quick" : "full",
      errors: [errorFinding(e)],
      warnings: [],
      checksums: { dataFork: "not-checked", tables: [], master: "not-checked" },
      cost: { bytesDecompressed: 0, peakWorkingMemory: 0, chunksDecoded: 0 },
    };
  }
  // Full validation gets its chunks' CRC32s from a pool of lanes decoding ahead.
  const prefetch = (image: DmgImage) =>
    threads > 1 ? ChunkPool.start(source, image, { threads, mode: "crc" }) : undefined;
  const withPool: ValidateOptions & ValidateHooks = { ...options, prefetch };
  try {
    return await validateCore(src, withPool);
  } finally {
    await src.close?.();
  }
}

/**
 * Write the whole virtual disk of an image to the file `outPath`. The bytes go to a temporary
 * file in the same directory that is renamed over `outPath` only when complete, so a failure
 * (a corrupt chunk, a full disk) leaves no partial output.
 *
 * @returns the number of bytes written (the virtual disk size).
 * @throws DmgError for a malformed or over-budget image, IO_ERROR when the image cannot be read
 *   or the output cannot be written.
 */
export async function extractDmg(
  source: string | SourceLike,
  outPath: string,
  options: ExtractOptions = {},
): Promise<{ bytes: number }> {
  const threads = threadCount(options);
  const image = await openDmg(source, options);
  try {
    let done = 0;
    const sparse = options.sparse ?? true;
    await writeFileAtomic(
      outPath,
      async (sink) => {
        const out = new OverlappedWriter(sink);
        const path = typeof source === "string" ? source : undefined;
        const onProgress = (n: number) => {
          done = n;
          options.onProgress?.(n, image.size);
        };
        try {
          await writeDisk(image, out, { path, threads, start: options.threadStart, onProgress });
          await out.end();
        } finally {
          await out.settle();
        }
      },
      { sparse, sync: options.sync === true },
    );
    return { bytes: done };
  } finally {
    await image.close();
  }
}

/**
 * Make a UDIF image of the raw disk file `rawPath` at `outPath` (written atomically, like
 * {@link extractDmg}; `options.sync` flushes it to disk first). Compression uses node:zlib
 * unless `options.deflate` is given.
 *
 * @throws DmgError INVALID_ARGUMENT for bad options, IO_ERROR when the input cannot be read or
 *   the output cannot be written.
 */
export async function createDmg(
  rawPath: string,
  outPath: string,
  options: WriteOptions & { sync?: boolean } = {},
): Promise<WriteSummary> {
  const src = await fileSource(rawPath);
  try {
    let summary: WriteSummary | undefined;
    const { sync, ...write } = options;
    await writeFileAtomic(
      outPath,
      async (sink) => {
        summary = await writeDmg(src, sink, { ...write, deflate: write.deflate ?? nodeDeflate });
      },
      { sync: sync === true },
    );
    return summary!;
  } finally {
    await src.close?.();
  }
}
