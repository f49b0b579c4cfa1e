/**
 * The partition map of the virtual disk: which map it has (GPT over a protective MBR, the
 * Apple Partition Map, or an MBR), its partitions in bytes with a readable type, and what is
 * wrong with it as findings (the map of a hostile image is data to describe, never a reason
 * to throw). Each partition's file system is identified from its superblock.
 */
import { DmgError, type Finding } from "../core/errors.js";
import { type ApmEntry, hasApmSignature, readApm } from "./apm.js";
import { type FileSystemInfo, identifyFileSystem } from "./fs/identify.js";
import {
  backupProblem,
  entryArrayProblem,
  GPT_SECTOR,
  type GptEntry,
  hasGptSignature,
  headerFindings,
  hex32,
  parseGptHeader,
  readGptEntries,
} from "./gpt.js";
import {
  type DiskRead,
  hasMbrSignature,
  MBR_EXTENDED,
  MBR_SECTOR,
  type MbrEntry,
  parseMbrEntries,
  readExtended,
} from "./mbr.js";

export type { DiskRead } from "./mbr.js";

/** The kinds of partition map. */
export type PartitionScheme = "GPT" | "APM" | "MBR" | "none";

/** One partition of the map. */
export interface Partition {
  /** Entry number in its map: GPT and APM entries from 1; MBR 1-4 primary, 5 and on logical. */
  index: number;
  scheme: Exclude<PartitionScheme, "none">;
  /** The type as the map stores it: a GUID (GPT), "0x0c" (MBR), a string such as "Apple_HFS" (APM). */
  type: string;
  /** A readable name of the type, for the common ones ("EFI System", "Apple_APFS", "FAT32"). */
  typeName?: string;
  /** The partition's name (GPT, APM; empty for MBR), as stored: sanitize before showing it. */
  name: string;
  /** First byte on the disk. */
  start: number;
  /** Length in bytes. */
  length: number;
  /** GPT: the partition's unique GUID. */
  guid?: string;
  /** GPT: the attribute bits, as hex. */
  attributes?: string;
  /** MBR: the boot flag is set. */
  bootable?: boolean;
  /** What its superblock says (undefined when it lies outside the disk). */
  fileSystem?: FileSystemInfo;
}

/** The partition map of a disk. */
export interface PartitionMap {
  scheme: PartitionScheme;
  /** GPT: the disk GUID. */
  diskGuid?: string;
  /** The block size the map counts in (512, or an APM's Driver Descriptor Map's). */
  blockSize: number;
  partitions: Partition[];
  /** What is wrong with the map (PARTMAP_MALFORMED, GPT_CRC, PARTITION_OVERLAP, ...). */
  findings: Finding[];
  /** With no map: what the disk as a whole holds (a partition image's volume). */
  fileSystem?: FileSystemInfo;
}

/** A UDIF table as far as the map check needs it. */
export interface TableRange {
  index: number;
  name: string;
  firstSector: number;
  sectorCount: number;
}

/** Readable names of the common GPT type GUIDs. */
const GPT_TYPES: Record<string, string> = {
  "C12A7328-F81F-11D2-BA4B-00A0C93EC93B": "EFI System",
  "48465300-0000-11AA-AA11-00306543ECAC": "Apple_HFS",
  "7C3457EF-0000-11AA-AA11-00306543ECAC": "Apple_APFS",
  "426F6F74-0000-11AA-AA11-00306543ECAC": "Apple_Boot",
  "55465300-0000-11AA-AA11-00306543ECAC": "Apple_UFS",
  "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft Basic Data",
  "E3C9E316-0B5C-4DB8-817D-F92DF00215AE": "Microsoft Reserved",
  "0FC63DAF-8483-4772-8E79-3D69D8477DE4": "Linux",
  "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
  "21686148-6449-6E6F-744E-656564454649": "BIOS boot",
};

/** Readable names of the common MBR type codes. */
const MBR_TYPES: Record<number, string> = {
  1: "FAT12",
  4: "FAT16",
  5: "Extended",
  6: "FAT16",
  7: "NTFS/exFAT",
  11: "FAT32",
  12: "FAT32 (LBA)",
  14: "FAT16 (LBA)",
  15: "Extended (LBA)",
  130: "Linux swap",
  131: "Linux",
  133: "Linux extended",
  168: "Apple_UFS",
  171: "Apple_Boot",
  175: "Apple_HFS",
  238: "GPT protective",
  239: "EFI System",
};

