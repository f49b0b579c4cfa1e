/**
 * The point store's rules: points within their cap, evicted by score; compact points asked of
 * cheap packers always; a pass from a chunk start spaced by its even share of the cap.
 */
import { describe, expect, it } from "vitest";
import type { Codec } from "../src/codecs/codec.js";
import { MemoryMeter } from "../src/core/limits.js";
import { MIN_GAP, PointStore } from "../src/image/index-points.js";

const MiB = 1024 * 1024;
const KiB = 1024;
const codec = (packsCheaply: boolean): Codec => ({
  type: 1,
  name: "test",
  packsCheaply,
  open: () => {
    throw new Error("not used");
  },
});

/** Offer a point every `step` bytes of a `size`-byte chunk; returns the positions granted. */
function pass(store: PointStore, c: Codec, size: number, step: number, from = 0, bytes = 32 * KiB) {
  const rec = store.recorder(0, size, c, from > 0, from === 0)!;
  const granted: number[] = [];
  for (let p = from + step; p < size; p += step) {
    if (rec.reserve(p, bytes)) {
      granted.push(p);
      rec.add({ position: p, bytes: rec.compact ? bytes / 4 : bytes, state: p });
    }
  }
  return granted;
}

describe("point store", () => {
  it("keeps points within the cap and its memory accounted", () => {
    const memory = new MemoryMeter(32 * MiB);
    const store = new PointStore(memory, MiB);
    pass(store, codec(false), 256 * MiB, 64 * KiB, 1);
    expect(store.bytes).toBeLessThanOrEqual(MiB);
    expect(memory.used).toBe(store.bytes);
    expect(store.count).toBeGreaterThan(10);
    store.clear();
    expect(memory.used).toBe(0);
  });

  it("asks codecs that pack cheaply for compact points, others once memory is short", () => {
    const store = new PointStore(new MemoryMeter(32 * MiB), 16 * MiB);
    expect(store.recorder(0, 64 * MiB, codec(true), false, true)!.compact).toBe(true);
    const slow = store.recorder(1, 64 * MiB, codec(false), true)!;
    expect(slow.compact).toBe(false);
    pass(store, codec(false), 512 * MiB, 300 * KiB, 1);
    expect(store.tight).toBe(true);
    expect(store.recorder(1, 64 * MiB, codec(false), true)!.compact).toBe(true);
    expect(store.recorder(1, 64 * MiB, codec(false), false)!.compact).toBe(false);
  });

  it("spaces a pass from the chunk start by its share of the cap", () => {
    const c = codec(false);
    const store = new PointStore(new MemoryMeter(32 * MiB), 4 * MiB);
    // 128 points of 32 KiB fit: over 1 GiB, one every 8 MiB; a pass offers them from 4 MiB.
    store.span = 1024 * MiB;
    const granted = pass(store, c, 256 * MiB, 64 * KiB);
    for (const [k, p] of granted.entries()) {
      expect(p - (granted[k - 1] ?? 0)).toBeGreaterThanOrEqual(4 * MiB);
    }
    expect(granted.length).toBeGreaterThan(50);
    // Reads (not from the chunk start) are not held to it: they place points where they go.
    const read = pass(store, c, 256 * MiB, 64 * KiB, 100 * MiB + 1);
    expect(read[1] - read[0]).toBeLessThan(MiB);
    expect(read[1] - read[0]).toBeGreaterThanOrEqual(MIN_GAP);
  });
});
