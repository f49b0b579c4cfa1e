/**
 * The Apple Partition Map: a Driver Descriptor Map ("ER") in block 0 that gives the block
 * size, then one 512-byte `PM` entry at the start of each block from block 1, each saying how
 * many entries the map has. Every field is big-endian; starts and counts are in blocks.
 */
import { Cursor } from "../bytes/cursor.js";
import type { Finding } from "../core/errors.js";
import type { DiskRead } from "./mbr.js";

/** The Driver Descriptor Map's signature, "ER". */
export const DDM_SIGNATURE = 0x4552;
/** A map entry's signature, "PM". */
export const PM_SIGNATURE = 0x504d;
/** Size of the part of an entry that is read. */
export const PM_ENTRY_SIZE = 512;
/**
 * Most entries read. hdiutil writes 4 to 8 and reserves 63 blocks for the map; a count of
 * millions would have a reader fetch millions of blocks.
 */
export const MAX_APM_ENTRIES = 256;

/** One entry of the map. */
export interface ApmEntry {
  /** Entry number, from 1 (its block). */
  index: number;
  /** The map's entry count, as this entry states it. */
  mapEntries: number;
  /** First block of the partition. */
  startBlock: number;
  blockCount: number;
  name: string;
  type: string;
}

/** The map: the block size it counts in, and its entries. */
export interface ApmMap {
  blockSize: number;
  entries: ApmEntry[];
}

/** True when block 1 (at `sector1`) begins with `PM`. */
export function hasApmSignature(sector1: Uint8Array): boolean {
  return sector1.length >= 2 && ((sector1[0] << 8) | sector1[1]) === PM_SIGNATURE;
}

/**
 * The block size of the Driver Descriptor Map in `sector0`: its `sbBlkSize` when it has the
 * "ER" signature and a power of two from 512 to 4096 (CD-ROM maps count in 2048-byte blocks),
 * else 512 (maps written without a DDM count in 512-byte blocks).
 */
export function ddmBlockSize(sector0: Uint8Array): number {
  if (sector0.length < 4 || ((sector0[0] << 8) | sector0[1]) !== DDM_SIGNATURE) return 512;
  const size = (sector0[2] << 8) | sector0[3];
  return size === 512 || size === 1024 || size === 2048 || size === 4096 ? size : 512;
}

/** A C string of at most `n` bytes (Mac OS Roman; the ASCII range is what real maps use). */
function cString(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  // A loop, never a spread: the rule for every array read from a file (names are 32 bytes).
  let s = "";
  for (let i = 0; i < end; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

/** Parse one map entry (the caller has checked its signature). */
export function parseApmEntry(bytes: Uint8Array, index: number): ApmEntry {
  const c = new Cursor(bytes, 0, "APM entry", "PARTMAP_MALFORMED");
  c.skip(4); // signature, padding
  const mapEntries = c.u32();
  const startBlock = c.u32();
  const blockCount = c.u32();
  const name = cString(c.bytesN(32));
  const type = cString(c.bytesN(32));
  return { index, mapEntries, startBlock, blockCount, name, type };
}

/** A finding of the map: errors for broken structure. */
function broken(message: string): Finding {
  return { severity: "error", code: "PARTMAP_MALFORMED", message, offset: -1 };
}

/**
 * The entries of the map of a disk of `diskSize` bytes whose block 0 is `sector0`. The count
 * is the first entry's; it is bounded by {@link MAX_APM_ENTRIES} and the disk, every entry must
 * carry the signature and the same count (a map whose entries disagree is read up to where
 * they agree).
 */
export async function readApm(
  read: DiskRead,
  diskSize: number,
  sector0: Uint8Array,
  findings: Finding[],
): Promise<ApmMap> {
  const blockSize = ddmBlockSize(sector0);
  const entries: ApmEntry[] = [];
  let count = 1;
  let declared = 1;
  for (let i = 1; i <= count; i++) {
    const at = i * blockSize;
    if (at + PM_ENTRY_SIZE > diskSize) {
      findings.push(broken(`APM entry ${i} at disk offset ${at} is past the end of the disk`));
      break;
    }
    const bytes = await read(at, PM_ENTRY_SIZE);
    if (!hasApmSignature(bytes)) {
      findings.push(broken(`APM entry ${i} at disk offset ${at} has no PM signature`));
      break;
    }
    const e = parseApmEntry(bytes, i);
    if (i === 1) {
      // The count every other entry repeats; a hostile count would have us read millions.
      if (e.mapEntries === 0 || e.mapEntries > MAX_APM_ENTRIES) {
        findings.push(
          broken(
            `APM says it has ${e.mapEntries} entries (this reader accepts 1 to ${MAX_APM_ENTRIES})`,
          ),
        );
        if (e.mapEntries === 0) break;
      }
      declared = e.mapEntries;
      count = Math.min(declared, MAX_APM_ENTRIES);
    } else if (e.mapEntries !== declared) {
      // Entries that disagree on the count: the map stops at the first that does.
      findings.push(
        broken(`APM entry ${i} says the map has ${e.mapEntries} entries, entry 1 says ${declared}`),
      );
      break;
    }
    entries.push(e);
  }
  return { blockSize, entries };
}
