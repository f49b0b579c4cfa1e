/**
 * FAT12, FAT16 and FAT32 boot sectors: the BIOS parameter block (BPB), little-endian, in the
 * partition's first sector. The FAT type is decided by the count of clusters, as Microsoft's
 * "FAT: General Overview of On-Disk Format" (1.03) prescribes, never by the type string.
 */
import {
  ascii,
  type FileSystemInfo,
  hasMagic,
  label,
  malformed,
  type Partition,
  pastEnd,
  powerOfTwo,
  result,
  view,
} from "./common.js";

const SECTOR_SIZES = new Set([512, 1024, 2048, 4096]);

/**
 * True when `head` looks like a FAT boot sector: an x86 jump (EB xx 90 or E9 xx xx), the
 * 0x55AA signature at 510, and either a sector size the BPB allows or a "FAT" type string.
 * Requiring both the jump and the signature keeps an MBR or a random sector from being taken
 * for a corrupted FAT volume.
 */
export function isFat(head: Uint8Array): boolean {
  if (head.length < 512) return false;
  const jump = (head[0] === 0xeb && head[2] === 0x90) || head[0] === 0xe9;
  if (!jump || head[510] !== 0x55 || head[511] !== 0xaa) return false;
  const bps = view(head).getUint16(11, true);
  return SECTOR_SIZES.has(bps) || hasMagic(head, 54, "FAT") || hasMagic(head, 82, "FAT");
}

/** The FAT boot sector of the partition, whose first bytes are `head`. */
export function probeFat(p: Partition, head: Uint8Array): FileSystemInfo {
  const info = result("unknown");
  const v = view(head);
  const at = (field: number) => p.start + field;
  const bps = v.getUint16(11, true);
  const spc = head[13];
  const reserved = v.getUint16(14, true);
  const fats = head[16];
  const rootEntries = v.getUint16(17, true);
  const total16 = v.getUint16(19, true);
  const fatSize16 = v.getUint16(22, true);
  const total32 = v.getUint32(32, true);
  const fatSize = fatSize16 !== 0 ? fatSize16 : v.getUint32(36, true);
  const totalSectors = total16 !== 0 ? total16 : total32;
  info.fields = {
    oem: ascii(head, 3, 8),
    bytesPerSector: bps,
    sectorsPerCluster: spc,
    reservedSectors: reserved,
    fatCount: fats,
    rootEntries,
    totalSectors,
    fatSectors: fatSize,
  };
  // Each BPB field below divides or multiplies the others: a zero or odd value gives a
  // cluster count (and so a FAT type) of nonsense, or a divide by zero in naive readers.
  const bad: Array<[string, number]> = [];
  if (!SECTOR_SIZES.has(bps))
    bad.push([`bytes per sector ${bps} is not 512, 1024, 2048 or 4096`, 11]);
  if (spc === 0 || spc > 128 || !powerOfTwo(spc))
    bad.push([`sectors per cluster ${spc} is not a power of two up to 128`, 13]);
  if (reserved === 0) bad.push(["reserved sectors is 0 (the boot sector itself is reserved)", 14]);
  if (fats === 0) bad.push(["FAT count is 0", 16]);
  if (totalSectors === 0) bad.push(["total sectors is 0", 19]);
  if (fatSize === 0) bad.push(["sectors per FAT is 0", 22]);
  if (bad.length > 0) {
    info.fields.signature = "FAT";
    for (const [m, field] of bad) malformed(info, m, at(field), "FAT");
    return info;
  }
  const rootSectors = Math.ceil((rootEntries * 32) / bps);
  const meta = reserved + fats * fatSize + rootSectors;
  const dataSectors = totalSectors - meta;
  const clusters = dataSectors > 0 ? Math.floor(dataSectors / spc) : 0;
  // FAT spec, "FAT Type Determination": by cluster count alone.
  info.type = clusters < 4085 ? "FAT12" : clusters < 65525 ? "FAT16" : "FAT32";
  info.fields.clusters = clusters;
  info.blockSize = bps * spc;
  info.totalBytes = totalSectors * bps;
  const labelAt = info.type === "FAT32" ? 71 : 43;
  const bootSig = head[info.type === "FAT32" ? 66 : 38];
  // The extended boot signature 0x29 says the serial number, label and type string exist.
  if (bootSig === 0x29) {
    const name = label(head, labelAt, 11);
    if (name !== undefined && name !== "NO NAME") info.label = name;
    info.fields.typeString = ascii(head, info.type === "FAT32" ? 82 : 54, 8).trimEnd();
  }
  if (info.totalBytes > p.length)
    malformed(
      info,
      pastEnd("the volume (total sectors x bytes per sector)", info.totalBytes, p.length),
      at(19),
    );
  if (dataSectors <= 0) {
    malformed(
      info,
      `the reserved sectors, FATs and root directory (${meta} sectors) fill the ${totalSectors}-sector volume`,
      at(14),
    );
    return info;
  }
  // A FAT must hold an entry for every cluster (+2 reserved): a shorter one leaves clusters
  // that no chain can reach, or sends a reader past the FAT into the data.
  const bits = info.type === "FAT12" ? 12 : info.type === "FAT16" ? 16 : 32;
  const entries = Math.floor((fatSize * bps * 8) / bits);
  if (entries < clusters + 2) {
    malformed(
      info,
      `a FAT of ${fatSize} sectors holds ${entries} entries, fewer than the ${clusters} clusters + 2`,
      at(22),
    );
  }
  // FAT32 keeps its root directory in clusters: a fixed root directory or a 16-bit FAT size
  // means the BPB belongs to a FAT12/16 volume whose counts were altered.
  if (info.type === "FAT32" && (rootEntries !== 0 || fatSize16 !== 0)) {
    malformed(
      info,
      "a FAT32 volume (by cluster count) has a FAT12/16 root directory or FAT size",
      at(17),
    );
  }
  return info;
}
