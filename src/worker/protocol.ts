/**
 * Validation in a worker (a Web Worker, or a Node worker thread): the messages between the
 * caller and the worker, the worker's side, and the reports made when the worker cannot give
 * one (it was stopped at its deadline, or ran out of its memory). The platform parts are
 * worker/browser.ts and node/worker/.
 *
 * Why a worker: the library bounds the time and memory of every operation by budgets and
 * gives the event loop its turns, but a worker adds a wall no bug can pass: its heap is capped
 * (Node), it can be terminated at any moment, and the caller's thread goes on untouched.
 */

import { passwordOption } from "../containers/encrypted/password.js";
import { DmgError, type ErrorCode } from "../core/errors.js";
import { type Budget, resolveBudget } from "../core/limits.js";
import { booleanOption, optionsObject, progressOption, readOption } from "../core/options.js";
import { abortError, checkSignal } from "../core/work.js";
import { failedReport, type ValidationReport } from "../image/validate.js";
import { type HttpSource, httpSource } from "../sources/http.js";
import type { ByteSource } from "../sources/source.js";

/** Options of `validateInWorker`. */
export interface WorkerValidateOptions {
  /** Budget overrides, as for validateDmg. */
  budget?: Partial<Budget>;
  /** Structure only, as for validateDmg. */
  quick?: boolean;
  /** As for openDmg. */
  strict?: boolean;
  /**
   * The deadline, in milliseconds (default 60,000). The worker stops itself there (the report
   * then has BUDGET_TIME); one second later it is terminated whatever it is doing, with the
   * same report. Deadlines past 2^31 - 1 ms (24.8 days, the longest a timer holds) end there.
   */
  timeoutMs?: number;
  /** Node: the worker's heap limit in MiB (default 256); past it, a BUDGET_WORKING_MEMORY report. */
  maxHeapMb?: number;
  /** Cancels the validation: the worker is terminated and the call fails with ABORTED. */
  signal?: AbortSignal;
  /** Request headers for a source given as an http(s) `URL` (a token, say). */
  headers?: Record<string, string>;
  /** The password of an encrypted image, as for openDmg (sent to the worker, never logged). */
  password?: string | Uint8Array;
  /**
   * Called as decoding proceeds, with virtual bytes done and the total, as for validateDmg;
   * the worker sends them at most every {@link PROGRESS_INTERVAL_MS}, and the last.
   */
  onProgress?: (done: number, total: number) => void;
}

/** What the caller sends: the source (bytes, a Blob, or a file descriptor on Node) and options. */
export interface WorkerRequest {
  kind: "dmg-validate";
  source: LocalSource | RemoteSource;
  budget?: Partial<Budget>;
  quick?: boolean;
  strict?: boolean;
  timeoutMs: number;
  /** The password of an encrypted image, as UTF-8 bytes. */
  password?: Uint8Array;
  /** Send {@link WorkerProgress} messages before the reply. */
  progress?: boolean;
}

/**
 * What a worker is handed to read: bytes, a Blob, or a file descriptor (Node) with the path it
 * was opened by (for the other parts of a segmented set, and the name a sparse image is
 * reported by), or a sparse bundle folder (Node), which the worker lists and reads itself.
 */
export type LocalSource =
  | Uint8Array
  | Blob
  | { fd: number; size: number; path?: string }
  | { bundle: string };

/** An image the worker reads over HTTP range requests itself (see httpSource). */
export interface RemoteSource {
  url: string;
  headers?: Record<string, string>;
}

/** What the worker answers: a report, or the DmgError the call threw (misuse), or a bug. */
export type WorkerReply =
  | { report: ValidationReport }
  | { error: { code: ErrorCode; message: string; offset: number } }
  | { internal: string };

/** A worker's message before its reply: how far decoding has come. */
export interface WorkerProgress {
  progress: { done: number; total: number };
}

/** Anything a worker posts. */
export type WorkerMessage = WorkerReply | WorkerProgress;

/** The least time between two progress messages of a worker, in milliseconds. */
export const PROGRESS_INTERVAL_MS = 100;

/** Default deadline. */
export const DEFAULT_TIMEOUT_MS = 60_000;
/** Default heap limit of a Node worker. */
export const DEFAULT_HEAP_MB = 256;
/** How long after its deadline a worker that has not answered is terminated. */
export const GRACE_MS = 1000;
/**
 * The longest delay a timer holds: setTimeout (Node and browsers) fires a longer one at once,
 * and AbortSignal.timeout refuses one past 2^32 - 1, so a deadline of weeks ended the
 * validation on the spot.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A delay for setTimeout or AbortSignal.timeout: `ms`, or the longest a timer holds. */
