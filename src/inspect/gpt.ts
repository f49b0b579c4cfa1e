/**
 * The GUID Partition Table: an "EFI PART" header at LBA 1 (a backup at the disk's last LBA)
 * and an array of entries, each header and the array covered by a CRC32. Every field is
 * little-endian; LBAs count 512-byte sectors (the sector size of a UDIF disk).
 */

import { crc32 } from "../bytes/crc32.js";
import { Cursor } from "../bytes/cursor.js";
import type { Finding } from "../core/errors.js";
import type { DiskRead } from "./mbr.js";

/** Sector size of the LBAs. */
export const GPT_SECTOR = 512;
/** "EFI PART". */
export const GPT_SIGNATURE = "EFI PART";
/** Smallest header (UEFI 2.x's fields). */
export const GPT_MIN_HEADER = 92;
/** Offset of the header's CRC32 field (zeroed while the CRC is computed). */
export const GPT_HEADER_CRC = 16;
/**
 * Most entries read. Every tool writes 128; a count of millions times a large entry size would
 * have a reader fetch and checksum gigabytes.
 */
export const MAX_GPT_ENTRIES = 1024;
/** Largest entry size accepted (UEFI: 128 × 2^n; real ones are 128). */
export const MAX_GPT_ENTRY_SIZE = 4096;
/** Bytes of the entry array read at once. */
const PIECE = 64 * 1024;

/** The fields of a GPT header. */
export interface GptHeader {
  revision: number;
  headerSize: number;
  headerCrc: number;
  /** CRC32 of the header as read, CRC field zeroed. */
  computedCrc: number;
  currentLba: number;
  backupLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entrySize: number;
  entriesCrc: number;
}

/** One used entry of the array. */
export interface GptEntry {
  /** Entry number, from 1. */
  index: number;
  typeGuid: string;
  uniqueGuid: string;
  firstLba: number;
  lastLba: number;
  attributes: bigint;
  name: string;
}

/** A GUID as text: the first three fields are little-endian, the last two bytes in order. */
export function guidText(b: Uint8Array): string {
  const h = (i: number) => b[i].toString(16).padStart(2, "0");
  const run = (...is: number[]) => is.map(h).join("");
  return `${run(3, 2, 1, 0)}-${run(5, 4)}-${run(7, 6)}-${run(8, 9)}-${run(10, 11, 12, 13, 14, 15)}`.toUpperCase();
}

/** True when `sector` begins with "EFI PART". */
export function hasGptSignature(sector: Uint8Array): boolean {
  if (sector.length < 8) return false;
  for (let i = 0; i < 8; i++) if (sector[i] !== GPT_SIGNATURE.charCodeAt(i)) return false;
  return true;
}

/**
 * Parse the header in `sector` (one 512-byte sector holding the "EFI PART" signature).
 * Undefined when its header size is impossible (its CRC cannot even be computed).
 */
export function parseGptHeader(sector: Uint8Array): GptHeader | undefined {
  const c = new Cursor(sector, 0, "GPT header", "PARTMAP_MALFORMED");
  c.skip(8);
  const revision = c.u32le();
  const headerSize = c.u32le();
  // A header size past the sector would have the CRC run over bytes that are not the header.
  if (headerSize < GPT_MIN_HEADER || headerSize > GPT_SECTOR) return undefined;
  const headerCrc = c.u32le();
  c.skip(4);
  const copy = sector.slice(0, headerSize);
  copy.fill(0, GPT_HEADER_CRC, GPT_HEADER_CRC + 4);
  return {
    revision,
    headerSize,
    headerCrc,
    computedCrc: crc32(copy),
    currentLba: c.u64le("current LBA"),
    backupLba: c.u64le("backup LBA"),
    firstUsableLba: c.u64le("first usable LBA"),
    lastUsableLba: c.u64le("last usable LBA"),
    diskGuid: guidText(c.bytesN(16)),
    entriesLba: c.u64le("entry array LBA"),
    entryCount: c.u32le(),
    entrySize: c.u32le(),
    entriesCrc: c.u32le(),
  };
}

/**
 * Why the entry array of `h` cannot be read on a disk of `diskSectors` sectors, or undefined.
 * Each bound exists so that the array's size is checked before a byte of it is fetched.
 */
export function entryArrayProblem(h: GptHeader, diskSectors: number): string | undefined {
  // UEFI requires 128 × 2^n; any multiple of 8 from 128 is read, as Linux does.
  if (h.entrySize < 128 || h.entrySize % 8 !== 0 || h.entrySize > MAX_GPT_ENTRY_SIZE) {
    return `GPT entry size ${h.entrySize} is not a multiple of 8 from 128 to ${MAX_GPT_ENTRY_SIZE}`;
  }
  if (h.entryCount > MAX_GPT_ENTRIES) {
    return `GPT says it has ${h.entryCount} entries (this reader accepts up to ${MAX_GPT_ENTRIES})`;
  }
  const sectors = Math.ceil((h.entryCount * h.entrySize) / GPT_SECTOR);
  // The array may not overlap the protective MBR or the primary header, nor leave the disk.
  if (h.entriesLba < 2 || h.entriesLba + sectors > diskSectors) {
    return `GPT entry array at LBA ${h.entriesLba} (${sectors} sectors) is outside the ${diskSectors}-sector disk`;
  }
  return undefined;
}

