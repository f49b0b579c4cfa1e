/**
 * ISO 9660 volume descriptors: from sector 16 (offset 0x8000), 2048-byte descriptors, each with
 * "CD001" at offset 1; the primary volume descriptor (type 1) holds the volume id and size in
 * both-endian fields (ECMA-119, 8.4).
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
  readIn,
  result,
  view,
} from "./common.js";

/** Where the volume descriptor set starts. */
export const ISO_DESCRIPTORS_OFFSET = 0x8000;
const DESCRIPTOR_SIZE = 2048;
/**
 * Descriptors read looking for the primary one. Real discs have a boot record, the primary,
 * a Joliet supplementary and the terminator; a set of hundreds is a way to make a probe read
 * without end, so it stops here.
 */
const MAX_DESCRIPTORS = 8;

/** True when the partition holds "CD001" at 0x8001. */
export async function isIso9660(p: Partition): Promise<boolean> {
  const b = await readIn(p, ISO_DESCRIPTORS_OFFSET, 8);
  return b !== undefined && hasMagic(b, 1, "CD001");
}

/** The primary volume descriptor of the partition. */
export async function probeIso9660(p: Partition): Promise<FileSystemInfo> {
  const info = result("ISO9660");
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const offset = ISO_DESCRIPTORS_OFFSET + i * DESCRIPTOR_SIZE;
    const d = await readIn(p, offset, DESCRIPTOR_SIZE);
    if (d === undefined || !hasMagic(d, 1, "CD001")) {
      malformed(
        info,
        `volume descriptor ${i} (at ${offset}) is missing or lacks CD001 before a primary one`,
        p.start + offset,
      );
      return info;
    }
    if (d[0] === 1) {
      primary(p, info, d, p.start + offset);
      return info;
    }
    // 255 ends the set: a set without a primary descriptor is no ISO 9660 volume.
    if (d[0] === 255) break;
  }
  malformed(info, "no primary volume descriptor", p.start + ISO_DESCRIPTORS_OFFSET);
  return info;
}

/** The fields of a primary volume descriptor `d`, at disk offset `base`. */
function primary(p: Partition, info: FileSystemInfo, d: Uint8Array, base: number): void {
  const v = view(d);
  const blocksLe = v.getUint32(80, true);
  const blocksBe = v.getUint32(84);
  const blockLe = v.getUint16(128, true);
  const blockBe = v.getUint16(130);
  info.fields = {
    systemId: ascii(d, 8, 32).trimEnd(),
    volumeSpaceSize: blocksLe,
    logicalBlockSize: blockLe,
  };
  const name = label(d, 40, 32);
  if (name !== undefined) info.label = name;
  // Both-endian fields: readers on each kind of machine take one half. Halves that disagree
  // make two readers see two sizes (one of them possibly past the disk).
  if (blocksLe !== blocksBe)
    malformed(
      info,
      `volume space size is ${blocksLe} little-endian, ${blocksBe} big-endian`,
      base + 80,
    );
  if (blockLe !== blockBe)
    malformed(
      info,
      `logical block size is ${blockLe} little-endian, ${blockBe} big-endian`,
      base + 128,
    );
  // ECMA-119 6.1.2: a power of two from 512 up to the 2048-byte sector.
  if (blockLe < 512 || blockLe > 2048 || !powerOfTwo(blockLe)) {
    malformed(info, `logical block size ${blockLe} is not 512, 1024 or 2048`, base + 128);
    return;
  }
  info.blockSize = blockLe;
  info.totalBytes = blocksLe * blockLe;
  if (info.totalBytes > p.length)
    malformed(
      info,
      pastEnd("the volume (volume space size x block size)", info.totalBytes, p.length),
      base + 80,
    );
}
