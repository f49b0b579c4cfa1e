/**
 * The index points a pako zlib cursor offers its recorder: at deflate block boundaries (a
 * window, a bit offset and the Adler-32 so far), and where no boundary has passed for
 * {@link FAR_GAP} bytes, snapshots of the inflater in the middle of a block.
 */

import type { DecodeContext, ResumePoint } from "../codec.js";
import type { ZStream } from "./pako.js";
import {
  BlockPoint,
  blockPointBytes,
  blockPointFits,
  pointByte,
  pointWindow,
  STORED_HEADER,
  storedHistory,
  WINDOW,
} from "./zlib-boundary.js";
import { PACKER_BYTES, SnapshotPacker } from "./zlib-pack.js";
import {
  captureInflate,
  InflateSnapshot,
  inflateBit,
  inflateWindow,
  placeInflate,
  restoreInflate,
  snapshotBytes,
} from "./zlib-snapshot.js";

/**
 * Snapshots are offered only at multiples of this many decoded bytes, so that the decoded pages
 * an image caches (of the same size) start at a point.
 */
export const POINT_ALIGN = 64 * 1024;
/**
 * Mid-block snapshots only where no block boundary has passed for this many decoded bytes:
 * level 6 ends a block every 16K symbols, so only long runs of repeats (or another encoder's
 * huge blocks) leave boundaries this far apart.
 */
export const FAR_GAP = 1024 * 1024;

/** Makes the points of one recording cursor, packing them when the recorder asks. */
export class PointMaker {
  /** Working memory held for the packer. */
  held = 0;
  private packer: SnapshotPacker | undefined;

  constructor(private readonly ctx: DecodeContext) {}

  /** A packer when points should be compact and there is room for one (best effort). */
  private packerFor(compact: boolean): SnapshotPacker | undefined {
    if (!compact || this.packer) return this.packer;
    const { memory } = this.ctx;
    if (memory.used + PACKER_BYTES > memory.limit) return undefined;
    memory.acquire(PACKER_BYTES, "zlib point packer");
    this.held += PACKER_BYTES;
    this.packer = new SnapshotPacker();
    return this.packer;
  }

  /** Offer a block-boundary point: `strm` stands between two blocks, `position` bytes out. */
  boundary(strm: ZStream, position: number): void {
    const rec = this.ctx.points!;
    const length = Math.min(WINDOW, position);
    if (!rec.reserve(position, blockPointBytes(length))) return;
    let point: ResumePoint | undefined;
    try {
      const stored = storedHistory(length);
      inflateWindow(strm, stored, STORED_HEADER);
      const window = stored.subarray(STORED_HEADER);
      const packed = this.packerFor(rec.compact)?.pack(window) ?? null;
      const bit = inflateBit(strm);
      const state = new BlockPoint(bit, packed ?? stored, length, packed !== null, strm.adler);
      // Offer only what resume() accepts: a boundary at the declared end of the output, or
      // with no input left after it, would be refused there as a foreign point (found by
      // fuzzing: a resume then said INVALID_ARGUMENT where the decode says DECODE_CORRUPT).
      if (blockPointFits(state, position, this.ctx.length, this.ctx.outputSize)) {
        point = { position, bytes: state.bytes, state };
      }
    } finally {
      rec.add(point);
    }
  }

  /** Offer a snapshot of `strm`, `position` bytes out, wherever it stands. */
  snapshot(strm: ZStream, position: number): void {
    const rec = this.ctx.points!;
    if (!rec.reserve(position, snapshotBytes(strm))) return;
    let point: ResumePoint | undefined;
    try {
      const snap = captureInflate(strm, this.packerFor(rec.compact));
      point = { position, bytes: snap.bytes, state: snap };
    } finally {
      rec.add(point);
    }
  }

  close(): void {
    this.packer?.close();
    this.packer = undefined;
    if (this.held) this.ctx.memory.release(this.held);
    this.held = 0;
  }
}

/** A zlib point's state. */
export type ZlibPoint = InflateSnapshot | BlockPoint;

/**
 * The state of `point` when it is a zlib point that can belong to the chunk of `ctx` (a block
 * point with its Adler-32 when `check`), else undefined.
 */
export function zlibPoint(
  point: ResumePoint,
  ctx: DecodeContext,
  check: boolean,
): ZlibPoint | undefined {
  const s = point.state;
  if (s instanceof InflateSnapshot) return s.totalOut === point.position ? s : undefined;
  const fits =
    s instanceof BlockPoint &&
    (!check || s.check !== undefined) &&
    blockPointFits(s, point.position, ctx.length, ctx.outputSize);
  return fits ? s : undefined;
}

/**
 * Load `from`, a point at decoded `position`, into `strm` (fresh from zlibInflateInit). Returns
 * the compressed bytes consumed before it, and the bits of the next byte that come before it;
 * or null if it does not load (it always does: points never leave memory).
 */
export function loadPoint(
  strm: ZStream,
  from: ZlibPoint,
  position: number,
): { consumed: number; prime: number } | null {
  if (from instanceof InflateSnapshot) {
    return restoreInflate(strm, from) ? { consumed: from.totalIn, prime: 0 } : null;
  }
  const window = pointWindow(from);
  if (window === null || from.check === undefined) return null;
  placeInflate(strm, window, position, from.check);
  strm.total_in = pointByte(from);
  return { consumed: strm.total_in, prime: from.bit % 8 };
}
