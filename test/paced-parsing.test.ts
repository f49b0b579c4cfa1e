/**
 * Attack class G39: the parsers of an image's map give the event loop its turns. A table of
 * two million entries is an 80 MB base64 text in a property list of 118 MB, all within the
 * default budget; decoding it, scanning it and parsing its entries each took 200-450 ms in one
 * stretch. Each is now a sequence of steps of a few milliseconds: these tests count the steps
 * (not the time).
 */
import { describe, expect, it } from "vitest";
import { decodeBase64, decodeBase64Steps, encodeBase64 } from "../src/format/base64.js";
import { crc32Checksum } from "../src/format/checksum.js";
import { allocEntries, parseMish, parseMishSteps, serializeMish } from "../src/format/mish.js";
import { UDZE } from "../src/format/types.js";

/** Run a steps generator to its end: its result and how many steps it yielded. */
function countSteps<T>(steps: Generator<void, T, void>): { value: T; steps: number } {
  let n = 0;
  for (;;) {
    const r = steps.next();
    if (r.done) return { value: r.value, steps: n };
    n++;
  }
}

describe("G39: paced map parsing", () => {
  it("decodes a long base64 text in steps, to the same bytes as in one go", () => {
    const bytes = new Uint8Array(3_000_000).map((_, i) => (i * 2654435761) >>> 24);
    const text = new TextEncoder().encode(encodeBase64(bytes, 68, "\t"));
    const { value, steps } = countSteps(decodeBase64Steps(text, 0, 1 << 30, 65_536));
    expect(steps).toBeGreaterThanOrEqual(Math.floor(text.length / 65_536) - 1);
    expect(Buffer.compare(value, bytes)).toBe(0);
    expect(Buffer.compare(decodeBase64(text, 0, 1 << 30), bytes)).toBe(0);
  });

  it("reports a bad character at the same offset whichever step it falls in", () => {
    const text = new TextEncoder().encode(encodeBase64(new Uint8Array(300_000), 68));
    text[200_001] = 0x2a; // '*'
    const fail = (slice: number) => {
      try {
        countSteps(decodeBase64Steps(text, 1000, 1 << 30, slice));
      } catch (e) {
        return (e as { code: string; offset: number }).offset;
      }
      return -1;
    };
    expect(fail(4096)).toBe(201_001);
    expect(fail(Number.POSITIVE_INFINITY)).toBe(201_001);
  });

  it("parses a table's entries in steps", () => {
    const count = 100_000;
    const entries = allocEntries(count);
    for (let i = 0; i < count; i++) {
      entries.type[i] = UDZE;
      entries.sector[i] = i;
      entries.sectorCount[i] = 1;
    }
    const blob = serializeMish({
      firstSector: 0,
      sectorCount: count,
      dataOffset: 0,
      buffersNeeded: 0,
      blockDescriptors: 0,
      checksum: crc32Checksum(undefined),
      count,
      entries,
    });
    const { value, steps } = countSteps(parseMishSteps(blob, 0, { table: 0 }));
    expect(steps).toBe(Math.floor(count / 16_384));
    expect(value.count).toBe(count);
    expect(value.entries.sector[count - 1]).toBe(count - 1);
    expect(parseMish(blob, 0, { table: 0 }).entries.sector[count - 1]).toBe(count - 1);
  });
});