/** Bytes of the start of the disk read to tell the maps apart (the MBR and LBA 1). */
const HEAD = 2 * MBR_SECTOR;

/** A finding of the map. */
function note(code: Finding["code"], message: string, severity: Finding["severity"]): Finding {
  return { severity, code, message, offset: -1 };
}

/**
 * Read the partition map of a disk of `diskSize` bytes through `read`, check it against the
 * disk and against the image's `tables`, and identify each partition's file system. Problems
 * of the map are findings of the result; errors of `read` itself (a chunk that fails to
 * decode, a budget) propagate.
 */
export async function readPartitionMap(
  read: DiskRead,
  diskSize: number,
  tables: readonly TableRange[] = [],
): Promise<PartitionMap> {
  const map: PartitionMap = { scheme: "none", blockSize: 512, partitions: [], findings: [] };
  const diskSectors = Math.floor(diskSize / MBR_SECTOR);
  if (diskSize < HEAD) return map;
  const head = await read(0, HEAD);
  const sector0 = head.subarray(0, MBR_SECTOR);
  const sector1 = head.subarray(MBR_SECTOR, HEAD);
  try {
    if (hasGptSignature(sector1)) await readGpt(map, read, sector1, diskSectors);
    else if (hasApmSignature(sector1) || apmWithBigBlocks(sector0, diskSize)) {
      await readApmMap(map, read, sector0, diskSize);
    } else if (hasMbrSignature(sector0)) await readMbr(map, read, sector0, diskSectors);
  } catch (e) {
    // A field past 2^53 or a structure cut short: the map is broken, the image is not.
    if (
      !(e instanceof DmgError) ||
      (e.code !== "PARTMAP_MALFORMED" && e.code !== "FIELD_TOO_LARGE")
    ) {
      throw e;
    }
    map.findings.push(note("PARTMAP_MALFORMED", e.message, "error"));
  }
  checkRanges(map, diskSize);
  checkOverlaps(map);
  if (map.scheme !== "none") checkTables(map, tables);
  await identifyAll(map, read, diskSize);
  return map;
}

/** An APM whose DDM counts in blocks larger than 512: its first entry is past sector 1. */
function apmWithBigBlocks(sector0: Uint8Array, diskSize: number): boolean {
  if (sector0[0] !== 0x45 || sector0[1] !== 0x52) return false;
  const size = (sector0[2] << 8) | sector0[3];
  return size > 512 && size <= 4096 && 2 * size <= diskSize;
}

async function readGpt(
  map: PartitionMap,
  read: DiskRead,
  sector1: Uint8Array,
  diskSectors: number,
): Promise<void> {
  map.scheme = "GPT";
  const h = parseGptHeader(sector1);
  if (!h) {
    map.findings.push(note("PARTMAP_MALFORMED", "GPT header size is not from 92 to 512", "error"));
    return;
  }
  map.diskGuid = h.diskGuid;
  for (const f of headerFindings(h, diskSectors)) map.findings.push(f);
  const problem = entryArrayProblem(h, diskSectors);
  if (problem) {
    map.findings.push(note("PARTMAP_MALFORMED", problem, "error"));
    return;
  }
  const { entries, crc } = await readGptEntries(read, h);
  // A corrupted array, or one edited without its CRC: the entries are listed, and doubted.
  if (crc !== h.entriesCrc) {
    map.findings.push(
      note(
        "GPT_CRC",
        `GPT entry array CRC32 is 0x${hex32(crc)}, the header says 0x${hex32(h.entriesCrc)}`,
        "error",
      ),
    );
  }
  for (const e of entries) addGptEntry(map, e, h.firstUsableLba, h.lastUsableLba);
  const backup = await backupProblem(read, h, diskSectors);
  if (backup) map.findings.push(note("GPT_BACKUP_MISMATCH", backup, "warning"));
}

