/**
 * dmg-validate for Node: everything of the core entry point, plus file paths as sources,
 * extraction to a file and image creation from a raw disk file.
 *
 * @packageDocumentation
 */

import * as zlib from "node:zlib";
import { DmgError } from "../core/errors.js";
import { type DmgImage, sessionOf } from "../image/image.js";
import { resolveOpenOptions } from "../image/open.js";
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
import { pathSource } from "./io/path-source.js";
import { type ThreadOptions, threadCount } from "./open.js";
import { ChunkPool } from "./parallel/parallel.js";
import { nodeDeflate } from "./zlib/native-zlib.js";
import { NODE_CODECS } from "./zlib/native-zlib-codec.js";

export type { CodecDefaults } from "../codecs/registry.js";
export type { CbcDecrypt, CipherProvider } from "../containers/encrypted/ciphers.js";
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
export { type ExtractOptions, extractDmg } from "./extract.js";
export { type AtomicWriteOptions, writeFileAtomic } from "./io/file-sink.js";
export { fileSource } from "./io/file-source.js";
export { openDmg, type ThreadOptions } from "./open.js";
export { nodeDeflate } from "./zlib/native-zlib.js";
export { NODE_CODECS, nativeZlibAvailable, nativeZlibCodec } from "./zlib/native-zlib-codec.js";

/** node:zlib's CRC32 (Node 20.15 and later), ten times the portable one; else the portable one. */
const nodeCrc32 = typeof zlib.crc32 === "function" ? zlib.crc32 : undefined;

/** Options for {@link validateDmg} on Node. */
export interface NodeValidateOptions extends ValidateOptions, ThreadOptions {}

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
    crc32: nodeCrc32,
  });
  if (typeof source !== "string") return validateWith(source, options, hooks());
  // The options are checked before the file is opened: misuse is thrown, not reported.
  const { signal, budget } = resolveOpenOptions(options);
  let src: Awaited<ReturnType<typeof fileSource>>;
  try {
    src = await pathSource(source, budget);
  } catch (e) {
    if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
    return failedReport(options.quick === true, e);
  }
  // Full validation gets its chunks' CRC32s from a pool of lanes decoding ahead.
  const prefetch = (image: DmgImage) =>
    threads > 1 ? ChunkPool.start(sessionOf(image), { threads, mode: "crc", signal }) : undefined;
  try {
    return await validateWith(src, options, hooks(prefetch));
  } finally {
    await src.close?.();
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
 * thread reads through its descriptor), an http(s) `URL` (the thread reads it with range
 * requests, sending `headers`), bytes or a Blob. Misuse is thrown as
 * INVALID_ARGUMENT; a fired `signal` terminates the thread and throws ABORTED. (The worker
 * module is loaded on first use.)
 */
export async function validateInWorker(
  source: string | URL | Uint8Array | ArrayBuffer | Blob,
  options: WorkerValidateOptions = {},
): Promise<ValidationReport> {
  return (await import("./worker/validate-in-worker.js")).validateInWorker(source, options);
}
