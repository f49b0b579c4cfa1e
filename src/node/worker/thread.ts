/**
 * The entry point of a validation worker thread (see validate-in-worker.ts): one request, one
 * reply. A file comes as the descriptor the caller opened (the same process), with its path
 * for what lies next to it (the other parts of a segmented set); a sparse bundle as its folder.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { noteSourceName } from "../../containers/marks.js";
import { DmgError } from "../../core/errors.js";
import { resolveBudget } from "../../core/limits.js";
import { failedReport, validateWith } from "../../image/validate.js";
import type { ByteSource, SourceLike } from "../../sources/source.js";
import { type LocalSource, serveRequest, type WorkerRequest } from "../../worker/protocol.js";
import { descriptorSource } from "../io/file-source.js";
import { withSetParts } from "../io/segments.js";
import { NODE_CODECS } from "../zlib/native-zlib-codec.js";

async function sourceOf(s: LocalSource | ByteSource, r: WorkerRequest): Promise<SourceLike> {
  if (s instanceof Uint8Array || (typeof Blob !== "undefined" && s instanceof Blob)) return s;
  if ("read" in s) return s;
  if ("bundle" in s) {
    const { sparseBundleDir } = await import("../io/sparse-bundle.js");
    return sparseBundleDir(s.bundle, resolveBudget(r.budget));
  }
  const { fd, size, path } = s as { fd: number; size: number; path?: string };
  const src: ByteSource = descriptorSource(fd, size);
  if (path === undefined) return src;
  noteSourceName(src, path);
  return withSetParts(src, path);
}

if (!isMainThread && (workerData as WorkerRequest | undefined)?.kind === "dmg-validate") {
  const request = workerData as WorkerRequest;
  void serveRequest(
    request,
    async (source, options) => {
      let src: SourceLike;
      try {
        src = await sourceOf(source, request);
      } catch (e) {
        // A bundle or a part that cannot be read is a finding, as validateDmg reports it.
        if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
        return failedReport(options.quick === true, e);
      }
      try {
        return await validateWith(src, options, { defaults: NODE_CODECS });
      } finally {
        // A bundle's band files and a set's other parts are this thread's to close (a
        // descriptor source leaves its descriptor to the caller that opened it).
        if (!(src instanceof Uint8Array) && !(src instanceof Blob))
          await (src as ByteSource).close?.();
      }
    },
    (progress) => parentPort?.postMessage(progress),
  ).then((reply) => parentPort?.postMessage(reply));
}
