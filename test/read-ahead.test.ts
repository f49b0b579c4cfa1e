/**
 * Small reads served from one window read ahead: the same bytes as the source, copies that a
 * later read never overwrites, concurrent reads that never see each other's window, and large
 * reads that go straight to the source.
 */
import { describe, expect, it } from "vitest";
import { AMPLIFICATION, readAhead, SMALL, WINDOW } from "../src/sources/read-ahead.js";
import type { ByteSource } from "../src/sources/source.js";

const data = new Uint8Array(16 * WINDOW + 777).map((_, i) => (i * 2654435761) >>> 24);

/** A source over `data` that counts its reads and answers after a turn of the event loop. */
function counting(): ByteSource & { reads: number[] } {
  const src = {
    size: data.length,
    reads: [] as number[],
    async read(offset: number, length: number, into?: Uint8Array) {
      src.reads.push(length);
      await new Promise((r) => setImmediate(r));
      const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
      out.set(data.subarray(offset, offset + length));
      return out;
    },
  };
  return src;
}

describe("readAhead", () => {
  it("serves many small reads from one read of the source, as copies", async () => {
    const src = counting();
    const ra = readAhead(src);
    const got: Uint8Array[] = [];
    for (let off = 1000; off < 1000 + 200 * 512; off += 512) got.push(await ra.read(off, 512));
    expect(src.reads).toEqual([WINDOW]);
    got.forEach((b, k) => {
      const off = 1000 + k * 512;
      expect(Buffer.compare(b, data.subarray(off, off + 512))).toBe(0);
    });
  });

  it("sends large reads and reads near the end straight to the source", async () => {
    const src = counting();
    const ra = readAhead(src);
    expect((await ra.read(0, SMALL + 1)).length).toBe(SMALL + 1);
    const tail = await ra.read(data.length - 100, 100);
    expect(Buffer.compare(tail, data.subarray(data.length - 100))).toBe(0);
    expect(src.reads).toEqual([SMALL + 1, 100]);
  });

  it("serves reads walking backwards from windows that end at them", async () => {
    const src = counting();
    const ra = readAhead(src);
    let asked = 0;
    for (let off = 8 * WINDOW; off >= 4 * WINDOW; off -= 512) {
      const b = await ra.read(off, 512);
      asked += 512;
      expect(Buffer.compare(b, data.subarray(off, off + 512))).toBe(0);
    }
    // A window from each missed offset on would read 2,049 windows: 512 MiB.
    expect(src.reads.reduce((n, r) => n + r, 0)).toBeLessThanOrEqual(asked + 2 * WINDOW);
  });

  it("reads a bounded multiple of what is asked when reads jump about", async () => {
    const src = counting();
    const ra = readAhead(src);
    let asked = 0;
    for (let k = 0; k < 2000; k++) {
      const off = (k % 2 ? 12 * WINDOW : 2 * WINDOW) + k * 512;
      const b = await ra.read(off, 512);
      asked += 512;
      expect(Buffer.compare(b, data.subarray(off, off + 512))).toBe(0);
    }
    const read = src.reads.reduce((n, r) => n + r, 0);
    expect(read).toBeLessThanOrEqual(5 * WINDOW + (AMPLIFICATION + 1) * asked);
  });

  it("gives concurrent reads far apart their own bytes", async () => {
    const src = counting();
    const ra = readAhead(src);
    const offsets = [5, 2 * WINDOW + 9, WINDOW + 3, 7, 2 * WINDOW + 4000, 11];
    const got = await Promise.all(offsets.map((o) => ra.read(o, 300)));
    got.forEach((b, k) => {
      expect(Buffer.compare(b, data.subarray(offsets[k], offsets[k] + 300))).toBe(0);
    });
  });
});
