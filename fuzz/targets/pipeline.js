/**
 * Fuzz target: the whole pipeline on the input as a file: openDmg, a few range reads across
 * chunk boundaries, the whole disk streamed, then validateDmg, all under small budgets. Besides
 * unexpected exceptions, a finding is an operation that decompressed past its budget, working
 * memory still held after close, or validateDmg throwing instead of reporting.
 */
import { DmgError, openDmg, validateDmg } from "../../dist/index.js";
import { budgetFor, DECOMPRESSED_SLACK, invariant, tolerate } from "../harness.js";

/** Most bytes one operation may decompress under `budget` (see DECOMPRESSED_SLACK). */
const maxDecompressed = (budget) => budget.maxDecompressedBytes + DECOMPRESSED_SLACK;

/** Run one operation on `image` and check what it decompressed. */
async function operation(image, what, fn) {
  const before = image.stats().bytesDecompressed;
  await tolerate(fn);
  const used = image.stats().bytesDecompressed - before;
  invariant(used <= maxDecompressed(image.budget), `${what} decompressed ${used} bytes`);
}

/**
 * Reads of the first chunks: each chunk's head, then its tail (continuing the decoder the head
 * left open, and running the chunk's end checks), then one across the first chunk edge
 * (restarting the first chunk's decoder).
 */
function ranges(image) {
  const out = [];
  for (let i = 0; i < Math.min(image.chunkCount, 4); i++) {
    const c = image.chunk(i);
    const start = c.sector * 512;
    const length = c.sectorCount * 512;
    const tail = Math.min(700, length);
    out.push([start, Math.min(512, length)], [start + length - tail, tail]);
  }
  if (image.chunkCount > 1) out.push([0, image.chunk(1).sector * 512 + 1]);
  return out.filter(([, length]) => length <= 1 << 20);
}

/** 700 bytes (or fewer) three quarters into the longest chunk. */
function middleOfLongestChunk(image) {
  let longest = { sector: 0, sectorCount: 0 };
  for (const c of image.chunks()) if (c.sectorCount > longest.sectorCount) longest = c;
  const length = Math.min(700, longest.sectorCount * 512);
  const offset = longest.sector * 512 + Math.floor((longest.sectorCount * 512 - length) * 0.75);
  return [offset, length];
}

export async function fuzz(data) {
  const budget = budgetFor(data);
  const options = { budget };
  let image;
  const opened = await tolerate(async () => {
    image = await openDmg(data, options);
  });
  if (opened === undefined) {
    try {
      for (const [offset, length] of ranges(image)) {
        await operation(image, `read(${offset}, ${length})`, async () => {
          const bytes = await image.read(offset, length);
          invariant(bytes.length === length, `read(${offset}, ${length}) gave ${bytes.length}`);
        });
      }
      await operation(image, "stream()", async () => {
        let total = 0;
        for await (const piece of image.stream()) total += piece.length;
        invariant(total === image.size, `stream gave ${total} of ${image.size} bytes`);
      });
      // Inside the longest chunk, after the stream left index points in it.
      const [offset, length] = middleOfLongestChunk(image);
      await operation(image, `read(${offset}, ${length})`, () => image.read(offset, length));
    } finally {
      await image.close();
    }
    const { memory } = image.internals;
    invariant(memory.used === 0, `${memory.used} bytes of working memory held after close`);
    invariant(memory.peak <= memory.limit, `working memory peaked at ${memory.peak}`);
  }
  let report;
  try {
    report = await validateDmg(data, options);
  } catch (e) {
    if (e instanceof DmgError) {
      throw new Error(`validateDmg threw ${e.code} instead of reporting it: ${e.message}`);
    }
    throw e;
  }
  const { cost } = report;
  invariant(
    cost.bytesDecompressed <= maxDecompressed(budget),
    `validation decompressed ${cost.bytesDecompressed}`,
  );
  invariant(
    cost.peakWorkingMemory <= budget.maxWorkingMemory,
    `validation peaked at ${cost.peakWorkingMemory} bytes of working memory`,
  );
  // Opening and validating agree on whether the structure is acceptable.
  if (opened !== undefined) {
    invariant(!report.ok, `validation accepts an image openDmg refused with ${opened.code}`);
  }
}
