/**
 * The chunk index: every data-bearing chunk of every table, sorted by virtual-disk sector,
 * as parallel typed arrays (a 1,000,000-chunk image costs ~44 MB here, not an object each).
 */

import { DmgError } from "../core/errors.js";
import type { Budget } from "../core/limits.js";
import type { Koly } from "../format/koly.js";
import { MAX_SECTOR, type MishTable } from "../format/mish.js";
import {
  COMMENT,
  isCompressed,
  isZeroFill,
  SECTOR_SIZE,
  TERMINATOR,
  UDRW,
} from "../format/types.js";

export interface ChunkIndex {
  count: number;
  type: Uint32Array;
  /** Partition table the chunk belongs to. */
  table: Uint32Array;
  /** Entry number inside its table (as stored, comments and all). */
  tableChunk: Uint32Array;
  /** First sector on the virtual disk (absolute). */
  sector: Float64Array;
  sectorCount: Float64Array;
  /** File offset of the payload (absolute). */
  offset: Float64Array;
  length: Float64Array;
  /** Total sectors of the virtual disk. */
  totalSectors: number;
}

/** A table with the location of its blob, for error messages. */
export interface LocatedTable {
  mish: MishTable;
  fileOffset: number;
}

/**
 * Build the index and check every cross-structure rule: tables contiguous from sector 0
 * (attack class C16), payload ranges inside the data fork (C17, D20), lengths consistent with
 * types (D22), budgets per chunk (D24) and for the whole image.
 */
export function buildChunkIndex(tables: LocatedTable[], koly: Koly, budget: Budget): ChunkIndex {
  // Tables in disk order (they are stored in order in every real file; sorting costs nothing).
  const order = tables
    .map((_, i) => i)
    .sort((a, b) => tables[a].mish.firstSector - tables[b].mish.firstSector);
  let total = 0;
  for (const t of tables) {
    for (let i = 0; i < t.mish.count; i++) {
      const type = t.mish.entries.type[i];
      if (type !== COMMENT && type !== TERMINATOR && t.mish.entries.sectorCount[i] > 0) total++;
    }
  }
  if (total > budget.maxChunks) {
    throw new DmgError(
      "BUDGET_CHUNKS",
      `image has ${total} chunks; the budget allows ${budget.maxChunks} (raise maxChunks)`,
    );
  }
  const idx: ChunkIndex = {
    count: total,
    type: new Uint32Array(total),
    table: new Uint32Array(total),
    tableChunk: new Uint32Array(total),
    sector: new Float64Array(total),
    sectorCount: new Float64Array(total),
    offset: new Float64Array(total),
    length: new Float64Array(total),
    totalSectors: 0,
  };
  const forkStart = koly.dataForkOffset;
  const forkEnd = koly.dataForkOffset + koly.dataForkLength;
  let next = 0;
  let n = 0;
  for (const ti of order) {
    const { mish, fileOffset } = tables[ti];
    if (mish.sectorCount === 0) continue;
    // Attack class C16: overlapping tables would give two answers for one sector, a gap none.
    if (mish.firstSector !== next) {
      throw new DmgError(
        "TABLE_LAYOUT",
        mish.firstSector < next
          ? `table ${ti} starts at sector ${mish.firstSector}, inside the previous table (which ends at ${next})`
          : `table ${ti} starts at sector ${mish.firstSector}, leaving sectors ${next}..${mish.firstSector - 1} covered by no table`,
        fileOffset,
        { table: ti },
      );
    }
    const end = mish.firstSector + mish.sectorCount;
    if (end > MAX_SECTOR) {
      throw new DmgError("TABLE_LAYOUT", `table ${ti} ends beyond sector 2^44`, fileOffset, {
        table: ti,
      });
    }
    next = end;
    const e = mish.entries;
    for (let i = 0; i < mish.count; i++) {
      const type = e.type[i];
      const sectors = e.sectorCount[i];
      if (type === COMMENT || type === TERMINATOR || sectors === 0) continue;
      const where = { table: ti, chunk: i };
      const offset = forkStart + mish.dataOffset + e.offset[i];
      const length = e.length[i];
      if (!isZeroFill(type)) {
        // Attack class D22: a payload-carrying chunk with no payload, or a raw chunk whose
        // length disagrees with its sectors (a copy would read past or stop short).
        if (length === 0) {
          throw new DmgError(
            "CHUNK_LENGTH",
            `table ${ti} chunk ${i} has ${sectors} sectors but no compressed bytes`,
            fileOffset,
            where,
          );
        }
        if (type === UDRW && length !== sectors * SECTOR_SIZE) {
          throw new DmgError(
            "CHUNK_LENGTH",
            `table ${ti} chunk ${i} is raw with ${sectors} sectors but ${length} bytes (expected ${sectors * SECTOR_SIZE})`,
            fileOffset,
            where,
          );
        }
        // Attack classes C17, D20: payloads outside the data fork (QEMU CVE-2014-0145 family).
        if (offset < forkStart || offset + length > forkEnd) {
          throw new DmgError(
            "CHUNK_RANGE",
            `table ${ti} chunk ${i} payload [${offset}, ${offset + length}) lies outside the data fork [${forkStart}, ${forkEnd})`,
            offset,
            where,
          );
        }
        if (isCompressed(type)) {
          // Attack class D24: budgets per chunk. Honest 250 MB chunks fit the defaults.
          if (length > budget.maxChunkCompressedBytes) {
            throw new DmgError(
              "BUDGET_CHUNK_COMPRESSED",
              `table ${ti} chunk ${i} has ${length} compressed bytes; the budget allows ${budget.maxChunkCompressedBytes} (raise maxChunkCompressedBytes)`,
              offset,
              where,
            );
          }
          if (sectors > budget.maxChunkSectors) {
            throw new DmgError(
              "BUDGET_CHUNK_SECTORS",
              `table ${ti} chunk ${i} has ${sectors} sectors; the budget allows ${budget.maxChunkSectors} (raise maxChunkSectors)`,
              offset,
              where,
            );
          }
        }
      }
      idx.type[n] = type;
      idx.table[n] = ti;
      idx.tableChunk[n] = i;
      idx.sector[n] = mish.firstSector + e.sector[i];
      idx.sectorCount[n] = sectors;
      idx.offset[n] = isZeroFill(type) ? 0 : offset;
      idx.length[n] = isZeroFill(type) ? 0 : length;
      n++;
    }
  }
  idx.count = n;
  idx.totalSectors = next;
  if (next * SECTOR_SIZE > budget.maxImageBytes) {
    throw new DmgError(
      "BUDGET_IMAGE_SIZE",
      `virtual disk is ${next * SECTOR_SIZE} bytes; the budget allows ${budget.maxImageBytes} (raise maxImageBytes)`,
    );
  }
  checkPayloadOverlap(idx);
  return idx;
}

