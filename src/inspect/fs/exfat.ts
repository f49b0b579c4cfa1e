/**
 * The exFAT boot sector: "EXFAT   " at offset 3, little-endian fields from offset 64
 * (Microsoft's "exFAT file system specification", 3.1 Main Boot Sector).
 */
import {
  type FileSystemInfo,
  hasMagic,
  le64,
  malformed,
  type Partition,
  pastEnd,
  result,
  view,
} from "./common.js";

/** True when `head` holds the exFAT file system name at offset 3. */
export function isExfat(head: Uint8Array): boolean {
  return head.length >= 512 && hasMagic(head, 3, "EXFAT   ");
}

/** The exFAT main boot sector of the partition, whose first bytes are `head`. */
export function probeExfat(p: Partition, head: Uint8Array): FileSystemInfo {
  const info = result("exFAT");
  const v = view(head);
  const at = (field: number) => p.start + field;
  const volumeSectors = le64(v, 72);
  const fatOffset = v.getUint32(80, true);
  const fatLength = v.getUint32(84, true);
  const heapOffset = v.getUint32(88, true);
  const clusters = v.getUint32(92, true);
  const rootCluster = v.getUint32(96, true);
  const sectorShift = head[108];
  const clusterShift = head[109];
  const fats = head[110];
  info.fields = {
    volumeLength: volumeSectors,
    fatOffset,
    fatLength,
    clusterHeapOffset: heapOffset,
    clusterCount: clusters,
    rootCluster,
    bytesPerSectorShift: sectorShift,
    sectorsPerClusterShift: clusterShift,
    fatCount: fats,
    revision: `${head[105]}.${head[104]}`,
  };
  // The spec: bytes 11-63 (where a FAT BPB would be) must be zero, so that FAT drivers do not
  // mount the volume and corrupt it.
  for (let i = 11; i < 64; i++) {
    if (head[i] !== 0) {
      malformed(info, `byte ${i} of the MustBeZero field is not 0`, at(i));
      break;
    }
  }
  if (head[510] !== 0x55 || head[511] !== 0xaa)
    malformed(info, "boot signature 0x55AA is missing", at(510));
  // Shifts: sectors of 512 B to 4 KiB; clusters at most 32 MiB. Larger shifts overflow sizes.
  if (sectorShift < 9 || sectorShift > 12 || clusterShift > 25 - sectorShift) {
    malformed(
      info,
      `sector shift ${sectorShift} / cluster shift ${clusterShift} are outside the spec's 9-12 / up to 25 in all`,
      at(108),
    );
    return info;
  }
  const sector = 2 ** sectorShift;
  info.blockSize = sector * 2 ** clusterShift;
  if (fats !== 1 && fats !== 2) malformed(info, `FAT count ${fats} is not 1 or 2`, at(110));
  if (volumeSectors < 0) {
    malformed(info, "volume length is above 2^53-1 sectors", at(72));
    return info;
  }
  info.totalBytes = volumeSectors * sector;
  if (info.totalBytes > p.length)
    malformed(
      info,
      pastEnd("the volume (volume length x sector)", info.totalBytes, p.length),
      at(72),
    );
  // The regions follow in order: boot region (24 sectors), FATs, cluster heap; each must end
  // inside the volume, or a reader following them leaves it.
  if (fatOffset < 24)
    malformed(info, `FAT offset ${fatOffset} lies inside the boot region (24 sectors)`, at(80));
  if (heapOffset < fatOffset + fatLength * Math.max(fats, 1)) {
    malformed(info, `the cluster heap (sector ${heapOffset}) starts inside the FATs`, at(88));
  }
  const heapEnd = heapOffset + clusters * 2 ** clusterShift;
  if (heapEnd > volumeSectors) {
    malformed(
      info,
      `the cluster heap ends at sector ${heapEnd}, past the volume's ${volumeSectors}`,
      at(92),
    );
  }
  if (rootCluster < 2 || rootCluster > clusters + 1) {
    malformed(
      info,
      `the root directory's cluster ${rootCluster} is not a cluster of the heap (2-${clusters + 1})`,
      at(96),
    );
  }
  return info;
}
