/**
 * Hostile variants of valid images, chunk level and payloads (ATTACKS.md D, E): each mutator's
 * property is that opening, reading everything and validating under a small budget gives a
 * correct read or a DmgError of the mutator's class, never another exception; and zero chunks
 * of 2^40 sectors are described and read in ranges without ever being materialized.
 *
 * Seeds and replay: see test/helpers/prop-config.ts (FC_SEED, FC_RUNS, FC_PATH).
 */
import fc from "fast-check";
import { describe, expect } from "vitest";
import { DmgError, type DmgImage, openDmg, validateDmg } from "../../src/index.js";
import { imageArb, rangeArb } from "../helpers/arbitraries.js";
import { CHUNK_MUTATORS, FIXED_BUGS } from "../helpers/mutators.js";
import { build, expectedRange, resolveRange } from "../helpers/prop-build.js";
import { HUGE_FAILS, hugeParams, withHugeZero } from "../helpers/prop-mutators-chunks.js";
import { mutatorProperty, property } from "../helpers/prop-run.js";

const MiB = 1024 * 1024;
// Each bomb-budget run decodes up to 32 MiB: a few runs suffice.
const RUNS = { mutator: 200, fixedBug: 5, huge: 200 };

describe("hostile variants: chunks and payloads (property)", () => {
  for (const m of CHUNK_MUTATORS) mutatorProperty(m, RUNS.mutator, 60);

  property(
    "D21: zero and ignore chunks of 2^40 sectors are read in ranges and validated, never materialized",
    RUNS.huge,
    20,
    fc.tuple(
      imageArb({ maxTables: 3, maxChunks: 4 }),
      hugeParams,
      fc.array(rangeArb, { minLength: 1, maxLength: 6 }),
    ),
    async ([recipe, huge, ranges]) => {
      const budget = { maxImageBytes: Number.MAX_SAFE_INTEGER, maxWorkingMemory: 8 * MiB };
      const b = withHugeZero(build(recipe), huge);
      let img: DmgImage;
      try {
        img = await openDmg(b.image, { budget });
      } catch (e) {
        // Past 2^44 sectors a byte offset is no longer exact: a layout error, nothing else.
        expect(e).toBeInstanceOf(DmgError);
        expect(HUGE_FAILS).toContain((e as DmgError).code);
        expect(b.size / 512).toBeGreaterThan(2 ** 44 - 1);
        return;
      }
      try {
        expect(img.size).toBe(b.size);
        for (const r of ranges) {
          const [offset, length] = resolveRange(b, r);
          const n = Math.min(length, 256 * 1024);
          const got = await img.read(offset, n);
          expect(Buffer.compare(got, expectedRange(b, offset, n))).toBe(0);
        }
        expect(img.stats().peakWorkingMemory).toBeLessThanOrEqual(budget.maxWorkingMemory);
      } finally {
        await img.close();
      }
      const report = await validateDmg(b.image, { budget });
      expect(report.errors).toEqual([]);
      expect(report.checksums.tables.every((c) => c === "ok" || c === "absent")).toBe(true);
      // Only the payloads were decoded: the huge chunk cost no decompression.
      expect(report.cost.bytesDecompressed).toBeLessThanOrEqual(b.size - huge.sectors * 512);
    },
  );
});

describe("fixed bugs (property; corpus/regressions/ holds their inputs)", () => {
  for (const [m] of FIXED_BUGS) mutatorProperty(m, RUNS.fixedBug, 1500);
});