/** The used entries of an array, and its CRC32. */
export interface GptEntries {
  entries: GptEntry[];
  crc: number;
}

/** A UTF-16LE name of `bytes`, up to its first NUL. */
function utf16Name(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const u = bytes[i] | (bytes[i + 1] << 8);
    if (u === 0) break;
    s += String.fromCharCode(u);
  }
  return s;
}

/** Parse one entry; undefined for an unused one (type GUID zero). */
export function parseGptEntry(bytes: Uint8Array, index: number): GptEntry | undefined {
  const c = new Cursor(bytes, 0, "GPT entry", "PARTMAP_MALFORMED");
  const type = c.bytesN(16);
  if (type.every((b) => b === 0)) return undefined;
  return {
    index,
    typeGuid: guidText(type),
    uniqueGuid: guidText(c.bytesN(16)),
    firstLba: c.u64le("first LBA"),
    lastLba: c.u64le("last LBA"),
    attributes: c.u64leBig(),
    name: utf16Name(c.bytesN(72)),
  };
}

/**
 * Read the entry array of `h` (checked by {@link entryArrayProblem} first) in pieces of at
 * most 64 KiB: its CRC32 and its used entries.
 */
export async function readGptEntries(read: DiskRead, h: GptHeader): Promise<GptEntries> {
  const total = h.entryCount * h.entrySize;
  const per = Math.floor(PIECE / h.entrySize) * h.entrySize;
  const entries: GptEntry[] = [];
  let crc = 0;
  for (let done = 0; done < total; done += per) {
    const bytes = await read(h.entriesLba * GPT_SECTOR + done, Math.min(per, total - done));
    crc = crc32(bytes, crc);
    for (let at = 0; at < bytes.length; at += h.entrySize) {
      const e = parseGptEntry(bytes.subarray(at, at + h.entrySize), (done + at) / h.entrySize + 1);
      if (e) entries.push(e);
    }
  }
  return { entries, crc };
}

/** A finding of the map. */
function finding(code: Finding["code"], message: string, severity: Finding["severity"]): Finding {
  return { severity, code, message, offset: -1 };
}

/**
 * Problems of the primary header `h` on a disk of `diskSectors` sectors, as findings: its
 * CRC, where it says it is, and a usable range that is empty or leaves the disk.
 */
export function headerFindings(h: GptHeader, diskSectors: number): Finding[] {
  const out: Finding[] = [];
  // A corrupted or edited header: firmware falls back to the backup.
  if (h.computedCrc !== h.headerCrc) {
    out.push(
      finding(
        "GPT_CRC",
        `GPT header CRC32 is 0x${hex32(h.computedCrc)}, the header says 0x${hex32(h.headerCrc)}`,
        "error",
      ),
    );
  }
  if (h.currentLba !== 1) {
    out.push(
      finding(
        "PARTMAP_MALFORMED",
        `GPT header at LBA 1 says it is at LBA ${h.currentLba}`,
        "error",
      ),
    );
  }
  if (h.firstUsableLba > h.lastUsableLba || h.lastUsableLba >= diskSectors) {
    out.push(
      finding(
        "PARTMAP_MALFORMED",
        `GPT usable range [${h.firstUsableLba}, ${h.lastUsableLba}] is empty or outside the ${diskSectors}-sector disk`,
        "error",
      ),
    );
  }
  return out;
}

/** `n` as eight hex digits. */
export function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * How the backup header disagrees with the primary `h` (undefined when it agrees). The
 * backup must be at the disk's last LBA, say so, point back at LBA 1, and repeat the disk
 * GUID, usable range, entry count, size and CRC; its own CRC must match.
 */
export async function backupProblem(
  read: DiskRead,
  h: GptHeader,
  diskSectors: number,
): Promise<string | undefined> {
  const last = diskSectors - 1;
  if (h.backupLba !== last) {
    return `the primary GPT header places its backup at LBA ${h.backupLba}, the disk's last LBA is ${last}`;
  }
  const sector = await read(last * GPT_SECTOR, GPT_SECTOR);
  if (!hasGptSignature(sector)) return `no backup GPT header at the last LBA (${last})`;
  const b = parseGptHeader(sector);
  if (!b) return `the backup GPT header at LBA ${last} has an impossible header size`;
  if (b.computedCrc !== b.headerCrc) return `the backup GPT header's CRC32 does not match`;
  const differ: string[] = [];
  if (b.currentLba !== last) differ.push(`it says it is at LBA ${b.currentLba}`);
  if (b.backupLba !== 1) differ.push(`it points to LBA ${b.backupLba} for the primary`);
  if (b.diskGuid !== h.diskGuid) differ.push("disk GUID");
  if (b.firstUsableLba !== h.firstUsableLba || b.lastUsableLba !== h.lastUsableLba) {
    differ.push("usable range");
  }
  if (b.entryCount !== h.entryCount || b.entrySize !== h.entrySize)
    differ.push("entry count or size");
  if (b.entriesCrc !== h.entriesCrc) differ.push("entry array CRC32");
  if (differ.length) return `the backup GPT header differs from the primary: ${differ.join(", ")}`;
  // The backup's own array: the same bounds as the primary's, and its CRC must match.
  const problem = entryArrayProblem(b, diskSectors);
  if (problem) return `backup: ${problem}`;
  const entries = await readGptEntries(read, b);
  if (entries.crc !== b.entriesCrc) return "the backup GPT entry array's CRC32 does not match";
  return undefined;
}
