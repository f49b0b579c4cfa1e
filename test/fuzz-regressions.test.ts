/**
 * Inputs the fuzz campaigns found, replayed through their targets (which run on the build, as
 * the campaigns do: npm test builds dist/ first). Each must now pass its target's invariants.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");

async function replay(target: string, input: string): Promise<void> {
  const mod = await import(pathToFileURL(join(ROOT, "fuzz", "targets", `${target}.js`)).href);
  await mod.fuzz(new Uint8Array(readFileSync(join(ROOT, "corpus", "fuzz", target, input))));
}

describe("fuzz regressions", () => {
  it("zlib: a block boundary at the declared end is not offered as a resume point", async () => {
    await expect(replay("zlib", "regression-boundary-at-declared-end")).resolves.toBeUndefined();
  });

  it("bundle: a one-byte Info.plist at an odd offset is checked for ASCII without a RangeError", async () => {
    await expect(
      replay("bundle", "regression-plist-ascii-check-unaligned"),
    ).resolves.toBeUndefined();
  });

  it("cms: a GeneralizedTime that is not a time is CODESIGN_CMS, not the parser's Error", async () => {
    await expect(replay("cms", "regression-generalizedtime-not-a-time")).resolves.toBeUndefined();
  });
});
