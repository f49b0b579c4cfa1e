/**
 * Containers around UDIF images (see src/containers/): each is detected from its own bytes and
 * read through, so that what it holds opens, reads and validates as any image does.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { openDmg } from "../src/index.js";
import { ZLIB } from "./helpers/cli-run.js";

describe("containers", () => {
  it("a plain UDIF file is its own container", async () => {
    const image = await openDmg(readFileSync(ZLIB));
    expect(image.container).toEqual({ kind: "UDIF", fields: {} });
    await image.close();
  });
});
