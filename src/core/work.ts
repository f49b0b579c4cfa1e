/**
 * Cancellation and fairness for one operation. Decoding from memory (or from a file whose
 * reads resolve at once) never returns to the event loop by itself: every await continues
 * through resolved promises. An operation therefore carries a {@link Work}: loops over
 * attacker-chosen counts call {@link Work.pace} once per step, which gives the event loop a
 * turn after each slice of ~10 ms of work (timers, signal handlers, other requests run) and
 * raises ABORTED, or BUDGET_TIME for a timeout, once the operation's AbortSignal has fired.
 */
import { DmgError } from "./errors.js";

/** Milliseconds of work between two turns of the event loop (a timer then waits ~15 ms at most). */
export const SLICE_MS = 5;

/** Milliseconds from a monotonic clock where the platform has one. */
export const now: () => number =
  typeof performance !== "undefined" && typeof performance.now === "function"
    ? () => performance.now()
    : () => Date.now();

type Scheduler = (resolve: () => void) => void;

/**
 * One turn of the event loop, the cheapest way the platform has: setImmediate (Node) runs
 * after pending I/O, timers and signal handlers; a MessageChannel message (browsers and
 * workers) is not clamped to 4 ms like a nested setTimeout.
 */
const schedule: Scheduler = (() => {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  if (typeof g.setImmediate === "function") {
    const setImmediate = g.setImmediate;
    return (resolve) => {
      setImmediate(resolve);
    };
  }
  if (typeof MessageChannel === "function") {
    const waiting: Array<() => void> = [];
    let channel: MessageChannel | undefined;
    return (resolve) => {
      if (channel === undefined) {
        channel = new MessageChannel();
        channel.port1.onmessage = () => waiting.shift()?.();
      }
      waiting.push(resolve);
      channel.port2.postMessage(0);
    };
  }
  return (resolve) => {
    setTimeout(resolve, 0);
  };
})();

/** Let the event loop run once. */
export function yieldToLoop(): Promise<void> {
  return new Promise<void>((resolve) => schedule(resolve));
}

/** The error for a fired signal: BUDGET_TIME for a timeout, else ABORTED. */
export function abortError(signal: AbortSignal, offset = -1): DmgError {
  const reason = signal.reason as { name?: unknown } | undefined;
  const at = offset >= 0 ? ` at file offset ${offset}` : "";
  if (reason?.name === "TimeoutError") {
    return new DmgError("BUDGET_TIME", `operation stopped at its deadline${at}`, offset);
  }
  if (reason instanceof DmgError) return reason;
  return new DmgError("ABORTED", `operation aborted${at}`, offset);
}

/**
 * Check that `signal` is an AbortSignal (or absent), at the API boundary.
 *
 * @throws DmgError INVALID_ARGUMENT
 */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal === null) return undefined;
  const s = signal as AbortSignal;
  if (typeof s !== "object" || typeof s.aborted !== "boolean" || !("reason" in s)) {
    throw new DmgError("INVALID_ARGUMENT", "signal must be an AbortSignal");
  }
  return s;
}

/** The pace of one operation: its cancellation signal and when it last gave the loop a turn. */
export class Work {
  private last = now();

  constructor(readonly signal?: AbortSignal) {}

  /** True when the operation's signal has fired. */
  get aborted(): boolean {
    return this.signal?.aborted === true;
  }

  /**
   * Throw ABORTED (BUDGET_TIME for a timeout) when the signal has fired.
   *
   * @param offset file offset the operation had reached (-1: none)
   */
  check(offset = -1): void {
    if (this.signal?.aborted) throw abortError(this.signal, offset);
  }

  /**
   * Call once per step of a loop: after each slice of work, give the event loop a turn; then
   * check the signal.
   */
  async pace(offset = -1): Promise<void> {
    if (now() - this.last >= SLICE_MS) {
      await yieldToLoop();
      this.last = now();
    }
    this.check(offset);
  }

  /** True when a slice has passed since the last turn (for loops that must not await each step). */
  due(): boolean {
    return now() - this.last >= SLICE_MS;
  }
}

/** Run a computation written as steps (a generator that yields between them) to its end. */
export function runSteps<T>(steps: Generator<void, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Run a computation written as steps, pacing `work` between them (fair, cancellable). */
export async function runPaced<T>(
  steps: Generator<void, T, void>,
  work: Work,
  offset = -1,
): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await work.pace(offset);
  }
}