function addGptEntry(map: PartitionMap, e: GptEntry, first: number, last: number): void {
  if (e.lastLba < e.firstLba) {
    map.findings.push(
      note(
        "PARTMAP_MALFORMED",
        `GPT entry ${e.index} ends (LBA ${e.lastLba}) before it starts (LBA ${e.firstLba})`,
        "error",
      ),
    );
    return;
  }
  // Outside the usable range: over the headers or the entry arrays.
  if (e.firstLba < first || e.lastLba > last) {
    map.findings.push(
      note(
        "PARTITION_OUT_OF_RANGE",
        `GPT entry ${e.index} [LBA ${e.firstLba}, ${e.lastLba}] is outside the usable range [${first}, ${last}]`,
        "warning",
      ),
    );
  }
  const start = e.firstLba * GPT_SECTOR;
  const length = (e.lastLba - e.firstLba + 1) * GPT_SECTOR;
  // LBAs up to 2^53 - 1 are exact, their byte offsets are not: such an entry lies far past
  // any disk (reported as out of range above) and is listed by nothing (found by fuzzing).
  if (!Number.isSafeInteger(start + length)) return;
  map.partitions.push({
    index: e.index,
    scheme: "GPT",
    type: e.typeGuid,
    typeName: GPT_TYPES[e.typeGuid],
    name: e.name,
    start,
    length,
    guid: e.uniqueGuid,
    attributes: `0x${e.attributes.toString(16).padStart(16, "0")}`,
  });
}

async function readApmMap(
  map: PartitionMap,
  read: DiskRead,
  sector0: Uint8Array,
  diskSize: number,
): Promise<void> {
  map.scheme = "APM";
  const apm = await readApm(read, diskSize, sector0, map.findings);
  map.blockSize = apm.blockSize;
  for (const e of apm.entries) addApmEntry(map, e, apm.blockSize);
}

function addApmEntry(map: PartitionMap, e: ApmEntry, blockSize: number): void {
  map.partitions.push({
    index: e.index,
    scheme: "APM",
    type: e.type,
    typeName: e.type,
    name: e.name,
    start: e.startBlock * blockSize,
    length: e.blockCount * blockSize,
  });
}

async function readMbr(
  map: PartitionMap,
  read: DiskRead,
  sector0: Uint8Array,
  diskSectors: number,
): Promise<void> {
  const entries = parseMbrEntries(sector0);
  // 0x55AA over boot code that is no table: a volume without a map (a FAT "superfloppy").
  if (!entries) return;
  map.scheme = "MBR";
  let extended = 0;
  for (const e of entries) {
    if (e.type === 0 || e.sectors === 0) continue;
    map.partitions.push(mbrPartition(e));
    // One extended container is followed (as every reader does); others are listed only.
    if (MBR_EXTENDED.has(e.type) && extended++ === 0) {
      for (const l of await readExtended(read, diskSectors, e, map.findings)) {
        map.partitions.push(mbrPartition(l));
      }
    }
  }
}

function mbrPartition(e: MbrEntry): Partition {
  return {
    index: e.index,
    scheme: "MBR",
    type: `0x${e.type.toString(16).padStart(2, "0")}`,
    typeName: MBR_TYPES[e.type],
    name: "",
    start: e.firstLba * MBR_SECTOR,
    length: e.sectors * MBR_SECTOR,
    bootable: e.status === 0x80,
  };
}

/** An extended container holds its logical partitions: it is not one itself. */
function isContainer(p: Partition): boolean {
  return p.scheme === "MBR" && MBR_EXTENDED.has(Number.parseInt(p.type, 16));
}

/** Partitions that end past the disk (a truncated disk, or a map pointing past it). */
function checkRanges(map: PartitionMap, diskSize: number): void {
  for (const p of map.partitions) {
    if (p.start + p.length > diskSize) {
      map.findings.push(
        note(
          "PARTITION_OUT_OF_RANGE",
          `${p.scheme} partition ${p.index} [${p.start}, ${p.start + p.length}) ends past the ${diskSize}-byte disk`,
          "warning",
        ),
      );
    }
  }
}

/** Most overlap findings: a map of 1024 copies of one entry says so in a few lines. */
const MAX_OVERLAP_NOTES = 16;

/**
 * Partitions that share bytes: two readers could see two different volumes in them. Sorted by
 * start, each compared with the furthest end before it (n log n, not n²).
 */
function checkOverlaps(map: PartitionMap): void {
  const parts = map.partitions
    .filter((p) => p.length > 0 && !isContainer(p))
    .sort((a, b) => a.start - b.start || a.index - b.index);
  let reach: Partition | undefined;
  let notes = 0;
  for (const p of parts) {
    if (reach && p.start < reach.start + reach.length && notes++ < MAX_OVERLAP_NOTES) {
      map.findings.push(
        note(
          "PARTITION_OVERLAP",
          `${p.scheme} partition ${p.index} [${p.start}, ${p.start + p.length}) overlaps partition ${reach.index} [${reach.start}, ${reach.start + reach.length})`,
          "warning",
        ),
      );
    }
    if (!reach || p.start + p.length > reach.start + reach.length) reach = p;
  }
}

