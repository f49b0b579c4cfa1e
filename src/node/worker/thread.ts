/**
 * The entry point of a validation worker thread (see validate-in-worker.ts): one request, one
 * reply. A file comes as the descriptor the caller opened (the same process), never its path.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { validateWith } from "../../image/validate.js";
import type { ByteSource, SourceLike } from "../../sources/source.js";
import { type LocalSource, serveRequest, type WorkerRequest } from "../../worker/protocol.js";
import { descriptorSource } from "../io/file-source.js";
import { NODE_CODECS } from "../zlib/native-zlib-codec.js";

function sourceOf(s: LocalSource | ByteSource): SourceLike {
  if (s instanceof Uint8Array || (typeof Blob !== "undefined" && s instanceof Blob)) return s;
  if ("read" in s) return s;
  const { fd, size } = s as { fd: number; size: number };
  const src: ByteSource = descriptorSource(fd, size);
  return src;
}

if (!isMainThread && (workerData as WorkerRequest | undefined)?.kind === "dmg-validate") {
  const request = workerData as WorkerRequest;
  void serveRequest(
    request,
    (source, options) => validateWith(sourceOf(source), options, { defaults: NODE_CODECS }),
    (progress) => parentPort?.postMessage(progress),
  ).then((reply) => parentPort?.postMessage(reply));
}
