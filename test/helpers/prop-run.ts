/**
 * Properties as vitest tests, and one test per mutator: the outcome rule (prop-outcome.ts) as a
 * fast-check property over valid images, mutation parameters and read ranges. FC_STATS=1 prints
 * how often each outcome occurred.
 */
import fc from "fast-check";
import { expect, it } from "vitest";
import { rangeArb } from "./arbitraries.js";
import { build } from "./prop-build.js";
import { fcParams, testTimeout } from "./prop-config.js";
import type { Mutator } from "./prop-mutator.js";
import { checkMutation } from "./prop-outcome.js";

/** Register an asynchronous property over `arb` as a test of `runs` runs of about `msPerRun`. */
export function property<T>(
  name: string,
  runs: number,
  msPerRun: number,
  arb: fc.Arbitrary<T>,
  fn: (value: T) => Promise<void>,
): void {
  it(
    name,
    async () => {
      await fc.assert(fc.asyncProperty(arb, fn), fcParams(runs));
    },
    testTimeout(runs, msPerRun),
  );
}

/**
 * Register the property of mutator `m` with `runs` runs of about `msPerRun` each. With
 * `knownBug` (a file of corpus/regressions/ reproducing a bug not fixed yet) the test is
 * expected to fail, so it turns red once the bug is fixed and can be made a plain test again.
 */
export function mutatorProperty(
  m: Mutator,
  runs: number,
  msPerRun: number,
  knownBug?: string,
): void {
  (knownBug ? it.fails : it)(
    `${m.name} (${m.attacks}): a correct read or a DmgError of its class, within the budget${knownBug ? ` (known bug: ${knownBug})` : ""}`,
    async () => {
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(
          m.arb,
          fc.array(rangeArb, { maxLength: 4 }),
          async ([recipe, params], ranges) => {
            const mutation = m.apply(build(recipe), params);
            const ex = await checkMutation(mutation, m.codes, m.budget, ranges);
            const failed = ex.openError ?? ex.streamError;
            const key = failed?.code ?? (ex.differs ? "read (differs)" : "read");
            seen.set(key, (seen.get(key) ?? 0) + 1);
          },
        ),
        // A known bug is expected to fail: skip shrinking, which would only cost time.
        { ...fcParams(runs), endOnFailure: knownBug !== undefined },
      );
      if (process.env.FC_STATS) console.log(m.name, Object.fromEntries(seen));
      // The runs reached the mutator's class: at least one hostile input was refused.
      expect([...seen.keys()].some((k) => !k.startsWith("read"))).toBe(true);
    },
    testTimeout(runs, msPerRun),
  );
}
