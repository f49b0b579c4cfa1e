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
import { DmgError, type ErrorCode } from "../core/errors.js";
import { type Budget, resolveBudget } from "../core/limits.js";
import { booleanOption, optionsObject, readOption } from "../core/options.js";
import { abortError, checkSignal } from "../core/work.js";
import { failedReport, type ValidationReport } from "../image/validate.js";

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
}

/** What the caller sends: the source (bytes, a Blob, or a file descriptor on Node) and options. */
export interface WorkerRequest {
  kind: "dmg-validate";
  source: Uint8Array | Blob | { fd: number; size: number };
  budget?: Partial<Budget>;
  quick?: boolean;
  strict?: boolean;
  timeoutMs: number;
}

/** What the worker answers: a report, or the DmgError the call threw (misuse), or a bug. */
export type WorkerReply =
  | { report: ValidationReport }
  | { error: { code: ErrorCode; message: string; offset: number } }
  | { internal: string };

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
  };
}

/**
 * The worker's side: validate what `request` names with `validate` (the platform's), under
 * a deadline of the request's, and say how it went. Never throws.
 */
export async function serveRequest(
  request: WorkerRequest,
  validate: (
    source: WorkerRequest["source"],
    options: { budget?: Partial<Budget>; quick?: boolean; strict?: boolean; signal: AbortSignal },
  ) => Promise<ValidationReport>,
): Promise<WorkerReply> {
  try {
    const report = await validate(request.source, {
      budget: request.budget,
      quick: request.quick,
      strict: request.strict,
      signal: AbortSignal.timeout(timerDelay(request.timeoutMs)),
    });
    return { report };
  } catch (e) {
    if (e instanceof DmgError)
      return { error: { code: e.code, message: e.message, offset: e.offset } };
    return { internal: e instanceof Error ? e.message : String(e) };
  }
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
  /** The worker answered. */
  reply(reply: WorkerReply): void;
  /** The worker failed: the report that stands for it (out of memory), or the error to throw. */
  failed(outcome: ValidationReport | Error): void;
}

/**
 * The caller's side of one validation in `worker`: settles with the worker's report, or with
 * the deadline's once `request.timeoutMs` and {@link GRACE_MS} have passed, or with ABORTED
 * when `signal` fires; the worker is terminated in every case. `listen` hooks the platform's
 * events up to the handlers it is given.
 */
export function supervise(
  request: WorkerRequest,
  signal: AbortSignal | undefined,
  worker: { terminate(): unknown },
  listen: (on: WorkerEvents) => void,
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
      reply: (reply) =>
        settle(() => {
          try {
            resolve(replyReport(reply));
          } catch (e) {
            reject(e);
          }
        }),
      failed: (outcome) =>
        settle(() => (outcome instanceof Error ? reject(outcome) : resolve(outcome))),
    });
  });
}
