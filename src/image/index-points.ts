/**
 * Index points: resume points recorded while chunks are decoded (by reads, streams and
 * validation alike), kept per chunk so that a later read inside a huge chunk starts from the
 * nearest point before it instead of from the chunk start.
 *
 * Memory: points live within a cap (a share of the working-memory budget) and give way when
 * the budget runs short. Which points to keep is decided by one rule: drop the point whose
 * removal adds the least expected decoding per byte it frees. For a point with gaps `a` and
 * `b` to its neighbours (or the chunk's ends), removing it adds `2ab` to the sum of squared
 * gaps, which is what uniformly random reads pay, so its score is `2ab / bytes`. This spaces
 * points wider as memory gets short, evenly over every chunk in use, and keeps cheap points
 * (a bzip2 block start is a few dozen bytes) over costly ones (a zlib point holds a 32 KiB
 * window, packed to a third of that on mixed data).
 * It is not LRU per chunk: a filesystem walk visits every partition in turn, and per-chunk LRU
 * would throw away whole indexes on such round-robin use.
 */

import type { Codec, PointRecorder, ResumePoint } from "../codecs/codec.js";
import type { MemoryMeter } from "../core/limits.js";
import { tryAcquire } from "./cache.js";

/**
 * Points closer together than this (decoded bytes) are not worth their memory and the time to
 * make them: a point must stand for at least eight times its size, and never less than
 * MIN_GAP_CHEAP (so cheap points, like bzip2 block starts, are kept at every block).
 */
export const MIN_GAP = 256 * 1024;
const MIN_GAP_CHEAP = 16 * 1024;
/**
 * A pass from a chunk start goes on to its end: points closer than the spacing the cap would
 * have if shared evenly over {@link PointStore.span} would only be evicted by its later ones,
 * after costing time. It takes them no closer than this share of that spacing (boundaries fall
 * a little past where points are wanted, and evictions then keep the cheaper).
 */
const EVEN = 0.5;
/** Chunks smaller than this get no points: decoding them from the start is cheap enough. */
export const MIN_CHUNK = 2 * MIN_GAP;

function minGap(bytes: number): number {
  return Math.min(MIN_GAP, Math.max(MIN_GAP_CHEAP, 8 * bytes));
}

/** The points of one chunk, in position order, and the codec that made them. */
interface ChunkPoints {
  codec: Codec;
  size: number;
  points: ResumePoint[];
}

/** Index of the first point at a position greater than `position`. */
function upperBound(points: readonly ResumePoint[], position: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid].position <= position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** What removing point `k` of `c` costs per byte it frees (see the module comment). */
function score(c: ChunkPoints, k: number): number {
  const p = c.points[k];
  const prev = k > 0 ? c.points[k - 1].position : 0;
  const next = k + 1 < c.points.length ? c.points[k + 1].position : c.size;
  return (2 * (p.position - prev) * (next - p.position)) / Math.max(1, p.bytes);
}

/** Who asks for a point: a recorder's chunk, codec and way of recording. */
interface Asker {
  readonly chunk: number;
  readonly size: number;
  readonly codec: Codec;
  /** Compact points are worth their time (see {@link PointStore.recorder}). */
  readonly pack: boolean;
  /** A pass from the chunk start, which goes on to its end. */
  readonly pass: boolean;
}

/** The index points of one image, shared by all of its readers. */
export class PointStore {
  /** Bytes held by points. */
  bytes = 0;
  /** Decoded bytes of the image's chunks that may get points, once a reader has said. */
  span = 0;
  /** Bytes reserved for points being made. */
  private reserved = 0;
  /** Running mean of compact points' size over the bytes reserved for them. */
  private packRatio = 1;
  private readonly chunks = new Map<number, ChunkPoints>();

  /**
   * @param memory the image's working-memory meter
   * @param cap most bytes points may hold
   */
  constructor(
    private readonly memory: MemoryMeter,
    readonly cap: number,
  ) {}

  /** Number of points held (for tests and statistics). */
  get count(): number {
    let n = 0;
    for (const c of this.chunks.values()) n += c.points.length;
    return n;
  }

  /** The last point of chunk `chunk` at or before `position` made by `codec`, if any. */
  nearest(chunk: number, position: number, codec: Codec): ResumePoint | undefined {
    const c = this.chunks.get(chunk);
    if (!c || c.codec !== codec) return undefined;
    const k = upperBound(c.points, position);
    return k > 0 ? c.points[k - 1] : undefined;
  }

  /**
   * A recorder for one cursor of `codec` decoding chunk `chunk` (`size` decoded bytes), or
   * undefined when the chunk is too small to need points. With `pack`, it asks for compact
   * points once memory for points is short: slower to make (pako deflates a zlib snapshot in
   * about the time it inflates 100 KiB), so passes from the chunk start (streams, validation)
   * keep theirs unpacked and only reads that seek pay for packing; a codec that packs cheaply
   * is asked for compact points always. `pass`: the cursor starts at the chunk start.
   */
  recorder(
    chunk: number,
    size: number,
    codec: Codec,
    pack: boolean,
    pass = false,
  ): PointRecorder | undefined {
    if (size < MIN_CHUNK || this.cap <= 0) return undefined;
    return new ChunkRecorder(this, { chunk, size, codec, pack, pass });
  }

