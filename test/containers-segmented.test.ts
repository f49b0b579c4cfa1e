/**
 * Segmented sets (X.dmg, X.002.dmgpart, ...): read as the image they hold, and every way a set
 * can be incomplete or mixed refused with its own code.
 */
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DmgError } from "../src/core/errors.js";
import { openDmg, segmentedSource, validateDmg } from "../src/node/index.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { cliSandbox } from "./helpers/cli-run.js";
import { fcParams } from "./helpers/prop-config.js";
import {
  KOLY_FIELD,
  partNames,
  setTrailerU32,
  setTrailerU64,
  splitImage,
} from "./helpers/segments.js";

/** A 192 KiB disk of text and zeros in 32-sector chunks, so chunks straddle the parts. */
function disk(): Uint8Array {
  const d = new Uint8Array(192 * 1024);
  for (let i = 0; i < d.length; i++) d[i] = i % 4096 < 3000 ? (i * 31 + (i >> 9)) & 0xff : 0;
  return d;
}

let raw: Uint8Array;
let image: Uint8Array;
let parts: Uint8Array[];

beforeAll(async () => {
  raw = disk();
  image = await writeDmgBytes(raw, { chunkSectors: 32 });
  parts = splitImage(image, 3);
});

/** The code opening `list` as a set fails with (or "ok"). */
async function outcome(list: Uint8Array[]): Promise<string> {
  try {
    const img = await openDmg(segmentedSource(list));
    await img.close();
    return "ok";
  } catch (e) {
    if (e instanceof DmgError) return e.code;
    throw e;
  }
}

describe("a segmented set", () => {
  it("reads byte-exact as the image it was cut from", async () => {
    const img = await openDmg(segmentedSource(parts));
    expect(img.container.kind).toBe("segmented");
    expect(img.container.fields.parts).toBe(3);
    expect(img.container.fields.partSizes).toBe(parts.map((p) => p.length).join(", "));
    expect(img.size).toBe(raw.length);
    expect(await img.read(0, raw.length)).toEqual(raw);
    // A read across the boundary of the first two parts' data forks.
    expect(await img.read(60_000, 20_000)).toEqual(raw.subarray(60_000, 80_000));
    await img.close();
  });

  it("validates with every CRC ok", async () => {
    const report = await validateDmg(segmentedSource(parts), { threads: 1 });
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checksums.dataFork).toBe("ok");
    expect(report.checksums.master).toBe("ok");
    expect(report.checksums.tables.every((t) => t === "ok")).toBe(true);
  });

  it("reports a corrupted byte in a later part as a data fork CRC error", async () => {
    const bad = parts.map((p) => p.slice());
    bad[2][10] ^= 1;
    const report = await validateDmg(segmentedSource(bad), { threads: 1 });
    expect(report.ok).toBe(false);
    expect(report.checksums.dataFork).toBe("mismatch");
  });

  it("refuses each hostile variant with its code", async () => {
    const [a, b, c] = parts;
    const other = splitImage(image, 3, { segmentId: "ab".repeat(16) });
    expect(await outcome([a])).toBe("KOLY_SEGMENTED");
    expect(await outcome([a, b])).toBe("SEGMENT_MISSING");
    expect(await outcome([a, b, b])).toBe("SEGMENT_DUPLICATE");
    expect(await outcome([a, c, b])).toBe("SEGMENT_ORDER");
    expect(await outcome([b, a, c])).toBe("SEGMENT_ORDER");
    expect(await outcome([a, other[1], c])).toBe("SEGMENT_FOREIGN");
    expect(await outcome([a, b.subarray(0, b.length - 100), c])).toBe("SEGMENT_TRUNCATED");
    expect(await outcome([a, setTrailerU64(b, KOLY_FIELD.dataForkLength, b.length), c])).toBe(
      "SEGMENT_TRUNCATED",
    );
    expect(await outcome([a, setTrailerU32(b, KOLY_FIELD.segmentCount, 4), c])).toBe(
      "SEGMENT_COUNT",
    );
    expect(await outcome([a, b, c, setTrailerU32(c, KOLY_FIELD.segmentNumber, 4)])).toBe(
      "SEGMENT_COUNT",
    );
    expect(await outcome([a, setTrailerU64(b, KOLY_FIELD.runningDataForkOffset, 7), c])).toBe(
      "SEGMENT_ORDER",
    );
    const many = setTrailerU32(a, KOLY_FIELD.segmentCount, 0xffffffff);
    expect(await outcome([many, b, c])).toBe("BUDGET_SEGMENTS");
  });

  it("never lets anything but a DmgError escape when trailers or the list are mutated", async () => {
    const fields = [
      [KOLY_FIELD.segmentNumber, 4],
      [KOLY_FIELD.segmentCount, 4],
      [KOLY_FIELD.segmentId, 4],
      [KOLY_FIELD.runningDataForkOffset, 8],
      [KOLY_FIELD.dataForkOffset, 8],
      [KOLY_FIELD.dataForkLength, 8],
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(2), { minLength: 1, maxLength: 5 }),
        fc.array(
          fc.record({
            part: fc.nat(2),
            field: fc.nat(fields.length - 1),
            value: fc.oneof(fc.nat(8), fc.nat(), fc.constant(0xffffffff)),
            wide: fc.boolean(),
          }),
          { maxLength: 3 },
        ),
        async (order, edits) => {
          let set: Uint8Array[] = parts.map((p) => p.slice());
          for (const e of edits) {
            const [field, size] = fields[e.field];
            const p = set[e.part];
            set[e.part] =
              size === 8 && e.wide
                ? setTrailerU64(p, field, e.value)
                : setTrailerU32(p, field + (size === 8 ? 4 : 0), e.value);
          }
          set = order.map((i) => set[i]);
          const got = await outcome(set);
          expect(typeof got).toBe("string");
        },
      ),
      fcParams(60),
    );
  });
});

