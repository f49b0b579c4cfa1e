/**
 * The chunk index: every data-bearing chunk of every table, sorted by virtual-disk sector,
 * as parallel typed arrays (a 1,000,000-chunk image costs ~44 MB here, not an object each).
 */

import { DmgError } from "../core/errors.js";
import { type Budget, checkBudget } from "../core/limits.js";
import type { Work } from "../core/work.js";
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
export async function buildChunkIndex(
  tables: LocatedTable[],
  koly: Koly,
  budget: Budget,
  work: Work,
): Promise<ChunkIndex> {
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
  checkBudget(budget, "maxChunks", total);
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
  // Counted across tables: 512 tables of 4,000 entries must give the loop its turns too.
  let steps = 0;
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
      // Two million entries take ~100 ms: give the event loop its turns.
      if ((++steps & PACE_MASK) === 0) await work.pace(fileOffset);
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
          const site = { offset, ...where, subject: `table ${ti} chunk ${i}` };
          checkBudget(budget, "maxChunkCompressedBytes", length, site);
          checkBudget(budget, "maxChunkSectors", sectors, site);
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
  checkBudget(budget, "maxImageBytes", next * SECTOR_SIZE);
  await checkPayloadOverlap(idx, work);
  return idx;
}

/** Loops over entries pace their work once every this many (plus one) steps. */
const PACE_MASK = 0xfff;

/**
 * Attack class D20: many chunks pointing at one compressed range multiply the work of a small
 * file (a bomb by overlap). No writer shares payloads between chunks, so overlap is refused.
 *
 * Payload ranges `[start, end)` are pairwise disjoint exactly when, with the starts sorted and
 * the ends sorted apart, every start (but the first) is at or past the end before it: where two
 * ranges overlap, some point has two more starts than ends before it. In disk order, payloads
 * of honest images lie in file order, so both arrays are usually sorted already; otherwise they
 * are sorted in slices that give the event loop its turns (an attacker's two million unsorted
 * chunks must not hold it for a second).
 */
async function checkPayloadOverlap(idx: ChunkIndex, work: Work): Promise<void> {
  // Payloads in file order, each past the end of the one before: disjoint, nothing to sort
  // (every honest image; the arrays below would cost 32 MB at two million chunks).
  let n = 0;
  let inOrder = true;
  for (let i = 0, end = 0; i < idx.count; i++) {
    if (idx.length[i] === 0) continue;
    n++;
    if (idx.offset[i] < end) inOrder = false;
    end = idx.offset[i] + idx.length[i];
  }
  if (inOrder) return;
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  for (let i = 0, k = 0; i < idx.count; i++) {
    if (idx.length[i] === 0) continue;
    starts[k] = idx.offset[i];
    ends[k++] = idx.offset[i] + idx.length[i];
  }
  await pacedSort(starts, work);
  await pacedSort(ends, work);
  for (let k = 1; k < n; k++) {
    if (starts[k] < ends[k - 1]) throw overlapError(idx, starts[k]);
  }
}

/** The CHUNK_RANGE error for two payloads that both hold file offset `at` (one starts there). */
function overlapError(idx: ChunkIndex, at: number): DmgError {
  const holders: number[] = [];
  for (let i = 0; i < idx.count && holders.length < 2; i++) {
    if (idx.length[i] > 0 && idx.offset[i] <= at && at < idx.offset[i] + idx.length[i]) {
      holders.push(i);
    }
  }
  // The one that starts at `at` (or the later one) is named as the offender.
  const [a, b] = idx.offset[holders[1]] === at ? holders : [holders[1], holders[0]];
  return new DmgError(
    "CHUNK_RANGE",
    `table ${idx.table[b]} chunk ${idx.tableChunk[b]} payload at ${idx.offset[b]} overlaps that of table ${idx.table[a]} chunk ${idx.tableChunk[a]} [${idx.offset[a]}, ${idx.offset[a] + idx.length[a]})`,
    idx.offset[b],
    { table: idx.table[b], chunk: idx.tableChunk[b] },
  );
}

/** Elements sorted natively at once: a few milliseconds of work. */
const SORT_SLICE = 1 << 16;

/**
 * Sort `a` ascending, giving the event loop a turn between slices: a check in O(n) when it is
 * sorted already; else slices sorted natively, then merged pairwise.
 */
export async function pacedSort(a: Float64Array, work: Work): Promise<void> {
  let sorted = true;
  for (let k = 1; k < a.length; k++) {
    if (a[k] < a[k - 1]) {
      sorted = false;
      break;
    }
  }
  if (sorted) return;
  for (let lo = 0; lo < a.length; lo += SORT_SLICE) {
    a.subarray(lo, lo + SORT_SLICE).sort();
    await work.pace();
  }
  let from: Float64Array = a;
  let to: Float64Array = new Float64Array(a.length);
  for (let width = SORT_SLICE; width < a.length; width *= 2) {
    for (let lo = 0; lo < a.length; lo += 2 * width) {
      const mid = Math.min(lo + width, a.length);
      const hi = Math.min(lo + 2 * width, a.length);
      let i = lo;
      let j = mid;
      for (let k = lo; k < hi; k++) {
        to[k] = j >= hi || (i < mid && from[i] <= from[j]) ? from[i++] : from[j++];
        if ((k & 0xffff) === 0xffff) await work.pace();
      }
    }
    [from, to] = [to, from];
  }
  if (from !== a) a.set(from);
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