/** Table types that name the map's own structures or free space, not a partition. */
const META_TYPES = new Set([
  "MBR",
  "DDM",
  "Apple_Free",
  "Primary GPT Header",
  "Primary GPT Table",
  "Backup GPT Header",
  "Backup GPT Table",
]);

/** The type a UDIF table's name gives in parentheses: "disk image (Apple_HFS : 2)". */
export function tableType(name: string): string | undefined {
  const m = /\(([^():]+) : \d+\)$/.exec(name);
  return m ? m[1].trim() : undefined;
}

/** A family of types that both hdiutil's names and the map's types can be reduced to. */
function family(type: string): string | undefined {
  const t = type.toUpperCase();
  if (t.includes("APFS") || t === "7C3457EF-0000-11AA-AA11-00306543ECAC") return "apfs";
  if (/HFS/.test(t) || t === "48465300-0000-11AA-AA11-00306543ECAC") return "hfs";
  if (/FAT.?32/.test(t)) return "fat32";
  if (/FAT.?16/.test(t)) return "fat16";
  if (/FAT.?12/.test(t)) return "fat12";
  if (t.includes("EFI") || t === "C12A7328-F81F-11D2-BA4B-00A0C93EC93B") return "efi";
  return undefined;
}

/**
 * Tables named for a partition (`... (Apple_HFS : 2)`, the type and hdiutil's number in
 * parentheses) whose sectors are not a partition of the map of that type: the tables and the
 * map tell two stories of the disk, and a reader trusting one sees other data than one
 * trusting the other.
 */
function checkTables(map: PartitionMap, tables: readonly TableRange[]): void {
  for (const t of tables) {
    const type = tableType(t.name);
    if (type === undefined || META_TYPES.has(type)) continue;
    const start = t.firstSector * MBR_SECTOR;
    const length = t.sectorCount * MBR_SECTOR;
    const p = map.partitions.find((q) => q.start === start && q.length === length);
    const want = family(type);
    const got = p && family(p.typeName ?? p.type);
    if (p && (want === undefined || got === undefined || want === got)) continue;
    map.findings.push(
      note(
        "TABLE_PARTITION_MISMATCH",
        p
          ? `table ${t.index} is named for a ${type} partition; the ${map.scheme} partition ${p.index} at its sectors has type ${p.typeName ?? p.type}`
          : `table ${t.index} is named for a ${type} partition, but no ${map.scheme} partition covers exactly its sectors [${t.firstSector}, ${t.firstSector + t.sectorCount})`,
        "warning",
      ),
    );
  }
}

/** Identify the file system of each partition inside the disk (or of the whole disk). */
async function identifyAll(map: PartitionMap, read: DiskRead, diskSize: number): Promise<void> {
  if (map.scheme === "none") {
    map.fileSystem = await identifyFileSystem(read, 0, diskSize);
    return;
  }
  for (const p of map.partitions) {
    if (p.length === 0 || p.start + p.length > diskSize || isContainer(p)) continue;
    if (p.type === "Apple_Free" || p.type === "Apple_partition_map") continue;
    p.fileSystem = await identifyFileSystem(read, p.start, p.length);
  }
}

/**
 * Add the findings of the disk's partition map (from `inspect`, `image.partitions()`) and of
 * its partitions' file systems through `add`. An error reading the disk that belongs to a chunk
 * is left out: the chunk check reports it.
 */
export async function collectPartitionFindings(
  inspect: () => Promise<PartitionMap>,
  add: (f: Finding) => void,
): Promise<void> {
  let map: PartitionMap;
  try {
    map = await inspect();
  } catch (e) {
    // A deadline ends the whole validation: the caller reports it once.
    const stop = ["ABORTED", "INVALID_ARGUMENT", "BUDGET_TIME"];
    if (!(e instanceof DmgError) || stop.includes(e.code)) throw e;
    if (e.chunk === undefined)
      add({ severity: "error", code: e.code, message: e.message, offset: e.offset });
    return;
  }
  for (const f of map.findings) add(f);
  for (const p of map.partitions) for (const f of p.fileSystem?.findings ?? []) add(f);
  for (const f of map.fileSystem?.findings ?? []) add(f);
}
