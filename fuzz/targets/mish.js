/**
 * Fuzz target: one mish (blkx) table: parseMish (and a write-read round trip of what it
 * accepts), checkMishLayout, then the chunk index built from it as the only table of an image
 * whose data fork spans the first TiB of the file.
 */
import { Work } from "../../dist/core/work.js";
import { checkMishLayout, parseMish, serializeMish } from "../../dist/format/mish.js";
import { buildChunkIndex } from "../../dist/image/chunk-index.js";
import { invariant, layerBudget, sameAfterRoundTrip, tolerate, tolerateSync } from "../harness.js";

const KOLY = { dataForkOffset: 0, dataForkLength: 2 ** 40 };

export async function fuzz(data) {
  const budget = layerBudget(data);
  let mish;
  tolerateSync(() => {
    mish = parseMish(data, 0, { table: 0 });
  });
  if (mish === undefined) return;
  sameAfterRoundTrip("mish table", mish, parseMish(serializeMish(mish), 0, { table: 0 }));
  await tolerate(async () => {
    checkMishLayout(mish, 0, 0);
    const index = await buildChunkIndex([{ mish, fileOffset: 0 }], KOLY, budget, new Work());
    invariant(index.count <= budget.maxChunks, `${index.count} chunks accepted`);
    invariant(
      index.totalSectors * 512 <= budget.maxImageBytes,
      `${index.totalSectors} sectors accepted`,
    );
  });
}