export function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER_MS);
}

/** Milliseconds from `options`, checked. */
export function checkTimeout(ms: unknown): number {
  if (ms === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof ms !== "number" || !Number.isSafeInteger(ms) || ms < 1) {
    throw new DmgError("INVALID_ARGUMENT", "timeoutMs must be a positive integer");
  }
  return ms;
}

/** A worker's heap limit in MiB from `options`, checked. */
export function checkHeapLimit(mb: unknown): number {
  if (mb === undefined) return DEFAULT_HEAP_MB;
  if (typeof mb !== "number" || !Number.isSafeInteger(mb) || mb < 8) {
    throw new DmgError("INVALID_ARGUMENT", "maxHeapMb must be an integer of at least 8");
  }
  return mb;
}

/** The options of `validateInWorker`, read once and checked, as every platform takes them. */
export interface WorkerCall {
  /** The options object, for the platform's own options. */
  options: object;
  timeoutMs: number;
  heapMb: number;
  quick: boolean;
  strict: boolean;
  budget: Budget;
  signal: AbortSignal | undefined;
  headers: Record<string, string> | undefined;
  password: Uint8Array | undefined;
  onProgress: ((done: number, total: number) => void) | undefined;
}

/**
 * Read and check the options of `validateInWorker` (every platform's).
 *
 * @throws DmgError INVALID_ARGUMENT
 */
export function parseWorkerOptions(options: unknown): WorkerCall {
  const o = optionsObject(options);
  return {
    options: o,
    timeoutMs: checkTimeout(readOption(o, "timeoutMs")),
    heapMb: checkHeapLimit(readOption(o, "maxHeapMb")),
    quick: booleanOption(o, "quick", false),
    strict: booleanOption(o, "strict", true),
    budget: resolveBudget(readOption(o, "budget") as Partial<Budget> | undefined),
    signal: checkSignal(readOption(o, "signal")),
    headers: headersOption(readOption(o, "headers")),
    password: passwordOption(o),
    onProgress: progressOption(o, "onProgress"),
  };
}

/** The request of a call whose options are `call`, for a worker to read `source`. */
export function workerRequest(call: WorkerCall, source: LocalSource | RemoteSource): WorkerRequest {
  const { budget, quick, strict, timeoutMs, password, onProgress } = call;
  const progress = onProgress !== undefined;
  return { kind: "dmg-validate", source, budget, quick, strict, timeoutMs, password, progress };
}

/** `headers` of `options`: names and values that are strings, copied. */
function headersOption(h: unknown): Record<string, string> | undefined {
  if (h === undefined) return undefined;
  if (typeof h !== "object" || h === null) {
    throw new DmgError("INVALID_ARGUMENT", "headers must be an object of strings");
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (typeof v !== "string")
      throw new DmgError("INVALID_ARGUMENT", `header ${k} is not a string`);
    out[k] = v;
  }
  return out;
}

/**
 * What a caller's `source` asks the worker to read when it is an http(s) `URL`, else undefined.
 *
 * @throws DmgError INVALID_ARGUMENT for a URL of another scheme
 */
export function remoteSource(
  source: unknown,
  headers: Record<string, string> | undefined,
): RemoteSource | undefined {
  if (!(source instanceof URL)) return undefined;
  if (source.protocol !== "http:" && source.protocol !== "https:") {
    throw new DmgError(
      "INVALID_ARGUMENT",
      `a URL source must be http or https, not ${source.protocol}`,
    );
  }
  return { url: source.href, headers };
}

/**
 * The worker's side: validate what `request` names with `validate` (the platform's), under
 * a deadline of the request's, and say how it went. Never throws.
 */
