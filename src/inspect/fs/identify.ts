/**
 * Which file system a partition holds, from its superblock alone: a few KiB read at fixed
 * offsets, no tree walked, nothing mounted.
 */
import { DmgError } from "../../core/errors.js";
import { isApfs, probeApfs } from "./apfs.js";
import {
  type FileSystemInfo,
  malformed,
  type Partition,
  type ReadAt,
  readIn,
  result,
} from "./common.js";
import { isExfat, probeExfat } from "./exfat.js";
import { isFat, probeFat } from "./fat.js";
import { hfsSignature, probeHfs, probeHfsPlus } from "./hfs.js";
import { isIso9660, probeIso9660 } from "./iso9660.js";
import { isNtfs, probeNtfs } from "./ntfs.js";

export type { FileSystemInfo, FileSystemType, ReadAt } from "./common.js";

/** Bytes read at the partition's start: an HFS header ends at 1536, an APFS magic at 36. */
const HEAD_BYTES = 4096;

/**
 * Identify the file system of the partition at `start` (`length` bytes) of a disk read through
 * `read`, from its superblock: HFS+/HFSX (and HFS, with an embedded HFS+ volume), APFS,
 * FAT12/16/32, exFAT, NTFS or ISO 9660.
 *
 * Reads at most a few KiB (an APFS block of up to 64 KiB for its checksum), each inside the
 * partition. Every size the superblock states is checked against `length`; a superblock that
 * names a file system but is inconsistent gives that type (or "unknown" when it cannot be
 * known) with FS_MALFORMED or FS_CHECKSUM findings, never an exception. Errors of `read`
 * itself (a chunk that fails to decode) propagate.
 *
 * @param read reads bytes of the disk (`image.read`)
 * @param start the partition's first byte on the disk
 * @param length the partition's length in bytes
 */
export async function identifyFileSystem(
  read: ReadAt,
  start: number,
  length: number,
): Promise<FileSystemInfo> {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0) {
    throw new DmgError(
      "INVALID_ARGUMENT",
      `identifyFileSystem: start ${start} and length ${length} must be non-negative integers`,
    );
  }
  return exact(await probe({ read, start, length }), start);
}

async function probe(p: Partition): Promise<FileSystemInfo> {
  const head = await readIn(p, 0, Math.min(p.length, HEAD_BYTES));
  if (head === undefined) return result("unknown");
  // Most specific magic first: APFS and HFS signatures are exact; exFAT and NTFS name
  // themselves where a FAT BPB's OEM name would be, so they are tested before FAT.
  if (isApfs(head)) return probeApfs(p, head);
  const hfs = hfsSignature(head);
  if (hfs === 0x4244) return probeHfs(p);
  if (hfs !== 0) return probeHfsPlus(p, 0, p.length);
  if (isExfat(head)) return probeExfat(p, head);
  if (isNtfs(head)) return probeNtfs(p, head);
  if (isFat(head)) return probeFat(p, head);
  if (await isIso9660(p)) return probeIso9660(p);
  return result("unknown");
}

/**
 * `info` with only exact sizes: a count times a unit a superblock chooses (2^32 blocks of
 * 2^27 bytes) can pass 2^53, where a number no longer holds bytes exactly (found by fuzzing).
 * Such a size is dropped, and said to be past any partition.
 */
function exact(info: FileSystemInfo, start: number): FileSystemInfo {
  if (info.totalBytes !== undefined && !Number.isSafeInteger(info.totalBytes)) {
    malformed(info, "its size (a count times a unit) is past 2^53 bytes, past any disk", start);
    info.totalBytes = undefined;
  }
  if (info.blockSize !== undefined && !Number.isSafeInteger(info.blockSize)) {
    info.blockSize = undefined;
  }
  return info;
}
