/**
 * Hostile variants of valid images, byte level and property list (ATTACKS.md A, B, C, F): each
 * mutator's property is that opening, reading everything and validating under a small budget
 * gives a correct read or a DmgError of the mutator's class, never another exception.
 *
 * Seeds and replay: see test/helpers/prop-config.ts (FC_SEED, FC_RUNS, FC_PATH).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { imageArb } from "../helpers/arbitraries.js";
import { BYTE_MUTATORS, XML_MUTATORS } from "../helpers/mutators.js";
import { build } from "../helpers/prop-build.js";
import { fcParams } from "../helpers/prop-config.js";
import { rewriteTables } from "../helpers/prop-rewrite.js";
import { mutatorProperty } from "../helpers/prop-run.js";

describe("hostile variants: trailer, tables, property list (property)", () => {
  it("rewriting the tables without a change gives back the same bytes", () => {
    fc.assert(
      fc.property(imageArb({ maxSectors: 8 }), (recipe) => {
        const b = build(recipe);
        expect(
          Buffer.compare(
            rewriteTables(b, () => {}),
            b.image,
          ),
        ).toBe(0);
      }),
      fcParams(50),
    );
  });

  for (const m of BYTE_MUTATORS) mutatorProperty(m, 300, 40);
  for (const m of XML_MUTATORS) mutatorProperty(m, 200, 60);
});
