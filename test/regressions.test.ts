/**
 * Replays every input of corpus/regressions/ through the public API: open, read everything,
 * validate. Each must give the outcome its line in corpus/README.md names, and never another
 * exception.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { CORPUS } from "./helpers/corpus.js";

const DIR = join(CORPUS, "regressions");

/** file -> expected outcome ("ok" or an error code), from corpus/README.md. */
function expectations(): Map<string, string> {
  const text = readFileSync(join(CORPUS, "README.md"), "utf8");
  const rows = new Map<string, string>();
  for (const line of text.slice(text.indexOf("## regressions/")).split("\n")) {
    const m = /^\| `([^`]+)` \|.*\| `?([A-Za-z_]+)`? \|$/.exec(line.trim());
    if (m) rows.set(m[1], m[2]);
  }
  return rows;
}

/** What the public API makes of an input: "ok" or the first error code. */
async function outcome(bytes: Uint8Array): Promise<string> {
  const budget = {
    maxWorkingMemory: 16 << 20,
    maxDecompressedBytes: 256 << 20,
    expansionAllowance: 64 << 20,
  };
  let openCode = "ok";
  try {
    const image = await openDmg(bytes, { budget });
    try {
      for await (const _ of image.stream()) {
        // read everything
      }
    } finally {
      await image.close();
    }
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    openCode = e.code;
  }
  const report = await validateDmg(bytes, { budget });
  const validateCode = report.ok ? "ok" : report.errors[0].code;
  // Reading and validating agree on the outcome, but for the output budget: reading makes
  // the zeros of zero chunks, validation checksums them without making them.
  if (openCode !== validateCode) expect(openCode).toMatch(/^BUDGET_(DECOMPRESSED|EXPANSION)$/);
  return validateCode;
}

describe("corpus/regressions", () => {
  const rows = expectations();
  const files = readdirSync(DIR).filter((f) => !f.startsWith("."));

  it("has a line in corpus/README.md for every file, and a file for every line", () => {
    expect(files.length).toBeGreaterThan(0);
    expect([...rows.keys()].sort()).toEqual([...files].sort());
  });

  for (const file of files) {
    it(`${file} gives ${rows.get(file)}`, async () => {
      expect(await outcome(new Uint8Array(readFileSync(join(DIR, file))))).toBe(rows.get(file));
    });
  }
});
