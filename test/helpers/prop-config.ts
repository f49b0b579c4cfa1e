/**
 * Run settings shared by the property suites (test/property/): a fixed seed unless FC_SEED is
 * set, a per-property number of runs unless FC_RUNS overrides it, and a replay path.
 *
 * Replaying a failure: fast-check prints the seed and the counterexample path when a property
 * fails ("{ seed: 123, path: "4:2:0", endOnFailure: true }"). Run that one property again with
 *
 *   FC_SEED=123 FC_PATH="4:2:0" npx vitest run test/property/<file> -t "<property name>"
 *
 * (FC_PATH alone replays only the shrunk counterexample; without it the whole run is repeated.)
 * For a long local session, FC_RUNS=2000 runs every property 2000 times; the test timeouts
 * grow with it.
 */
import type fc from "fast-check";

/** The seed every property starts from (FC_SEED, else a constant so CI runs are repeatable). */
export const FC_SEED: number = (() => {
  const v = process.env.FC_SEED;
  if (v === undefined || v === "") return 0x0d3a_9e11;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`FC_SEED=${v} is not an integer`);
  return n;
})();

const RUNS_OVERRIDE: number | undefined = (() => {
  const v = process.env.FC_RUNS;
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`FC_RUNS=${v} is not a positive integer`);
  return n;
})();

/** Runs for a property whose suite default is `defaultRuns` (FC_RUNS replaces it). */
export function runsFor(defaultRuns: number): number {
  return RUNS_OVERRIDE ?? defaultRuns;
}

/**
 * fast-check parameters: seed, runs, replay path, and a per-run timeout so that a hang is
 * reported as a failure with its counterexample instead of stalling the suite.
 */
export function fcParams<T>(defaultRuns: number, runTimeoutMs = 20_000): fc.Parameters<T> {
  const params: fc.Parameters<T> = {
    seed: FC_SEED,
    numRuns: runsFor(defaultRuns),
    timeout: runTimeoutMs,
    endOnFailure: false,
  };
  const path = process.env.FC_PATH;
  if (path !== undefined && path !== "") params.path = path;
  return params;
}

/** A vitest timeout for a property of `defaultRuns` runs costing about `msPerRun` each. */
export function testTimeout(defaultRuns: number, msPerRun: number): number {
  return Math.max(60_000, runsFor(defaultRuns) * msPerRun * 4);
}
