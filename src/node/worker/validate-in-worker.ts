/**
 * `validateInWorker` on Node: validation in a worker thread of its own, with a heap limit
 * (`resourceLimits`), a deadline after which the thread is terminated whatever it is doing,
 * and cancellation. The way to run the parser on uploads: a bug in it, or an input no budget
 * foresaw, costs one thread, never the server.
 */
import { stat } from "node:fs/promises";
import { DmgError } from "../../core/errors.js";
import { abortError } from "../../core/work.js";
import type { ValidationReport } from "../../image/validate.js";
import { failedReport } from "../../image/validate.js";
import {
  outOfMemoryReport,
  parseWorkerOptions,
  remoteSource,
  supervise,
  type WorkerRequest,
  type WorkerValidateOptions,
  workerRequest,
} from "../../worker/protocol.js";
import { fileDescriptor, fileSource } from "../io/file-source.js";
import { startWorker } from "./spawn.js";

/**
 * Validate an image in a worker thread: the same report as validateDmg, or a BUDGET_TIME
 * report when the deadline passes (`timeoutMs`, default 60 s), or a BUDGET_WORKING_MEMORY
 * report when the thread runs out of its heap (`maxHeapMb`, default 256). The source is a file
 * path (opened here; the thread reads through its descriptor), an http(s) `URL` (read by the
 * thread with range requests, `headers` sent with each), bytes or a Blob (copied to the
 * thread). Misuse is thrown as INVALID_ARGUMENT; a fired `signal` terminates the thread and
 * throws ABORTED.
 */
export async function validateInWorker(
  source: string | URL | Uint8Array | ArrayBuffer | Blob,
  options: WorkerValidateOptions = {},
): Promise<ValidationReport> {
  const call = parseWorkerOptions(options);
  const { heapMb, quick, signal, headers, onProgress } = call;
  if (signal?.aborted) throw abortError(signal);
  let opened: Awaited<ReturnType<typeof fileSource>> | undefined;
  // A URL is read by the thread itself, over HTTP.
  let request: WorkerRequest["source"] | undefined = remoteSource(source, headers);
  if (request === undefined && typeof source === "string" && (await isFolder(source))) {
    // A sparse bundle: the worker lists its folder and opens the bands itself, as
    // validateDmg does, with the same checks (no link, nothing outside the folder).
    request = { bundle: source };
  } else if (request === undefined && typeof source === "string") {
    try {
      opened = await fileSource(source);
    } catch (e) {
      if (e instanceof DmgError && e.code !== "INVALID_ARGUMENT") return failedReport(quick, e);
      throw e;
    }
    request = { fd: fileDescriptor(opened) as number, size: opened.size, path: source };
  } else if (request === undefined) {
    if (source instanceof ArrayBuffer) request = new Uint8Array(source);
    else if (source instanceof Uint8Array || source instanceof Blob) request = source;
    else
      throw new DmgError(
        "INVALID_ARGUMENT",
        "source must be a path, an http(s) URL, bytes or a Blob",
      );
  }
  try {
    return await runInWorker(workerRequest(call, request), heapMb, signal, undefined, onProgress);
  } finally {
    await opened?.close?.();
  }
}

async function isFolder(path: string): Promise<boolean> {
  return path.length > 0 && (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/**
 * Run `request` in a new thread (of `script`, by default the validation thread); settle with
 * its report, or the deadline's, or the heap's.
 *
 * @internal
 */
export function runInWorker(
  request: WorkerRequest,
  heapMb: number,
  signal?: AbortSignal,
  script: URL = new URL("./thread.js", import.meta.url),
  onProgress?: (done: number, total: number) => void,
): Promise<ValidationReport> {
  const worker = startWorker(script, {
    workerData: request,
    resourceLimits: {
      maxOldGenerationSizeMb: heapMb,
      maxYoungGenerationSizeMb: Math.max(2, Math.floor(heapMb / 8)),
    },
  });
  return supervise(
    request,
    signal,
    worker,
    (on) => {
      worker.on("message", on.reply);
      worker.on("error", (e: Error & { code?: string }) =>
        on.failed(
          e.code === "ERR_WORKER_OUT_OF_MEMORY"
            ? outOfMemoryReport(request.quick === true, heapMb)
            : new Error(`validation worker failed: ${e.message}`),
        ),
      );
      worker.on("exit", () => on.failed(new Error("validation worker exited without a report")));
    },
    onProgress,
  );
}
