/**
 * The next range of a sequential reader read while it decodes: the same bytes as the source,
 * copies that the next read ahead never overwrites, nothing read ahead for a reader jumping
 * about, a failed read ahead reported by the read that needed it, and no close under a read
 * in flight.
 */
import { describe, expect, it } from "vitest";
import { DmgError } from "../src/core/errors.js";
import { AHEAD, sequentialReadAhead } from "../src/sources/sequential.js";
import { type ByteSource, readExact } from "../src/sources/source.js";

const data = new Uint8Array(8 * AHEAD + 999).map((_, i) => (i * 2654435761) >>> 24);

interface Counting extends ByteSource {
  reads: [number, number][];
  inFlight: number;
  closedWith: number | undefined;
  failAt?: number;
}

/**
 * A source over `data` that records its reads and answers after a turn of the event loop, or
 * three for a range read ahead (a disk slower than the reader's turn).
 */
function counting(): Counting {
  const src: Counting = {
    size: data.length,
    reads: [],
    inFlight: 0,
    closedWith: undefined,
    async read(offset, length, into) {
      src.reads.push([offset, length]);
      src.inFlight++;
      for (let turn = length === AHEAD ? 3 : 1; turn > 0; turn--) {
        await new Promise((r) => setImmediate(r));
      }
      src.inFlight--;
      if (src.failAt !== undefined && offset <= src.failAt && src.failAt < offset + length) {
        throw new Error("disk on fire");
      }
      const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
      out.set(data.subarray(offset, offset + length));
      return out;
    },
    async close() {
      src.closedWith = src.inFlight;
    },
  };
  return src;
}

const same = (got: Uint8Array, offset: number) =>
  Buffer.compare(got, data.subarray(offset, offset + got.length)) === 0;

describe("sequentialReadAhead", () => {
  it("reads a front-to-back reader's next range while it uses the one it has", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    const sizes = [1000, 70_000, AHEAD - 5, 200_000, AHEAD - 7, 150_000, AHEAD, AHEAD];
    let off = 0;
    const got: [number, Uint8Array][] = [];
    for (const n of sizes) {
      got.push([off, await s.read(off, n)]);
      off += n;
    }
    for (const [at, bytes] of got) expect(same(bytes, at)).toBe(true);
    // The first two reads go to the source, the second starting the range after it; each
    // later read is served from the range read ahead and starts the one after itself.
    const ends = sizes.map((_, k) => sizes.slice(0, k + 1).reduce((a, b) => a + b));
    expect(src.reads.slice(0, 3)).toEqual([
      [0, 1000],
      [ends[1], AHEAD],
      [1000, 70_000],
    ]);
    expect(src.reads.slice(3)).toEqual(ends.slice(2).map((e) => [e, AHEAD]));
  });

  it("reads no range twice over for a reader of a few bytes at a time", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    let off = 0;
    for (let k = 0; k < 4000; k++, off += 512) expect(same(await s.read(off, 512), off)).toBe(true);
    const read = src.reads.reduce((n, [, len]) => n + len, 0);
    expect(read).toBeLessThanOrEqual(2 * off + AHEAD);
  });

  it("hands out copies the next read ahead does not overwrite, and fills `into`", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    await s.read(0, 10);
    const first = await s.read(10, 4096);
    const into = new Uint8Array(8192);
    const second = await s.read(4106, 8192, into);
    // Both came from ranges read ahead, and a third is in flight into the same buffer.
    await s.read(4106 + 8192, 100);
    expect(same(first, 10)).toBe(true);
    expect(second.buffer).toBe(into.buffer);
    expect(same(second, 4106)).toBe(true);
  });

  it("reads nothing ahead for a reader jumping about", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    for (const off of [5 * AHEAD, 100, 3 * AHEAD + 17, 7 * AHEAD, 2 * AHEAD]) {
      expect(same(await s.read(off, 5000), off)).toBe(true);
    }
    expect(src.reads.map(([, n]) => n)).toEqual([5000, 5000, 5000, 5000, 5000]);
  });

  it("reads nothing ahead of reads longer than the range it would read", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    let off = 0;
    for (const n of [AHEAD + 1, 2 * AHEAD, AHEAD + 100]) {
      expect(same(await s.read(off, n), off)).toBe(true);
      off += n;
    }
    expect(src.reads.map(([, n]) => n)).toEqual([AHEAD + 1, 2 * AHEAD, AHEAD + 100]);
  });

  it("stops at the end of the source", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    const end = data.length;
    await s.read(end - 3000, 1000);
    await s.read(end - 2000, 1000);
    expect(same(await s.read(end - 1000, 1000), end - 1000)).toBe(true);
    for (const [o, n] of src.reads) expect(o + n).toBeLessThanOrEqual(end);
  });

  it("drops a failed read ahead: the read that needs the bytes fails with its own error", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    src.failAt = 2500;
    await s.read(0, 1000);
    await s.read(1000, 1000); // starts the read ahead of 2000.., which fails
    const e = await readExact(s, 2000, 1000, "chunk data").catch((x) => x);
    expect(e).toBeInstanceOf(DmgError);
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toContain("disk on fire");
    // Bytes before the failure still read, straight from the source.
    src.failAt = undefined;
    expect(same(await s.read(2000, 500), 2000)).toBe(true);
  });

  it("serves two reads waiting on one read ahead, each its own bytes", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    await s.read(0, 100);
    await s.read(100, 100); // reads 200.. ahead
    const [a, b] = await Promise.all([s.read(200, 300), s.read(500, 300)]);
    expect(same(a, 200)).toBe(true);
    expect(same(b, 500)).toBe(true);
  });

  it("closes the source only once no read ahead is in flight", async () => {
    const src = counting();
    const s = sequentialReadAhead(src);
    await s.read(0, 100);
    await s.read(100, 100);
    expect(src.inFlight).toBe(1);
    await s.close?.();
    expect(src.closedWith).toBe(0);
  });
});