/**
 * Attack class D20: many chunks pointing at one compressed range multiply the work of a small
 * file (a bomb by overlap). No writer shares payloads between chunks, so overlap is refused.
 */
function checkPayloadOverlap(idx: ChunkIndex): void {
  const withData: number[] = [];
  for (let i = 0; i < idx.count; i++) if (idx.length[i] > 0) withData.push(i);
  let sorted = true;
  for (let k = 1; k < withData.length; k++) {
    if (idx.offset[withData[k]] < idx.offset[withData[k - 1]]) {
      sorted = false;
      break;
    }
  }
  if (!sorted) withData.sort((a, b) => idx.offset[a] - idx.offset[b]);
  for (let k = 1; k < withData.length; k++) {
    const a = withData[k - 1];
    const b = withData[k];
    if (idx.offset[b] < idx.offset[a] + idx.length[a]) {
      throw new DmgError(
        "CHUNK_RANGE",
        `table ${idx.table[b]} chunk ${idx.tableChunk[b]} payload at ${idx.offset[b]} overlaps that of table ${idx.table[a]} chunk ${idx.tableChunk[a]} [${idx.offset[a]}, ${idx.offset[a] + idx.length[a]})`,
        idx.offset[b],
        { table: idx.table[b], chunk: idx.tableChunk[b] },
      );
    }
  }
}

/** Index of the chunk holding `sector`, or -1 when no chunk does. Binary search. */
export function findChunk(idx: ChunkIndex, sector: number): number {
  let lo = 0;
  let hi = idx.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = idx.sector[mid];
    if (sector < s) hi = mid - 1;
    else if (sector >= s + idx.sectorCount[mid]) lo = mid + 1;
    else return mid;
  }
  return -1;
}
