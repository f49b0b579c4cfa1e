/**
 * Fuzz target: sparse images (UDSP). The input is a whole `.sparseimage` file: its `sprs`
 * header chain and band tables are checked and the disk presented as a UDIF image. Opening
 * either fails with a DmgError or gives a disk of exactly the size the header states, every
 * byte of which reads.
 */

import { openDmg } from "../../dist/index.js";
import { BUDGET, invariant, tolerate } from "../harness.js";

export async function fuzz(data) {
  await tolerate(async () => {
    const image = await openDmg(data, { budget: BUDGET });
    try {
      if (image.container.kind !== "UDSP") return;
      const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const sectors = Number(v.getBigUint64(28));
      invariant(
        image.size === sectors * 512,
        `disk of ${image.size} bytes from a header stating ${sectors} sectors`,
      );
      const n = Math.min(image.size, 256 * 1024);
      const read = await image.read(0, n);
      invariant(read.length === n, `read ${read.length} of ${n} bytes`);
    } finally {
      await image.close();
    }
  });
}
