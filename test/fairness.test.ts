/**
 * Fairness: no operation holds the event loop for long, whatever the source (attack class
 * G39). A timer ticking every 10 ms during the validation of a 256 MiB image held in memory
 * never waits more than 50 ms: the only timing this suite asserts, with a wide margin (work
 * gives the loop a turn every ~10 ms). And an AbortSignal stops the work where it is.
 */
import { describe, expect, it } from "vitest";
import { openDmg as openCore, validateDmg as validateCore } from "../src/index.js";
import { nodeDeflate, validateDmg as validateNode } from "../src/node/index.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { syntheticDisk } from "./helpers/synthetic.js";

const MiB = 1024 * 1024;

/** The longest wait of a 10 ms interval timer while `work` runs, in milliseconds. */
async function longestGap(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  try {
    // The timer's first ticks come late whatever runs (timer start-up): measure from later.
    await new Promise((resolve) => setTimeout(resolve, 50));
    longest = 0;
    last = performance.now();
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(longest, performance.now() - last);
}

describe("fairness", () => {
  let image: Uint8Array;

  it("builds a 256 MiB image in memory", async () => {
    image = await writeDmgBytes(syntheticDisk(256 * MiB), { deflate: nodeDeflate });
    expect(image.length).toBeGreaterThan(32 * MiB);
  }, 120_000);

  it.each([
    ["the browser core (pako)", validateCore],
    ["the Node entry (node:zlib)", validateNode],
  ] as const)(
    "validating it through %s never holds the loop for 50 ms",
    async (_, validate) => {
      let ok = false;
      const gap = await longestGap(async () => {
        ok = (await validate(image, { budget: { maxWorkingMemory: 32 * MiB } })).ok;
      });
      expect(ok).toBe(true);
      console.info(`longest event-loop gap validating 256 MiB through ${_}: ${gap.toFixed(1)} ms`);
      expect(gap).toBeLessThan(50);
    },
    120_000,
  );

  it("an AbortSignal stops a validation with ABORTED and a read with its memory given back", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(validateCore(image, { signal: controller.signal })).rejects.toMatchObject({
      code: "ABORTED",
    });
    const img = await openCore(image);
    const late = new AbortController();
    setTimeout(() => late.abort(), 20);
    await expect(img.read(0, 16 * MiB, { signal: late.signal })).rejects.toMatchObject({
      code: "ABORTED",
    });
    expect(img.stats().workingMemory).toBeLessThan(MiB); // soft memory (points, cache) at most
    await img.close();
    expect(img.stats().workingMemory).toBe(0);
    const timeout = await validateCore(image, { signal: AbortSignal.timeout(30) });
    expect(timeout.errors[0]?.code).toBe("BUDGET_TIME");
  }, 120_000);
});