  /** True when points use more than half their cap: new ones should be compact. */
  get tight(): boolean {
    return this.bytes + this.reserved > this.cap / 2;
  }

  /** @internal Whether the points `who` makes now are to be compact. */
  compact(who: Asker): boolean {
    return who.codec.packsCheaply === true || (who.pack && this.tight);
  }

  /** @internal Reserve `bytes` for a point of `who` at `position` if it is worth keeping. */
  reserve(who: Asker, position: number, bytes: number): boolean {
    const { chunk, size, codec } = who;
    const c = this.chunks.get(chunk);
    // Points of another codec (the registry changed): this chunk's index starts over.
    if (c && c.codec !== codec) this.drop(chunk);
    const points = this.chunks.get(chunk)?.points ?? [];
    const k = upperBound(points, position);
    const a = position - (k > 0 ? points[k - 1].position : 0);
    const b = (k < points.length ? points[k].position : size) - position;
    // What the point will likely hold: compact points are judged by the size they get.
    const expected = this.compact(who) ? bytes * this.packRatio : bytes;
    const gap = minGap(expected);
    const even = who.pass ? (EVEN * this.span * expected) / this.cap : 0;
    if (a < Math.max(gap, even) || b < gap) return false;
    // While a pass is under way, the gap ahead is unknown: take it to equal the one behind.
    const worth = (2 * a * Math.min(a, b)) / Math.max(1, expected);
    while (this.bytes + this.reserved + bytes > this.cap) {
      if (!this.evictCheapest(worth)) return false;
    }
    if (!tryAcquire(this.memory, bytes, "index point")) return false;
    this.reserved += bytes;
    return true;
  }

  /**
   * @internal Take the point reserved for (`compact`: asked for compact), or give the
   * reservation back.
   */
  add(who: Asker, reserved: number, point: ResumePoint | undefined, compact: boolean): void {
    const { chunk, size, codec } = who;
    this.reserved -= reserved;
    if (compact && point && point.bytes <= reserved) {
      this.packRatio = 0.9 * this.packRatio + (0.1 * point.bytes) / reserved;
    }
    let c = this.chunks.get(chunk);
    const kept = point !== undefined && point.bytes <= reserved && (!c || c.codec === codec);
    this.memory.release(kept ? reserved - point.bytes : reserved);
    if (!kept) return;
    if (!c) {
      c = { codec, size, points: [] };
      this.chunks.set(chunk, c);
    }
    const k = upperBound(c.points, point.position);
    if (k > 0 && c.points[k - 1].position === point.position) {
      this.memory.release(point.bytes);
      return;
    }
    c.points.splice(k, 0, point);
    this.bytes += point.bytes;
  }

  /** Evict the point of lowest score if it is below `below`; false when there is none. */
  private evictCheapest(below: number): boolean {
    let best: ChunkPoints | undefined;
    let bestK = -1;
    let bestScore = below;
    for (const c of this.chunks.values()) {
      for (let k = 0; k < c.points.length; k++) {
        const s = score(c, k);
        if (s < bestScore) {
          best = c;
          bestK = k;
          bestScore = s;
        }
      }
    }
    if (!best) return false;
    const [p] = best.points.splice(bestK, 1);
    this.bytes -= p.bytes;
    this.memory.release(p.bytes);
    return true;
  }

  /** Free at least `bytes` (cheapest points first) for another use; returns the bytes freed. */
  release(bytes: number): number {
    const before = this.bytes;
    while (before - this.bytes < bytes && this.evictCheapest(Number.POSITIVE_INFINITY)) {}
    return before - this.bytes;
  }

  /** Forget the points of chunk `chunk`. */
  drop(chunk: number): void {
    const c = this.chunks.get(chunk);
    if (!c) return;
    const held = c.points.reduce((n, p) => n + p.bytes, 0);
    this.bytes -= held;
    this.memory.release(held);
    this.chunks.delete(chunk);
  }

  /** Forget every point, releasing their memory. */
  clear(): void {
    for (const chunk of [...this.chunks.keys()]) this.drop(chunk);
  }
}

/** A {@link PointRecorder} for one cursor: at most one reservation outstanding. */
class ChunkRecorder implements PointRecorder {
  private pending = 0;
  /** The reservation was made for a compact point. */
  private packing = false;

  constructor(
    private readonly store: PointStore,
    private readonly who: Asker,
  ) {}

  get compact(): boolean {
    return this.store.compact(this.who);
  }

  reserve(position: number, bytes: number): boolean {
    this.add(undefined);
    if (this.store.reserve(this.who, position, bytes)) {
      this.pending = bytes;
      this.packing = this.compact;
    }
    return this.pending > 0;
  }

  add(point: ResumePoint | undefined): void {
    if (this.pending > 0) this.store.add(this.who, this.pending, point, this.packing);
    this.pending = 0;
  }
}
