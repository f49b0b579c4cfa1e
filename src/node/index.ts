/**
 * dmg-validate for Node: everything of the core entry point, plus file paths as sources,
 * extraction to a file and image creation from a raw disk file.
 *
 * @packageDocumentation
 */

import { DmgError } from "../core/errors.js";
import { optionsObject, progressOption, readOption } from "../core/options.js";
import { checkSignal, Work } from "../core/work.js";
import { type DmgImage, sessionOf } from "../image/image.js";
import { type OpenOptions, openWith, resolveOpenOptions } from "../image/open.js";
import {
  failedReport,
  type ValidateHooks,
  type ValidateOptions,
  type ValidationReport,
  validateWith,
} from "../image/validate.js";
import type { SourceLike } from "../sources/source.js";
import type { WorkerValidateOptions } from "../worker/protocol.js";
import { type WriteOptions, type WriteSummary, writeDmg } from "../write/writer.js";
import { writeFileAtomic } from "./io/file-sink.js";
import { fileSource } from "./io/file-source.js";
import { OverlappedWriter, writeDisk } from "./io/write-disk.js";
import { ChunkPool, defaultThreads } from "./parallel/parallel.js";
import { nodeDeflate } from "./zlib/native-zlib.js";
import { NODE_CODECS } from "./zlib/native-zlib-codec.js";

export type { CodecDefaults } from "../codecs/registry.js";
export * from "../index.js";
export type { ForkLayout } from "../write/layout.js";
export type {
  ByteSink,
  Deflater,
  PartitionSpec,
  WriteCodec,
  WriteOptions,
  WriteSummary,
} from "../write/writer.js";
export { type AtomicWriteOptions, writeFileAtomic } from "./io/file-sink.js";
export { fileSource } from "./io/file-source.js";
export { nodeDeflate } from "./zlib/native-zlib.js";
export { NODE_CODECS, nativeZlibAvailable, nativeZlibCodec } from "./zlib/native-zlib-codec.js";

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

function threadCount(options: unknown): number {
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
  const src = await fileSource(source);
  try {
    return await openWith(src, resolved, NODE_CODECS);
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
  const threads = threadCount(options);
  const hooks = (prefetch?: ValidateHooks["prefetch"]): ValidateHooks => ({
    defaults: NODE_CODECS,
    prefetch,
  });
  if (typeof source !== "string") return validateWith(source, options, hooks());
  // The options are checked before the file is opened: misuse is thrown, not reported.
  resolveOpenOptions(options);
  let src: Awaited<ReturnType<typeof fileSource>>;
  try {
    src = await fileSource(source);
  } catch (e) {
    if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
    return failedReport(options.quick === true, e);
  }
  // Full validation gets its chunks' CRC32s from a pool of lanes decoding ahead.
  const prefetch = (image: DmgImage) =>
    threads > 1 ? ChunkPool.start(sessionOf(image), { threads, mode: "crc" }) : undefined;
  try {
    return await validateWith(src, options, hooks(prefetch));
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
  const o = optionsObject(options);
  const onProgressOption = progressOption(o, "onProgress");
  const sparse = readOption(o, "sparse") !== false;
  const sync = readOption(o, "sync") === true;
  const start = readOption(o, "threadStart") as ExtractOptions["threadStart"];
  const signal = checkSignal(readOption(o, "signal"));
  const image = await openDmg(source, options);
  try {
    const s = sessionOf(image);
    let done = 0;
    await writeFileAtomic(
      outPath,
      async (sink) => {
        const out = new OverlappedWriter(sink);
        const onProgress = (n: number) => {
          done = n;
          onProgressOption?.(n, s.size);
        };
        try {
          await writeDisk(s, out, { threads, start, onProgress, work: new Work(signal) });
          await out.end();
        } finally {
          await out.settle();
        }
      },
      { sparse, sync, input: typeof source === "string" ? source : undefined },
    );
    return { bytes: done };
  } finally {
    await image.close();
  }
}

/**
 * Make a UDIF image of the raw disk file `rawPath` at `outPath` (written atomically, like
 * {@link extractDmg}; `options.sync` flushes it to disk first). Compression uses node:zlib
 * unless `options.deflate` is given; `options.signal` cancels it (ABORTED, nothing written).
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
      { sync: sync === true, input: rawPath },
    );
    return summary!;
  } finally {
    await src.close?.();
  }
}

/**
 * Validate an image in a worker thread of its own: the same report as validateDmg, or a
 * BUDGET_TIME report at the deadline (`timeoutMs`, default 60 s; the thread is terminated a
 * second later whatever it is doing), or a BUDGET_WORKING_MEMORY report when the thread runs
 * out of its heap (`maxHeapMb`, default 256). The source is a file path (opened here; the
 * thread reads through its descriptor), bytes or a Blob. Misuse is thrown as
 * INVALID_ARGUMENT; a fired `signal` terminates the thread and throws ABORTED. (The worker
 * module is loaded on first use.)
 */
export async function validateInWorker(
  source: string | Uint8Array | ArrayBuffer | Blob,
  options: WorkerValidateOptions = {},
): Promise<ValidationReport> {
  return (await import("./worker/validate-in-worker.js")).validateInWorker(source, options);
}
