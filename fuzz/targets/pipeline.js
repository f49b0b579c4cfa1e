/**
 * Fuzz target: the whole pipeline on the input as a file: openDmg, a few range reads across
 * chunk boundaries, the whole disk streamed, the disk written to a sink that leaves zero runs
 * as holes (as extraction does), then validateDmg, all under small budgets. One input in five
 * runs with an AbortSignal that fires at a point the input chooses, mid-operation. Besides
 * unexpected exceptions, a finding is an operation that decompressed past its budget, working
 * memory still held after close, a report keeping more findings than its budget, a cancelled
 * operation failing with anything but a DmgError, or validateDmg throwing anything but a
 * cancellation instead of reporting.
 */
import { Work } from "../../dist/core/work.js";
import { sessionOf } from "../../dist/image/image.js";
import { DmgError, openDmg, validateDmg } from "../../dist/index.js";
import { OverlappedWriter, writeDisk } from "../../dist/node/io/write-disk.js";
import { budgetFor, DECOMPRESSED_SLACK, invariant, tolerate } from "../harness.js";

/**
 * A signal that fires after it has been looked at `after` times: an abort at a point chosen
 * by the input, the same on every run (an AbortController fired by a timer would not be).
 */
function signalAfter(after) {
  let looks = 0;
  return {
    get aborted() {
      return ++looks > after;
    },
    reason: undefined,
  };
}

/** The signal input `data` runs with: one input in five gets one. */
function signalFor(data) {
  return data.length % 5 === 3 ? signalAfter(data[0] ?? 0) : undefined;
}

/** Write the whole disk of `image` to a sink that counts bytes and holes; returns the count. */
async function writeWithHoles(image, signal) {
  let written = 0;
  const sink = {
    write: async (bytes) => {
      written += bytes.length;
    },
    skip: async (count) => {
      written += count;
    },
  };
  const out = new OverlappedWriter(sink);
  try {
    await writeDisk(sessionOf(image), out, { threads: 1, work: new Work(signal) });
    await out.end();
  } finally {
    await out.settle();
  }
  return written;
}

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
  const signal = signalFor(data);
  const options = { budget, signal };
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
      await operation(image, "extract", async () => {
        const written = await writeWithHoles(image, signal);
        invariant(written === image.size, `extract wrote ${written} of ${image.size} bytes`);
      });
    } finally {
      await image.close();
    }
    const { memory } = sessionOf(image);
    invariant(memory.used === 0, `${memory.used} bytes of working memory held after close`);
    invariant(memory.peak <= memory.limit, `working memory peaked at ${memory.peak}`);
  }
  let report;
  try {
    report = await validateDmg(data, { ...options, signal: signalFor(data) });
  } catch (e) {
    // Cancellation is thrown, not reported; anything else must be a finding of the report.
    if (e instanceof DmgError && e.code === "ABORTED" && signal) return;
    if (e instanceof DmgError) {
      throw new Error(`validateDmg threw ${e.code} instead of reporting it: ${e.message}`);
    }
    throw e;
  }
  // The report keeps at most maxFindings of each severity (plus the note that it dropped some).
  invariant(
    report.errors.length <= budget.maxFindings && report.warnings.length <= budget.maxFindings + 1,
    `report kept ${report.errors.length} errors and ${report.warnings.length} warnings`,
  );
  const { cost } = report;
  invariant(
    cost.bytesDecompressed <= maxDecompressed(budget),
    `validation decompressed ${cost.bytesDecompressed}`,
  );
  invariant(
    cost.peakWorkingMemory <= budget.maxWorkingMemory,
    `validation peaked at ${cost.peakWorkingMemory} bytes of working memory`,
  );
  // Opening and validating agree on whether the structure is acceptable (unless opening was
  // cancelled).
  if (opened !== undefined && opened.code !== "ABORTED") {
    invariant(!report.ok, `validation accepts an image openDmg refused with ${opened.code}`);
  }
}
