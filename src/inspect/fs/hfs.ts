/**
 * HFS+ and HFSX volume headers, and the HFS master directory block (with the HFS wrapper that
 * older Mac OS used to embed an HFS+ volume). Both sit 1024 bytes into the partition and are
 * big-endian (Apple TN1150, "HFS Plus Volume Format"; Inside Macintosh: Files, 2-60).
 */
import {
  type FileSystemInfo,
  label,
  malformed,
  type Partition,
  pastEnd,
  powerOfTwo,
  readIn,
  result,
  view,
} from "./common.js";

/** Where the volume header or master directory block starts in the partition. */
export const HFS_HEADER_OFFSET = 1024;
/** Bytes of the HFS+ volume header. */
const HFSPLUS_HEADER_SIZE = 512;
/** Bytes of the HFS master directory block that are read. */
const MDB_SIZE = 162;

const SIG_HFSPLUS = 0x482b; // "H+"
const SIG_HFSX = 0x4858; // "HX"
const SIG_HFS = 0x4244; // "BD"

/** The signature at offset 1024 of `head` (the partition's first bytes), or 0. */
export function hfsSignature(head: Uint8Array): number {
  if (head.length < HFS_HEADER_OFFSET + 2) return 0;
  const sig = view(head).getUint16(HFS_HEADER_OFFSET);
  return sig === SIG_HFSPLUS || sig === SIG_HFSX || sig === SIG_HFS ? sig : 0;
}

/**
 * The HFS+ or HFSX volume header at `base` + 1024 of the partition (base is 0, or where an HFS
 * wrapper embeds the volume), checked against `limit`, the bytes of the partition from `base`.
 */
export async function probeHfsPlus(
  p: Partition,
  base: number,
  limit: number,
): Promise<FileSystemInfo> {
  const b = await readIn(p, base + HFS_HEADER_OFFSET, HFSPLUS_HEADER_SIZE);
  const info = result("unknown");
  if (b === undefined) return info;
  const v = view(b);
  const sig = v.getUint16(0);
  if (sig !== SIG_HFSPLUS && sig !== SIG_HFSX) return info;
  info.type = sig === SIG_HFSX ? "HFSX" : "HFS+";
  const at = (field: number) => p.start + base + HFS_HEADER_OFFSET + field;
  const version = v.getUint16(2);
  const blockSize = v.getUint32(40);
  const totalBlocks = v.getUint32(44);
  const freeBlocks = v.getUint32(48);
  info.fields = {
    signature: info.type === "HFSX" ? "HX" : "H+",
    version,
    attributes: v.getUint32(4),
    fileCount: v.getUint32(32),
    folderCount: v.getUint32(36),
    blockSize,
    totalBlocks,
    freeBlocks,
  };
  // TN1150: version 4 for HFS+, 5 for HFSX. Another value is a header from another format or
  // a corrupted one, which Apple's fsck refuses to mount.
  const wanted = info.type === "HFSX" ? 5 : 4;
  if (version !== wanted) malformed(info, `version is ${version}, not ${wanted}`, at(2));
  // Block size: a power of two of at least 512. A block size of 0 or 3 would make every
  // extent's byte offset meaningless (and a divide by zero in naive readers).
  if (blockSize < 512 || !powerOfTwo(blockSize)) {
    malformed(info, `block size ${blockSize} is not a power of two of at least 512`, at(40));
    return info;
  }
  info.blockSize = blockSize;
  const total = totalBlocks * blockSize;
  info.totalBytes = total;
  // A volume larger than its partition: extents would point past the partition into the next
  // one, or past the disk (a hostile header's way to make a reader leave its partition).
  if (total > limit)
    malformed(info, pastEnd("the volume (total blocks x block size)", total, limit), at(44));
  if (totalBlocks === 0) malformed(info, "total blocks is 0", at(44));
  if (freeBlocks > totalBlocks) {
    malformed(info, `free blocks ${freeBlocks} exceed total blocks ${totalBlocks}`, at(48));
  }
  // The catalog file holds every file and folder: a volume without one cannot be read, and its
  // first extent must lie inside the volume (the extents of a hostile header point anywhere).
  const catalogBlocks = v.getUint32(272 + 12);
  const catalogStart = v.getUint32(272 + 16);
  const catalogCount = v.getUint32(272 + 20);
  info.fields.catalogBlocks = catalogBlocks;
  if (catalogBlocks === 0 || catalogCount === 0) {
    malformed(info, "the catalog file has no blocks", at(272 + 12));
  } else if (catalogStart + catalogCount > totalBlocks) {
    malformed(
      info,
      `the catalog file's first extent (blocks ${catalogStart}+${catalogCount}) lies past the volume's ${totalBlocks} blocks`,
      at(272 + 16),
    );
  }
  return info;
}

