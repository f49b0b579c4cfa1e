/**
 * Fuzz target: file-system superblocks (src/inspect/fs). The input is a partition: its first
 * bytes are probed as HFS+/HFSX/HFS, APFS, FAT, exFAT, NTFS and ISO 9660. Identification
 * never throws, reports only FS_* findings, reads only inside the partition and a few KiB in
 * all, and states sizes that are exact integers.
 */

import { identifyFileSystem } from "../../dist/index.js";
import { invariant, tolerate } from "../harness.js";

/** Bytes a probe may read: the 4 KiB head, a 64 KiB APFS block, eight ISO descriptors. */
const MAX_READ = 4096 + 65536 + 9 * 2048 + 1536;

export async function fuzz(data) {
  await tolerate(async () => {
    // The partition starts a little into the input, as partitions start inside a disk.
    const start = data.length > 0 ? data[0] % 8 : 0;
    const length = data.length - start;
    let total = 0;
    const read = async (offset, n) => {
      invariant(
        offset >= start && n >= 0 && offset + n <= start + length,
        `read ${offset}+${n} outside ${start}+${length}`,
      );
      total += n;
      return data.slice(offset, offset + n);
    };
    const info = await identifyFileSystem(read, start, length);
    invariant(total <= MAX_READ, `read ${total} bytes`);
    for (const f of info.findings) {
      invariant(f.code === "FS_MALFORMED" || f.code === "FS_CHECKSUM", `finding ${f.code}`);
    }
    for (const v of [info.blockSize, info.totalBytes]) {
      invariant(v === undefined || Number.isSafeInteger(v), `size ${v}`);
    }
  });
}
