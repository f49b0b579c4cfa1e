/**
 * The APFS container superblock (nx_superblock_t) at block 0 of the partition: little-endian,
 * `NXSB` at offset 32, and a Fletcher-64 checksum of the whole block in its first 8 bytes
 * (Apple File System Reference, "Container" and "Objects").
 */

import { warning } from "../../core/errors.js";
import {
  type FileSystemInfo,
  hasMagic,
  le64,
  malformed,
  type Partition,
  pastEnd,
  powerOfTwo,
  readIn,
  result,
  view,
} from "./common.js";

/** Offset of `NXSB` in block 0. */
export const NX_MAGIC_OFFSET = 32;
const NX_MIN_BLOCK = 4096;
const NX_MAX_BLOCK = 65536;
/** nx_max_file_systems is at most 100 (the size of the nx_fs_oid array). */
const NX_MAX_FILE_SYSTEMS = 100;
const OBJECT_TYPE_NX_SUPERBLOCK = 1;
const NX_CRYPTO_SW = 0x4;

/** True when `head` (the partition's first bytes) holds `NXSB` at offset 32. */
export function isApfs(head: Uint8Array): boolean {
  return head.length >= 48 && hasMagic(head, NX_MAGIC_OFFSET, "NXSB");
}

/**
 * The Fletcher-64 checksum APFS stores in an object's first 8 bytes, over the rest of the
 * object (as little-endian 32-bit words), as the two 32-bit halves [low, high].
 */
export function fletcher64(block: Uint8Array): [number, number] {
  const v = view(block);
  const MOD = 0xffff_ffff;
  let sum1 = 0;
  let sum2 = 0;
  for (let i = 8; i + 4 <= block.length; i += 4) {
    sum1 = (sum1 + v.getUint32(i, true)) % MOD;
    sum2 = (sum2 + sum1) % MOD;
  }
  const c1 = MOD - ((sum1 + sum2) % MOD);
  const c2 = MOD - ((sum1 + c1) % MOD);
  return [c1, c2];
}

/** The container superblock of the partition, whose first bytes are `head`. */
export async function probeApfs(p: Partition, head: Uint8Array): Promise<FileSystemInfo> {
  const info = result("APFS");
  const hv = view(head);
  const at = (field: number) => p.start + field;
  const blockSize = hv.getUint32(36, true);
  const blockCount = le64(hv, 40);
  info.fields = { magic: "NXSB", blockSize, blockCount };
  // The block size bounds the read below (the checksum covers the whole block): APFS allows
  // 4 KiB to 64 KiB, powers of two. A hostile 4 GiB block size must not become a 4 GiB read.
  if (blockSize < NX_MIN_BLOCK || blockSize > NX_MAX_BLOCK || !powerOfTwo(blockSize)) {
    malformed(info, `block size ${blockSize} is not a power of two from 4096 to 65536`, at(36));
    return info;
  }
  info.blockSize = blockSize;
  if (blockCount < 0) {
    malformed(info, "block count is above 2^53-1", at(40));
  } else {
    info.totalBytes = blockCount * blockSize;
    // A container larger than its partition: its objects' addresses would reach past it.
    if (info.totalBytes > p.length) {
      malformed(
        info,
        pastEnd("the container (block count x block size)", info.totalBytes, p.length),
        at(40),
      );
    }
  }
  const block = await readIn(p, 0, blockSize);
  if (block === undefined) {
    malformed(info, pastEnd("block 0", blockSize, p.length), at(36));
    return info;
  }
  const v = view(block);
  // The checksum tells a container superblock from a stale or torn copy (APFS itself falls
  // back to the checkpoint area when it fails) and from bytes that only happen to hold NXSB.
  const [c1, c2] = fletcher64(block);
  const stored1 = v.getUint32(0, true);
  const stored2 = v.getUint32(4, true);
  info.fields.checksumValid = c1 === stored1 && c2 === stored2;
  if (!info.fields.checksumValid) {
    info.findings.push(
      warning(
        "FS_CHECKSUM",
        `APFS container superblock: Fletcher-64 checksum is 0x${hex(stored2)}${hex(stored1)}, the block's is 0x${hex(c2)}${hex(c1)}`,
        at(0),
      ),
    );
  }
  const type = v.getUint32(24, true);
  if ((type & 0xffff) !== OBJECT_TYPE_NX_SUPERBLOCK) {
    malformed(info, `object type 0x${type.toString(16)} is not a container superblock`, at(24));
  }
  const maxFs = v.getUint32(180, true);
  info.fields.maxFileSystems = maxFs;
  // nx_fs_oid holds 100 entries: a larger maximum is not a container Apple wrote.
  if (maxFs === 0 || maxFs > NX_MAX_FILE_SYSTEMS) {
    malformed(info, `maximum file systems ${maxFs} is not 1 to ${NX_MAX_FILE_SYSTEMS}`, at(180));
  }
  let volumes = 0;
  for (let i = 0; i < NX_MAX_FILE_SYSTEMS; i++) {
    if (v.getUint32(184 + 8 * i, true) !== 0 || v.getUint32(188 + 8 * i, true) !== 0) volumes++;
  }
  info.fields.volumeCount = volumes;
  if (maxFs > 0 && volumes > maxFs) {
    malformed(info, `${volumes} volumes exceed the maximum of ${maxFs}`, at(184));
  }
  const flags = v.getUint32(1264, true);
  info.fields.softwareCrypto = (flags & NX_CRYPTO_SW) !== 0;
  // The container keybag (nx_keylocker) holds the keys of encrypted volumes. Whether a given
  // volume is encrypted is in its own superblock, reached through the object map: a walk this
  // probe does not make. So the keybag is reported, and encryption stays "unknown".
  info.fields.keybag = le64(v, 1296) !== 0 || le64(v, 1304) !== 0;
  info.fields.encryption = "unknown";
  return info;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, "0");
}