export async function serveRequest(
  request: WorkerRequest,
  validate: (
    source: LocalSource | ByteSource,
    options: {
      budget?: Partial<Budget>;
      quick?: boolean;
      strict?: boolean;
      password?: Uint8Array;
      signal: AbortSignal;
      onProgress?: (done: number, total: number) => void;
    },
  ) => Promise<ValidationReport>,
  post?: (message: WorkerProgress) => void,
): Promise<WorkerReply> {
  const signal = AbortSignal.timeout(timerDelay(request.timeoutMs));
  const onProgress = request.progress === true && post ? pacedProgress(post) : undefined;
  let remote: HttpSource | undefined;
  try {
    let source: LocalSource | ByteSource = request.source as LocalSource;
    if ("url" in request.source) {
      const { url, headers } = request.source;
      try {
        source = remote = await httpSource(url, { headers, signal });
      } catch (e) {
        // A server that cannot be read is a finding of the report, as a missing file is.
        if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
        return { report: failedReport(request.quick === true, e) };
      }
    }
    const report = await validate(source, {
      budget: request.budget,
      quick: request.quick,
      strict: request.strict,
      password: request.password,
      signal,
      onProgress,
    });
    return { report };
  } catch (e) {
    if (e instanceof DmgError)
      return { error: { code: e.code, message: e.message, offset: e.offset } };
    return { internal: e instanceof Error ? e.message : String(e) };
  } finally {
    await remote?.close();
  }
}

/**
 * Progress for `post`: at most one message per {@link PROGRESS_INTERVAL_MS}, and the last
 * (done = total), so that a million small chunks cost a few hundred messages, not a million.
 */
function pacedProgress(post: (message: WorkerProgress) => void) {
  let last = 0;
  return (done: number, total: number) => {
    const now = Date.now();
    if (done < total && now - last < PROGRESS_INTERVAL_MS) return;
    last = now;
    post({ progress: { done, total } });
  };
}

/** The caller's side: the report in `reply`, or its error thrown. */
export function replyReport(reply: WorkerReply): ValidationReport {
  if ("report" in reply) return reply.report;
  if ("error" in reply) {
    throw new DmgError(reply.error.code, reply.error.message, reply.error.offset);
  }
  // A bug in the worker: an exception that is not a DmgError, as validateDmg would throw it.
  throw new Error(`validation worker failed: ${reply.internal}`);
}

/** The report of a worker stopped at its deadline. */
export function timedOutReport(quick: boolean, timeoutMs: number): ValidationReport {
  return failedReport(
    quick,
    new DmgError(
      "BUDGET_TIME",
      `validation did not finish within ${timeoutMs} ms; its worker was terminated`,
    ),
  );
}

/** The report of a worker that ran out of its heap. */
export function outOfMemoryReport(quick: boolean, heapMb: number): ValidationReport {
  const e = new DmgError(
    "BUDGET_WORKING_MEMORY",
    `validation ran out of its worker's ${heapMb} MiB heap; its worker was terminated`,
  );
  return failedReport(quick, e);
}

/** What a platform reports of its worker to {@link supervise}. */
export interface WorkerEvents {
  /** The worker answered, or said how far it has come. */
  reply(reply: WorkerMessage): void;
  /** The worker failed: the report that stands for it (out of memory), or the error to throw. */
  failed(outcome: ValidationReport | Error): void;
}

/**
 * The caller's side of one validation in `worker`: settles with the worker's report, or with
 * the deadline's once `request.timeoutMs` and {@link GRACE_MS} have passed, or with ABORTED
 * when `signal` fires; the worker is terminated in every case. `listen` hooks the platform's
 * events up to the handlers it is given; `onProgress` hears the worker's progress until then.
 */
export function supervise(
  request: WorkerRequest,
  signal: AbortSignal | undefined,
  worker: { terminate(): unknown },
  listen: (on: WorkerEvents) => void,
  onProgress?: (done: number, total: number) => void,
): Promise<ValidationReport> {
  return new Promise<ValidationReport>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      void Promise.resolve(worker.terminate()).finally(fn);
    };
    const timer = setTimeout(
      () => settle(() => resolve(timedOutReport(request.quick === true, request.timeoutMs))),
      timerDelay(request.timeoutMs + GRACE_MS),
    );
    const onAbort = () => settle(() => reject(abortError(signal as AbortSignal)));
    signal?.addEventListener("abort", onAbort);
    listen({
      reply: (reply) => {
        if ("progress" in reply) {
          if (!settled) onProgress?.(reply.progress.done, reply.progress.total);
          return;
        }
        settle(() => {
          try {
            resolve(replyReport(reply));
          } catch (e) {
            reject(e);
          }
        });
      },
      failed: (outcome) =>
        settle(() => (outcome instanceof Error ? reject(outcome) : resolve(outcome))),
    });
  });
}
