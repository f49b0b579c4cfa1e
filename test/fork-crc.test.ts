/**
 * The data fork's CRC32 taken from the decode pass's own reads: the same value as a CRC of
 * the whole range whatever order the bytes arrive in, and a validation that reads the file
 * once, not twice.
 */
import { readFileSync } from "node:fs";
import * as fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { MemoryMeter } from "../src/core/limits.js";
import { Work } from "../src/core/work.js";
import { ForkCrc } from "../src/image/fork-crc.js";
import { type ByteSource, bytesSource, validateDmg } from "../src/index.js";
import { validateDmg as validateOnNode } from "../src/node/index.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { ZLIB } from "./helpers/cli-run.js";

const data = new Uint8Array(20_000).map((_, i) => (i * 2654435761) >>> 24);

/** A source over `bytes` that counts the bytes it hands out. */
function counting(bytes: Uint8Array): ByteSource & { read_: number } {
  const src = bytesSource(bytes);
  const counted = {
    size: src.size,
    read_: 0,
    read: async (offset: number, length: number) => {
      counted.read_ += length;
      return src.read(offset, length);
    },
  };
  return counted;
}

describe("ForkCrc", () => {
  it("gives the CRC of the range whatever reads and segments it saw, in any order", async () => {
    const range = fc
      .tuple(fc.nat(data.length), fc.nat(4000))
      .map(([a, n]) => [a, Math.min(data.length, a + n)] as const);
    const event = fc.record({ range, lane: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(
        fc.nat(1000),
        fc.nat(1000),
        fc.array(event, { maxLength: 40 }),
        async (lo, hi, events) => {
          const start = lo;
          const end = data.length - hi;
          const fork = new ForkCrc(start, end, crc32);
          for (const {
            range: [a, b],
            lane,
          } of events) {
            if (lane) fork.segment(a, b, crc32(data.subarray(a, b)));
            else fork.saw(a, data.subarray(a, b));
          }
          const memory = new MemoryMeter(1 << 22);
          const got = await fork.finish(bytesSource(data), new Work(), memory);
          expect(got).toBe(crc32(data.subarray(start, end)));
          expect(memory.used).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("reads nothing more when the reads covered the range in order", async () => {
    const fork = new ForkCrc(100, 10_100, crc32);
    const src = fork.tap(bytesSource(data));
    for (let p = 0; p < 12_000; p += 700) await src.read(p, Math.min(700, data.length - p));
    const counted = counting(data);
    expect(await fork.finish(counted, new Work(), new MemoryMeter(1 << 22))).toBe(
      crc32(data.subarray(100, 10_100)),
    );
    expect(counted.read_).toBe(0);
  });
});

describe("a full validation reads the data fork once", () => {
  const disk = new Uint8Array(4 << 20).map((_, i) => ((i >> 9) * 31 + (i & 7)) & 0xff);

  it("core: the bytes read are the file once, and a few KiB of trailer and map", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 256 });
    const src = counting(image);
    const report = await validateDmg(src);
    expect(report.ok).toBe(true);
    expect(report.checksums.dataFork).toBe("ok");
    // Twice the file before: the data fork read for its CRC32, then again to decode. Beyond
    // the file once: the trailer and map, and the disk's first chunk read again by the
    // partition map and file-system probes.
    expect(src.read_).toBeLessThanOrEqual(image.length + 8192);
  });

  it("stops reading at a deadline, with one BUDGET_TIME finding", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 256 });
    const controller = new AbortController();
    const src = bytesSource(image);
    let reads = 0;
    const source: ByteSource = {
      size: src.size,
      read: async (offset, length) => {
        // The deadline passes during the decoding of the chunks.
        if (++reads === 8) controller.abort(new DOMException("deadline", "TimeoutError"));
        return src.read(offset, length);
      },
    };
    const report = await validateDmg(source, { signal: controller.signal });
    expect(report.errors.map((f) => f.code)).toEqual(["BUDGET_TIME"]);
    expect(report.checksums.dataFork).toBe("not-checked");
  });

  it("Node, one thread and lanes: the same checksum outcome on a real image and on a changed byte", async () => {
    const good = readFileSync(ZLIB);
    for (const threads of [1, 2]) {
      const report = await validateOnNode(ZLIB, { threads });
      expect(report.checksums.dataFork).toBe("ok");
    }
    // A byte of the data fork outside every chunk's payload is covered by the final pass.
    const bad = Uint8Array.from(good);
    bad[0] ^= 1;
    const report = await validateDmg(bad);
    expect(report.checksums.dataFork).toBe("mismatch");
    expect(report.errors[0].code).toBe("CRC_DATA_FORK");
  });
});