describe("a segmented set on disk", () => {
  const dir = mkdtempSync(join(tmpdir(), "dmg-segments-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (stem: string, list: Uint8Array[]) => {
    const names = partNames(stem, list.length);
    for (const [i, p] of list.entries()) writeFileSync(join(dir, names[i]), p);
    return join(dir, names[0]);
  };

  it("is found next to its first part", async () => {
    const first = write("whole", parts);
    const img = await openDmg(first);
    expect(img.container.kind).toBe("segmented");
    expect(await img.read(0, raw.length)).toEqual(raw);
    await img.close();
    const report = await validateDmg(first, { threads: 1 });
    expect(report.ok).toBe(true);
  });

  it("names the part it cannot find", async () => {
    const alone = write("alone", parts.slice(0, 1));
    await expect(openDmg(alone)).rejects.toMatchObject({
      code: "KOLY_SEGMENTED",
      message: expect.stringContaining("alone.002.dmgpart"),
    });
    const gap = write("gap", parts.slice(0, 2));
    await expect(openDmg(gap)).rejects.toMatchObject({
      code: "SEGMENT_MISSING",
      message: expect.stringContaining("gap.003.dmgpart"),
    });
  });

  it("does not follow a part that is a symbolic link", async () => {
    const first = write("linked", parts.slice(0, 2));
    writeFileSync(join(dir, "elsewhere"), parts[2]);
    symlinkSync(join(dir, "elsewhere"), join(dir, "linked.003.dmgpart"));
    await expect(openDmg(first)).rejects.toMatchObject({ code: "IO_ERROR" });
  });
});

describe("dmg-validate on a segmented set", () => {
  const { file, cli } = cliSandbox("dmg-segments-cli-");

  it("info and check read the set from its first part", () => {
    const names = partNames("set", 3);
    for (const [i, p] of parts.entries()) file(names[i], p);
    const info = cli(["info", "set.dmg"]);
    expect(info.err).toBe("");
    expect(info.status).toBe(0);
    expect(info.out).toContain("segmented");
    const check = cli(["check", "set.dmg"]);
    expect(check.status).toBe(0);
    file("lone.dmg", parts[0]);
    const lone = cli(["check", "lone.dmg"]);
    expect(lone.status).toBe(1);
    expect(lone.out + lone.err).toContain("KOLY_SEGMENTED");
  });
});
