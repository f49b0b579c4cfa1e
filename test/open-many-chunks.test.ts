/**
 * Opening an image whose one partition table holds many chunks: its plist is parsed in pieces
 * and the table's long base64 text is decoded from the file's bytes without saxes reading it.
 */
import { describe, expect, it } from "vitest";
import { UDIG, UDZE } from "../src/format/types.js";
import { openDmg } from "../src/index.js";
import { writeDmgBytes } from "../src/write/writer.js";

describe("openDmg: a table of many chunks", () => {
  it("indexes 120,000 one-sector chunks, in order, with their table entries", async () => {
    const n = 120_000;
    const disk = {
      size: n * 512,
      read: async (_: number, length: number) => new Uint8Array(length),
    };
    const bytes = await writeDmgBytes(disk, { chunkSectors: 1 });
    const image = await openDmg(bytes);
    expect(image.chunkCount).toBe(n);
    expect(image.size).toBe(n * 512);
    expect(image.tables.length).toBe(1);
    const t = image.tables[0];
    expect(t.sectorCount).toBe(n);
    expect(t.entryCount).toBe(n + 1); // and the terminator
    // The blkx <data> element lies where the table says, several 256 KiB pieces into the plist.
    expect(t.fileOffset).toBeGreaterThan(image.koly.xmlOffset);
    expect(new TextDecoder().decode(bytes.subarray(t.fileOffset, t.fileOffset + 6))).toBe("<data>");
    for (const i of [0, 1, 77_777, n - 1]) {
      expect(image.chunk(i)).toMatchObject({ table: 0, tableChunk: i, sector: i, sectorCount: 1 });
      expect([UDZE, UDIG]).toContain(image.chunk(i).type);
    }
    expect(Buffer.compare(await image.read(512 * (n - 2), 1024), new Uint8Array(1024))).toBe(0);
    await image.close();
  });
});
