/**
 * A UDIF file generated around a disk stored in bands: the container's bytes as the data fork,
 * then an XML property list with one partition table whose chunks are raw (UDRW) where a band
 * is stored and zero (UDZE) where none is, then a koly trailer. Sparse images and bundles carry
 * no checksums, so none is written (type 0): validation reports each as absent.
 *
 * The layers above then read, validate and extract the disk as they do any image, with the
 * same budgets; chunk offsets are offsets in the data fork, which for a sparse image are the
 * offsets of its own file.
 */
import { type Budget, checkBudget } from "../../core/limits.js";
import type { Work } from "../../core/work.js";
import { crc32Checksum } from "../../format/checksum.js";
import { SECTOR_SIZE, TERMINATOR, UDRW, UDZE } from "../../format/types.js";
import { concatSource, type Piece } from "../../sources/concat.js";
import type { ByteSource } from "../../sources/source.js";
import { EntryList, imageTail, tableBlob } from "../../write/layout.js";
import { markShell } from "../marks.js";

/** Where the disk's stored sectors are: parallel arrays sorted by sector, none overlapping. */
export interface Extents {
  count: number;
  /** First disk sector of each stored run. */
  sector: Float64Array;
  /** Sectors of each run. */
  sectors: Float64Array;
  /** Offset of each run's first byte in the data fork. */
  offset: Float64Array;
}

/** Chunk entries {@link udifShell} writes for `e` over `totalSectors`: raw pieces, zero gaps, a terminator. */
export function shellEntryCount(e: Extents, totalSectors: number, maxChunk: number): number {
  let n = 1;
  let next = 0;
  for (let i = 0; i < e.count; i++) {
    if (e.sector[i] > next) n++;
    n += Math.ceil(e.sectors[i] / maxChunk);
    next = e.sector[i] + e.sectors[i];
  }
  if (totalSectors > next) n++;
  return n;
}

/**
 * The UDIF file around a disk of `totalSectors` sectors whose stored runs are `extents`, over
 * a data fork made of `fork`. Raw chunks are at most `maxChunkSectors` long (longer bands are
 * split). `close` releases what the container holds.
 *
 * @throws DmgError BUDGET_CHUNKS when the table would have more entries than `maxChunks`
 */
export async function udifShell(
  fork: readonly Piece[],
  forkLength: number,
  extents: Extents,
  totalSectors: number,
  name: string,
  budget: Budget,
  work: Work,
  close: (() => Promise<void>) | undefined,
): Promise<ByteSource> {
  const maxChunk = Math.max(1, budget.maxChunkSectors);
  const count = shellEntryCount(extents, totalSectors, maxChunk);
  // Entries are bounded before they are allocated: a header of a million tiny bands.
  checkBudget(budget, "maxChunks", count, { subject: "chunks describing the stored bands" });
  const list = new EntryList(count);
  let next = 0;
  for (let i = 0; i < extents.count; i++) {
    if ((i & 0xfff) === 0xfff) await work.pace();
    const sector = extents.sector[i];
    if (sector > next) list.push(UDZE, 0, next, sector - next, 0, 0);
    let done = 0;
    while (done < extents.sectors[i]) {
      const n = Math.min(maxChunk, extents.sectors[i] - done);
      const offset = extents.offset[i] + done * SECTOR_SIZE;
      list.push(UDRW, 0, sector + done, n, offset, n * SECTOR_SIZE);
      done += n;
    }
    next = sector + extents.sectors[i];
  }
  if (totalSectors > next) list.push(UDZE, 0, next, totalSectors - next, 0, 0);
  list.push(TERMINATOR, 0, totalSectors, 0, 0, 0);
  const none = crc32Checksum(undefined);
  const table = tableBlob(
    {
      name,
      firstSector: 0,
      sectorCount: totalSectors,
      dataOffset: 0,
      checksum: none,
    },
    0,
    1,
    list,
  );
  const tail = imageTail({
    tables: [table],
    layout: "xml",
    dataForkLength: forkLength,
    dataForkCrc: undefined,
    masterChecksum: false,
    sectorCount: totalSectors,
  });
  const shell = concatSource([...fork, { bytes: tail }], close);
  return markShell(shell);
}