/**
 * The HFS master directory block at 1024 of the partition; when it wraps an HFS+ volume (the
 * embedded signature is "H+"), the embedded volume's header, with the wrapper in its fields.
 */
export async function probeHfs(p: Partition): Promise<FileSystemInfo> {
  const b = await readIn(p, HFS_HEADER_OFFSET, MDB_SIZE);
  const info = result("unknown");
  if (b === undefined || view(b).getUint16(0) !== SIG_HFS) return info;
  info.type = "HFS";
  const v = view(b);
  const at = (field: number) => p.start + HFS_HEADER_OFFSET + field;
  const allocBlocks = v.getUint16(18);
  const allocSize = v.getUint32(20);
  const firstBlock = v.getUint16(28); // drAlBlSt, in 512-byte sectors
  const freeBlocks = v.getUint16(34);
  const nameLength = b[36];
  info.fields = {
    signature: "BD",
    allocationBlocks: allocBlocks,
    blockSize: allocSize,
    freeBlocks,
  };
  // Inside Macintosh: the name is a Str27. A longer length byte reads into the next fields.
  if (nameLength > 27) malformed(info, `volume name length ${nameLength} exceeds 27`, at(36));
  else {
    const name = label(b, 37, nameLength);
    if (name !== undefined) info.label = name;
  }
  // Allocation blocks are whole 512-byte sectors; 0 makes every block offset 0.
  if (allocSize === 0 || allocSize % 512 !== 0) {
    malformed(info, `allocation block size ${allocSize} is not a non-zero multiple of 512`, at(20));
    return info;
  }
  info.blockSize = allocSize;
  const total = firstBlock * 512 + allocBlocks * allocSize;
  info.totalBytes = total;
  if (total > p.length) malformed(info, pastEnd("the volume", total, p.length), at(18));
  if (freeBlocks > allocBlocks) {
    malformed(info, `free blocks ${freeBlocks} exceed allocation blocks ${allocBlocks}`, at(34));
  }
  if (v.getUint16(124) !== SIG_HFSPLUS) return info;
  return wrapped(p, info, v, firstBlock, allocSize, allocBlocks);
}

/** The HFS+ volume a wrapper embeds (drEmbedExtent), or the wrapper with a finding. */
async function wrapped(
  p: Partition,
  wrapper: FileSystemInfo,
  v: DataView,
  firstBlock: number,
  allocSize: number,
  allocBlocks: number,
): Promise<FileSystemInfo> {
  const start = v.getUint16(126);
  const count = v.getUint16(128);
  const base = firstBlock * 512 + start * allocSize;
  const size = count * allocSize;
  // The embedded extent must lie inside the wrapper's blocks and the partition: otherwise a
  // wrapper could send the probe (and any reader following it) to another partition.
  if (count === 0 || start + count > allocBlocks || base + size > p.length) {
    malformed(
      wrapper,
      `the embedded HFS+ volume (blocks ${start}+${count} of ${allocSize} bytes) lies outside the wrapper or partition`,
      p.start + HFS_HEADER_OFFSET + 126,
    );
    return wrapper;
  }
  const inner = await probeHfsPlus(p, base, size);
  if (inner.type === "unknown") {
    malformed(
      wrapper,
      `the wrapper names an embedded HFS+ volume at ${base}, which has no H+ header`,
      p.start + base,
    );
    return wrapper;
  }
  inner.fields.wrapper = "HFS";
  inner.fields.embeddedOffset = base;
  if (wrapper.label !== undefined) inner.label = wrapper.label;
  inner.findings = wrapper.findings.concat(inner.findings);
  return inner;
}
