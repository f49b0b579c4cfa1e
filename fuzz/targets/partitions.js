/**
 * Fuzz target: partition maps. The input is the first bytes of a virtual disk (GPT, APM or
 * MBR, its extended chain, a backup header at its end); reading its map either fails with a
 * DmgError or gives partitions of exact byte offsets, and never reads outside the disk.
 */

import { DmgError } from "../../dist/core/errors.js";
import { readPartitionMap } from "../../dist/inspect/partitions.js";
import { invariant, tolerate } from "../harness.js";

export async function fuzz(data) {
  await tolerate(async () => {
    const disk = data;
    let read = 0;
    const map = await readPartitionMap(async (offset, length) => {
      invariant(
        offset >= 0 && offset + length <= disk.length,
        `read [${offset}, +${length}) outside the disk`,
      );
      read += length;
      if (read > 8 << 20) throw new DmgError("BUDGET_DECOMPRESSED", "read too much");
      return disk.slice(offset, offset + length);
    }, disk.length);
    for (const p of map.partitions) {
      invariant(
        Number.isSafeInteger(p.start) && Number.isSafeInteger(p.length),
        "inexact partition range",
      );
    }
  });
}
