/**
 * Properties of honest images: whatever valid image the writer makes (1-4 tables, every chunk
 * type, each layout, data offsets, checksums present or absent), the reader returns exactly
 * the model, every range read equals the model's bytes, and validation finds no error.
 *
 * Seeds and replay: see test/helpers/prop-config.ts (FC_SEED, FC_RUNS, FC_PATH).
 */
import fc from "fast-check";
import { describe, expect } from "vitest";
import { chunkTypeName, SECTOR_SIZE } from "../../src/format/types.js";
import { type DmgImage, openDmg, validateDmg } from "../../src/index.js";
import { tableNumbering } from "../../src/write/layout.js";
import { imageArb, rangeArb } from "../helpers/arbitraries.js";
import {
  type Built,
  build,
  dataChunks,
  expectedDisk,
  expectedRange,
  resolveRange,
} from "../helpers/prop-build.js";
import { property } from "../helpers/prop-run.js";

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

/** Open a built image, run `fn`, close it. */
async function withImage<T>(b: Built, fn: (img: DmgImage) => Promise<T>): Promise<T> {
  const img = await openDmg(b.image);
  try {
    return await fn(img);
  } finally {
    await img.close();
  }
}

/** The whole disk through stream(), copied piece by piece. */
async function streamAll(img: DmgImage): Promise<Uint8Array> {
  const out = new Uint8Array(img.size);
  let pos = 0;
  for await (const piece of img.stream()) {
    out.set(piece, pos);
    pos += piece.length;
  }
  expect(pos).toBe(img.size);
  return out;
}

/** What openDmg must report for table `i` of a built image. */
function expectedTable(b: Built, i: number) {
  const spec = b.spec.tables[i];
  const histogram: Record<string, number> = { terminator: 1 };
  for (const c of spec.chunks) {
    const name = chunkTypeName(c.type);
    histogram[name] = (histogram[name] ?? 0) + 1;
  }
  return {
    name: spec.name,
    cfName: b.spec.layout === "rsrc" ? undefined : spec.cfName,
    id: tableNumbering(i, b.spec.tables.length).id,
    firstSector: b.tables[i].firstSector,
    sectorCount: b.tables[i].sectorCount,
    dataOffset: spec.dataOffset,
    checksumType: spec.checksum ? 2 : 0,
    entryCount: spec.chunks.length + 1,
    histogram,
  };
}

const RUNS = { model: 400, read: 400, slice: 300, validate: 300, order: 300 };

describe("honest images (property)", () => {
  property(
    "openDmg returns exactly the model: tables, chunks, layout",
    RUNS.model,
    20,
    imageArb(),
    async (recipe) => {
      const b = build(recipe);
      await withImage(b, async (img) => {
        expect(img.layout).toBe(recipe.layout);
        expect(img.size).toBe(b.size);
        expect(img.sectorCount).toBe(b.size / SECTOR_SIZE);
        expect(img.warnings).toEqual([]);
        expect(img.tables.length).toBe(b.spec.tables.length);
        img.tables.forEach((t, i) => {
          const { name, cfName, id, firstSector, sectorCount, dataOffset } = t;
          expect({
            ...{ name, cfName, id, firstSector, sectorCount, dataOffset },
            checksumType: t.checksum.type,
            entryCount: t.entryCount,
            histogram: t.histogram,
          }).toEqual(expectedTable(b, i));
        });
        const chunks = [...img.chunks()].map((c) => [
          ...[c.table, c.tableChunk, c.type],
          ...[c.sector, c.sectorCount, c.offset, c.length],
        ]);
        const expected = dataChunks(b).map((p) => [
          ...[p.table, p.entry, p.chunk.type],
          ...[p.sector, p.chunk.sectors, p.chunk.payload ? p.pos : 0, p.chunk.payload?.length ?? 0],
        ]);
        expect(chunks).toEqual(expected);
        expect(img.chunkCount).toBe(expected.length);
      });
    },
  );

  property(
    "read(offset, length) equals the model's bytes",
    RUNS.read,
    20,
    fc.tuple(imageArb(), rangeArb),
    async ([recipe, range]) => {
      const b = build(recipe);
      const [offset, length] = resolveRange(b, range);
      const got = await withImage(b, (img) => img.read(offset, length));
      expect(got.length).toBe(length);
      expect(same(got, expectedRange(b, offset, length))).toBe(true);
    },
  );

  property(
    "a range read equals the same slice of a full stream()",
    RUNS.slice,
    30,
    fc.tuple(imageArb(), rangeArb),
    async ([recipe, range]) => {
      const b = build(recipe);
      const [offset, length] = resolveRange(b, range);
      await withImage(b, async (img) => {
        const whole = await streamAll(img);
        expect(same(whole, expectedDisk(b))).toBe(true);
        const part = await img.read(offset, length);
        expect(same(part, whole.subarray(offset, offset + length))).toBe(true);
        // A ranged stream gives the same bytes as the ranged read.
        const pieces: Uint8Array[] = [];
        for await (const p of img.stream(offset, length)) pieces.push(p.slice());
        expect(same(Buffer.concat(pieces), part)).toBe(true);
      });
    },
  );

  property(
    "validateDmg of an honest image has no error, checksums ok or absent as modelled",
    RUNS.validate,
    30,
    imageArb(),
    async (recipe) => {
      const b = build(recipe);
      const report = await validateDmg(b.image);
      expect(report.errors).toEqual([]);
      expect(report.ok).toBe(true);
      const outcome = (present: boolean) => (present ? "ok" : "absent");
      expect(report.checksums).toEqual({
        dataFork: outcome(recipe.dataForkChecksum),
        tables: b.spec.tables.map((t) => outcome(t.checksum)),
        master: outcome(recipe.masterChecksum),
      });
      const absent =
        Number(!recipe.dataForkChecksum) +
        Number(!recipe.masterChecksum) +
        b.spec.tables.filter((t) => !t.checksum).length;
      expect(report.warnings.map((w) => w.code)).toEqual(
        Array.from({ length: absent }, () => "CHECKSUM_ABSENT"),
      );
      expect(report.summary?.size).toBe(b.size);
    },
  );

  property(
    "several reads in any order on one image, sequential or concurrent, equal the model",
    RUNS.order,
    30,
    fc.tuple(imageArb(), fc.array(rangeArb, { minLength: 2, maxLength: 12 }), fc.boolean()),
    async ([recipe, ranges, concurrent]) => {
      const b = build(recipe);
      const disk = expectedDisk(b);
      const placed = ranges.map((r) => resolveRange(b, r));
      await withImage(b, async (img) => {
        const read = ([o, n]: [number, number]) => img.read(o, n);
        const got = concurrent
          ? await Promise.all(placed.map(read))
          : await placed.reduce<Promise<Uint8Array[]>>(
              async (acc, r) => [...(await acc), await read(r)],
              Promise.resolve([]),
            );
        got.forEach((g, i) => {
          const [o, n] = placed[i];
          expect(same(g, disk.subarray(o, o + n)), `read ${i} [${o}, ${o + n})`).toBe(true);
        });
        // Reads that continue or restart decoders stay within the working-memory budget.
        expect(img.stats().peakWorkingMemory).toBeLessThanOrEqual(img.budget.maxWorkingMemory);
      });
    },
  );
});
