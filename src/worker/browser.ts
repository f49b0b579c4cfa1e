/**
 * `validateInWorker` in browsers and other Web Worker hosts: validation in a module worker of
 * its own (worker/entry.ts), terminated at its deadline whatever it is doing, so that the
 * page never freezes and a validation can always be stopped. Browsers give workers no heap
 * limit: the library's budgets are the bound there (`maxHeapMb` is checked, not used).
 */
import { DmgError } from "../core/errors.js";
import { readOption } from "../core/options.js";
import { abortError } from "../core/work.js";
import type { ValidationReport } from "../image/validate.js";
import {
  parseWorkerOptions,
  remoteSource,
  supervise,
  type WorkerMessage,
  type WorkerValidateOptions,
  workerRequest,
} from "./protocol.js";

/** What this module needs of a Web Worker. */
interface WebWorker {
  onmessage: ((event: { data: WorkerMessage }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  postMessage(message: unknown): void;
  terminate(): void;
}

/** Options of the browser's `validateInWorker`. */
export interface BrowserWorkerOptions extends WorkerValidateOptions {
  /** The worker module (default: worker/entry.js next to this module). */
  workerUrl?: string | URL;
}

/**
 * Validate an image (bytes, a Blob such as a File, or an http(s) `URL` the worker reads with
 * range requests) in a Web Worker: the same report as
 * validateDmg, or a BUDGET_TIME report once `timeoutMs` (default 60 s) has passed. A fired
 * `signal` terminates the worker and throws ABORTED.
 *
 * @throws DmgError INVALID_ARGUMENT for misuse, or where there is no Worker
 */
export function validateInWorker(
  source: URL | Uint8Array | ArrayBuffer | Blob,
  options: BrowserWorkerOptions = {},
): Promise<ValidationReport> {
  const call = parseWorkerOptions(options);
  const { options: o, signal, headers, onProgress } = call;
  const url = (readOption(o, "workerUrl") as string | URL | undefined) ?? defaultWorkerUrl();
  const WorkerClass = (globalThis as { Worker?: new (url: string | URL, o: object) => WebWorker })
    .Worker;
  if (typeof WorkerClass !== "function") {
    return Promise.reject(
      new DmgError(
        "INVALID_ARGUMENT",
        "this platform has no Web Worker (on Node, use the package's main entry)",
      ),
    );
  }
  if (signal?.aborted) return Promise.reject(abortError(signal));
  const remote = remoteSource(source, headers);
  const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : source;
  const request = workerRequest(call, remote ?? (bytes as Uint8Array | Blob));

  const worker = new WorkerClass(url, { type: "module" });
  const result = supervise(
    request,
    signal,
    worker,
    (on) => {
      worker.onmessage = (event) => on.reply(event.data);
      worker.onerror = (event) =>
        on.failed(new Error(`validation worker failed: ${event.message ?? "unknown error"}`));
    },
    onProgress,
  );
  worker.postMessage(request);
  return result;
}

function defaultWorkerUrl(): URL {
  return new URL("./entry.js", import.meta.url);
}
