/**
 * Replays every input of corpus/regressions/ through the public API: open, read everything,
 * validate. Each must give the outcome its line in corpus/README.md names, and never another
 * exception. A file is read as bytes through the core; a folder (a sparse bundle, or the
 * parts of a segmented set) by its path through the Node entry, which reads folders. Every
 * input is opened with the password "regression", which hostile encrypted images are made with.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import * as node from "../src/node/index.js";
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

const PASSWORD = "regression";

/**
 * What the public API makes of an input (bytes, or the path of a folder): "ok" or the first
 * error code.
 */
async function outcome(input: Uint8Array | string): Promise<string> {
  const budget = {
    maxWorkingMemory: 16 << 20,
    maxDecompressedBytes: 256 << 20,
    expansionAllowance: 64 << 20,
  };
  const options = { budget, password: PASSWORD };
  const api =
    typeof input === "string"
      ? {
          open: () => node.openDmg(input, options),
          validate: () => node.validateDmg(input, options),
        }
      : { open: () => openDmg(input, options), validate: () => validateDmg(input, options) };
  let openCode = "ok";
  try {
    const image = await api.open();
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
  const report = await api.validate();
  const validateCode = report.ok ? "ok" : report.errors[0].code;
  // Reading and validating agree on the outcome, but for the output budget: reading makes
  // the zeros of zero chunks, validation checksums them without making them.
  if (openCode !== validateCode) expect(openCode).toMatch(/^BUDGET_(DECOMPRESSED|EXPANSION)$/);
  return validateCode;
}

/**
 * A file's bytes; a sparse bundle's folder; the first part (its one .dmg) of a folder holding
 * a segmented set.
 */
function input(path: string): Uint8Array | string {
  if (!statSync(path).isDirectory()) return new Uint8Array(readFileSync(path));
  if (path.endsWith(".sparsebundle")) return path;
  const first = readdirSync(path).filter((f) => f.endsWith(".dmg"));
  expect(first).toHaveLength(1);
  return join(path, first[0]);
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
      expect(await outcome(input(join(DIR, file)))).toBe(rows.get(file));
    });
  }
});
