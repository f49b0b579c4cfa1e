/**
 * Full validation with chunk CRC32s computed ahead (the hook worker threads use on Node): the
 * CRC32s it is given are joined into each table's, chunks it does not have are decoded here,
 * its errors are the chunk's, and the cost reads as if everything was decoded here.
 */
import { describe, expect, it } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { DmgError } from "../src/core/errors.js";
import { SECTOR_SIZE } from "../src/format/types.js";
import { type DmgImage, sessionOf } from "../src/image/image.js";
import { type ChunkPrefetch, validateDmg, validateWith } from "../src/image/validate.js";
import { writeDmgBytes } from "../src/write/writer.js";

const disk = new Uint8Array(40 * 4096).map(
  (_, i) => ((i * 2654435761) >>> 20) & (i >> 12 ? 0xff : 0),
);

/** A prefetch that serves every other chunk from `crcOf`, and records what was asked. */
function fakePrefetch(crcOf: (image: DmgImage, i: number) => number | DmgError) {
  const asked: number[] = [];
  let closed = false;
  const make = (image: DmgImage): ChunkPrefetch => ({
    async take(i) {
      asked.push(i);
      if (i % 2 === 1) return { done: false };
      const { index } = sessionOf(image);
      const bytes = index.sectorCount[i] * SECTOR_SIZE;
      const crc = crcOf(image, i);
      return crc instanceof DmgError
        ? { done: true, crc: 0, bytes: 0, error: crc }
        : { done: true, crc, bytes };
    },
    async close() {
      closed = true;
    },
  });
  return { make, asked, closed: () => closed };
}

/** The true CRC32 of chunk `i`'s decoded bytes. */
function trueCrc(image: DmgImage, i: number): number {
  const { index } = sessionOf(image);
  const from = index.sector[i] * SECTOR_SIZE;
  return crc32(disk.subarray(from, from + index.sectorCount[i] * SECTOR_SIZE));
}

describe("validation with chunks checked ahead", () => {
  it("joins the CRC32s it is given with those it decodes, and closes the prefetch", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 16 });
    const plain = await validateDmg(image);
    const fake = fakePrefetch(trueCrc);
    const r = await validateWith(image, {}, { prefetch: fake.make });
    expect(r.ok).toBe(true);
    expect(r.checksums.tables).toEqual(["ok"]);
    expect(fake.asked.length).toBeGreaterThan(4);
    expect(fake.closed()).toBe(true);
    expect(r.cost.bytesDecompressed).toBe(plain.cost.bytesDecompressed);
    expect(r.cost.chunksDecoded).toBe(plain.cost.chunksDecoded);
  });

  it("a wrong CRC32 from ahead is a table mismatch; an error from ahead is the chunk's finding", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 16 });
    const wrong = fakePrefetch((img, i) => (i === 2 ? trueCrc(img, i) ^ 1 : trueCrc(img, i)));
    const r = await validateWith(image, {}, { prefetch: wrong.make });
    expect(r.checksums.tables).toEqual(["mismatch"]);
    expect(r.errors.map((f) => f.code)).toEqual(["CRC_TABLE"]);
    const failing = fakePrefetch((img, i) =>
      i === 4 ? new DmgError("DECODE_CORRUPT", "bad stream", 123) : trueCrc(img, i),
    );
    const f = await validateWith(image, {}, { prefetch: failing.make });
    expect(f.errors[0]).toMatchObject({ code: "DECODE_CORRUPT", offset: 123, table: 0 });
    expect(f.checksums.tables).toEqual(["not-checked"]);
    expect(failing.closed()).toBe(true);
  });
});
