/**
 * Every real file in corpus/real/ gives the disk bytes its README lists (size and SHA-256, as
 * 7-Zip and QEMU produce them), or the listed rejection.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { REAL, realExpectations } from "./helpers/corpus.js";

/** Rejections the README describes in words, as the codes this project gives them. */
const REJECTIONS: Record<string, string> = {
  "brettcs_dtrx_test.dmg": "NOT_UDIF",
  "citruz_dmgwiz_input_aes256.dmg": "ENCRYPTED",
};

/** Chunk types not decodable yet: these files open, and decoding them names the type. */
const NOT_YET: Record<string, RegExp> = {};

const rows = realExpectations();

describe("corpus/real", () => {
  it("lists every file of the folder", () => {
    expect(rows.length).toBe(9);
  });

  for (const row of rows) {
    const bytes = () => new Uint8Array(readFileSync(join(REAL, row.file)));
    if (row.size === undefined) {
      it(`${row.file} is rejected with ${REJECTIONS[row.file]}`, async () => {
        const err = await openDmg(bytes()).catch((e) => e);
        expect(err).toBeInstanceOf(DmgError);
        expect(err.code).toBe(REJECTIONS[row.file]);
        const report = await validateDmg(bytes());
        expect(report.ok).toBe(false);
        expect(report.errors[0].code).toBe(REJECTIONS[row.file]);
      });
      continue;
    }
    if (NOT_YET[row.file]) {
      it(`${row.file} opens with the listed size and names its unsupported chunk type`, async () => {
        const image = await openDmg(bytes());
        expect(image.size).toBe(row.size);
        const err = await image.read(0, image.size).catch((e) => e);
        expect(err).toBeInstanceOf(DmgError);
        expect(err.code).toBe("CHUNK_TYPE_UNSUPPORTED");
        expect(err.message).toMatch(NOT_YET[row.file]);
      });
      continue;
    }
    it(`${row.file} gives ${row.size} bytes with the listed SHA-256 and validates`, async () => {
      const image = await openDmg(bytes());
      expect(image.size).toBe(row.size);
      const hash = createHash("sha256");
      for await (const piece of image.stream()) hash.update(piece);
      expect(hash.digest("hex")).toBe(row.sha256);
      const report = await validateDmg(bytes());
      expect(report.errors).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.checksums.tables.every((c) => c === "ok" || c === "absent")).toBe(true);
    });
  }
});
