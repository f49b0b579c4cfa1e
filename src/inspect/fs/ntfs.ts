/**
 * The NTFS boot sector: "NTFS    " at offset 3 and a BIOS parameter block, little-endian
 * (the layout Microsoft documents in "NTFS Technical Reference", and Linux's ntfs-3g uses).
 */
import {
  type FileSystemInfo,
  hasMagic,
  le64,
  malformed,
  type Partition,
  pastEnd,
  powerOfTwo,
  result,
  view,
} from "./common.js";

/** True when `head` holds the NTFS OEM id at offset 3. */
export function isNtfs(head: Uint8Array): boolean {
  return head.length >= 512 && hasMagic(head, 3, "NTFS    ");
}

/** The NTFS boot sector of the partition, whose first bytes are `head`. */
export function probeNtfs(p: Partition, head: Uint8Array): FileSystemInfo {
  const info = result("NTFS");
  const v = view(head);
  const at = (field: number) => p.start + field;
  const bps = v.getUint16(11, true);
  const rawSpc = head[13];
  // Sectors per cluster: a count, or (above 0x80) a negative power of two, as Windows writes
  // for clusters past 64 KiB.
  const spc = rawSpc > 0x80 ? 2 ** (256 - rawSpc) : rawSpc;
  const totalSectors = le64(v, 40);
  const mftCluster = le64(v, 48);
  const mirrorCluster = le64(v, 56);
  info.fields = {
    bytesPerSector: bps,
    sectorsPerCluster: spc,
    totalSectors,
    mftCluster,
    mftMirrorCluster: mirrorCluster,
    serial: v.getBigUint64(72, true).toString(16).padStart(16, "0"),
  };
  if (head[510] !== 0x55 || head[511] !== 0xaa)
    malformed(info, "boot signature 0x55AA is missing", at(510));
  if (bps < 256 || bps > 4096 || !powerOfTwo(bps)) {
    malformed(info, `bytes per sector ${bps} is not a power of two from 256 to 4096`, at(11));
    return info;
  }
  if (spc === 0 || !powerOfTwo(spc) || bps * spc > 2 ** 21) {
    malformed(
      info,
      `sectors per cluster (byte 0x${rawSpc.toString(16)}) is not a power of two giving at most 2 MiB`,
      at(13),
    );
    return info;
  }
  const cluster = bps * spc;
  info.blockSize = cluster;
  if (totalSectors < 0 || totalSectors === 0) {
    malformed(info, "total sectors is 0 or above 2^53-1", at(40));
    return info;
  }
  info.totalBytes = totalSectors * bps;
  if (info.totalBytes > p.length)
    malformed(
      info,
      pastEnd("the volume (total sectors x bytes per sector)", info.totalBytes, p.length),
      at(40),
    );
  // The MFT and its mirror hold every file record: outside the volume, a reader following
  // them reads another partition's bytes as file records.
  for (const [name, lcn, field] of [
    ["MFT", mftCluster, 48],
    ["MFT mirror", mirrorCluster, 56],
  ] as const) {
    if (lcn < 0 || lcn * cluster >= info.totalBytes) {
      malformed(info, `the ${name} (cluster ${lcn}) lies past the volume`, at(field));
    }
  }
  return info;
}
