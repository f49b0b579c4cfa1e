/**
 * A 1 GiB image whose data is one ~256 MiB zlib chunk per table is extracted and range-read with
 * the default working-memory budget: the bytes are right and the tracked working memory stays
 * within the budget (QEMU refuses such chunks; other readers buffer them whole).
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_BUDGET } from "../src/core/limits.js";
import { openDmg } from "../src/index.js";
import { fileSource } from "../src/node/io/file-source.js";
import { writeDmg } from "../src/write/writer.js";
import { syntheticBytes, syntheticDisk } from "./helpers/synthetic.js";

const GiB = 1024 ** 3;
const CHUNK_SECTORS = 524_288; // 256 MiB
const dir = mkdtempSync(join(tmpdir(), "dmg-bounded-"));
const path = join(dir, "big.dmg");

beforeAll(async () => {
  const handle = await open(path, "w");
  try {
    await writeDmg(
      syntheticDisk(GiB),
      { write: async (b) => void (await handle.write(b)) },
      {
        chunkSectors: CHUNK_SECTORS,
        level: 1,
        deflate: (raw, level) => deflateSync(raw, { level }),
        partitions: [0, 1, 2, 3].map((i) => ({ name: `part ${i}`, sectors: CHUNK_SECTORS })),
      },
    );
  } finally {
    await handle.close();
  }
}, 600_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bounded memory on 256 MiB chunks", () => {
  it("extracts 1 GiB correctly within the default working-memory budget", async () => {
    const image = await openDmg(await fileSource(path));
    try {
      expect(image.size).toBe(GiB);
      expect(image.chunkCount).toBe(4);
      expect(image.chunk(0).sectorCount).toBe(CHUNK_SECTORS);
      const got = createHash("sha256");
      const want = createHash("sha256");
      let pos = 0;
      for await (const piece of image.stream()) {
        got.update(piece);
        want.update(syntheticBytes(pos, piece.length));
        pos += piece.length;
      }
      expect(pos).toBe(GiB);
      expect(got.digest("hex")).toBe(want.digest("hex"));
      const { peakWorkingMemory, bytesDecompressed } = image.stats();
      expect(peakWorkingMemory).toBeGreaterThan(0);
      expect(peakWorkingMemory).toBeLessThanOrEqual(DEFAULT_BUDGET.maxWorkingMemory);
      expect(bytesDecompressed).toBe(GiB);
    } finally {
      await image.close();
    }
  });

  it("range-reads inside and across huge chunks within the budget", async () => {
    const image = await openDmg(await fileSource(path));
    try {
      const chunk = CHUNK_SECTORS * 512;
      const ranges: Array<[number, number]> = [
        [chunk * 2 + 100_000_000, 4096], // deep inside chunk 2
        [chunk * 2 + 100_004_096, 65536], // sequential continuation: no restart
        [chunk - 1000, 5000], // across the boundary of chunks 0 and 1
        [GiB - 4096, 4096], // the very end
        [12345, 1], // the very start
      ];
      for (const [offset, length] of ranges) {
        expect(await image.read(offset, length)).toEqual(syntheticBytes(offset, length));
      }
      expect(image.stats().peakWorkingMemory).toBeLessThanOrEqual(DEFAULT_BUDGET.maxWorkingMemory);
      // The continuation read reused the open decoder: chunk 2 was decoded once up to 100 MB,
      // not twice. Total decoded < one pass per range from its chunk start.
      const restartCost = 100_000_000 + 100_004_096 + 65536 + (chunk - 1000) + 4000 + chunk + 12345;
      expect(image.stats().bytesDecompressed).toBeLessThan(restartCost);
    } finally {
      await image.close();
    }
  });
});
