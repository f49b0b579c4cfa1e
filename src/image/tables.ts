/**
 * The partition tables of an opened image as plain data, and the chunk entries as the public
 * API hands them out.
 */
import type { Checksum } from "../format/checksum.js";
import type { MishTable } from "../format/mish.js";
import type { BlkxResource } from "../format/resources.js";
import { chunkTypeName } from "../format/types.js";
import type { ChunkIndex } from "./chunk-index.js";

/** One partition table (blkx entry) of the image. */
export interface PartitionTable {
  index: number;
  name: string;
  id: number;
  attributes: number;
  cfName?: string;
  firstSector: number;
  sectorCount: number;
  /** The table's data offset (added to every chunk's compressed offset). */
  dataOffset: number;
  /** CRC32 (or other checksum) of the table's decoded sectors, as stored. */
  checksum: Checksum;
  /** Entries stored in the table, terminator and comments included. */
  entryCount: number;
  /** Entries per chunk type name ("zlib", "zero", "terminator", ...). */
  histogram: Record<string, number>;
  /** File offset of the table's mish blob (for XML: of its <data> element). */
  fileOffset: number;
}

/** One data-bearing chunk, as plain data. */
export interface ChunkInfo {
  /** Index in the image's chunk table (disk order). */
  index: number;
  table: number;
  /** Entry number inside its table. */
  tableChunk: number;
  type: number;
  typeName: string;
  /** First sector on the virtual disk. */
  sector: number;
  sectorCount: number;
  /** File offset of the payload (0 for zero and ignore chunks). */
  offset: number;
  length: number;
}

/** What reading has cost, so far, for one image. */
export interface ImageStats {
  /** Bytes produced by its operations: decoded by codecs (including bytes decoded to be skipped) and zeros made. */
  bytesDecompressed: number;
  /** Highest tracked working memory, in bytes. */
  peakWorkingMemory: number;
  /** Working memory held now (index points, cache, open decoders), in bytes. */
  workingMemory: number;
}

/**
 * The table of blkx entry `t` with its parsed mish block. Its histogram counts entries per
 * type name; each type code met is added to `types` (the decoders to load).
 */
export function partitionTable(
  t: number,
  res: BlkxResource,
  mish: MishTable,
  types: Set<number>,
): PartitionTable {
  // Counted by type code (runs of one type cost one lookup), named once per type.
  const counts = new Map<number, number>();
  const type = mish.entries.type;
  for (let i = 0; i < mish.count; ) {
    let j = i + 1;
    while (j < mish.count && type[j] === type[i]) j++;
    counts.set(type[i], (counts.get(type[i]) ?? 0) + j - i);
    i = j;
  }
  const histogram: Record<string, number> = {};
  for (const [code, n] of counts) {
    const name = chunkTypeName(code);
    histogram[name] = (histogram[name] ?? 0) + n;
    types.add(code);
  }
  const table: PartitionTable = {
    index: t,
    name: res.name,
    id: res.id,
    attributes: res.attributes,
    firstSector: mish.firstSector,
    sectorCount: mish.sectorCount,
    dataOffset: mish.dataOffset,
    checksum: mish.checksum,
    entryCount: mish.count,
    histogram,
    fileOffset: res.fileOffset,
  };
  if (res.cfName !== undefined) table.cfName = res.cfName;
  return table;
}

/** Chunk `i` of `index` as plain data (the caller has checked `i`). */
export function chunkInfo(index: ChunkIndex, i: number): ChunkInfo {
  return {
    index: i,
    table: index.table[i],
    tableChunk: index.tableChunk[i],
    type: index.type[i],
    typeName: chunkTypeName(index.type[i]),
    sector: index.sector[i],
    sectorCount: index.sectorCount[i],
    offset: index.offset[i],
    length: index.length[i],
  };
}
