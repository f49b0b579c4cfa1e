/**
 * The points a native cursor offers: at the block boundaries where its inflater stopped, with
 * the window taken from its output, the exact bit offset found by native-zlib-bits.ts, and the
 * window packed by node:zlib when the recorder asks for compact points.
 */
import { constants } from "node:zlib";
import type { DecodeContext, PointRecorder, ResumePoint } from "../../codecs/codec.js";
import {
  BlockPoint,
  blockPointBytes,
  STORED_HEADER,
  storedHistory,
  WINDOW,
} from "../../codecs/zlib/zlib-boundary.js";
import { exactBit, type NearInput, ROUND1 } from "./native-zlib-bits.js";
import { engineStep, giveEngine, takeEngine } from "./native-zlib-engine.js";

/** Working memory of a packing: zlib's deflate state at level 1 and its output. */
const PACK_BYTES = 320 * 1024;

const packOut = new Uint8Array(WINDOW);

/** `window` deflated with a sync flush by node:zlib, or null when that would not save an eighth. */
function packWindow(ctx: DecodeContext, window: Uint8Array): Uint8Array | null {
  const { memory } = ctx;
  if (memory.used + PACK_BYTES > memory.limit) return null;
  memory.acquire(PACK_BYTES, "zlib point packer");
  const z = takeEngine("pack");
  try {
    const room = window.length - (window.length >> 3);
    const flush = constants.Z_SYNC_FLUSH;
    const r = engineStep(z, flush, window, 0, window.length, packOut, 0, room);
    // Done only when all input went in and the flush fitted with room to spare.
    if (r === undefined || r[1] !== window.length || r[0] >= room) return null;
    return packOut.slice(0, r[0]);
  } finally {
    giveEngine("pack", z);
    memory.release(PACK_BYTES);
  }
}

/**
 * Records the points of one native cursor: the stops it notes during a call, settled once the
 * call's output is complete, and the last 32 KiB of output before the call (the tail), for the
 * window of a stop near the call's start.
 */
export class BoundaryRecorder {
  private readonly tail = new Uint8Array(WINDOW);
  private tailLength = 0;
  /** Stops noted during the current call: output offset, chunk bytes consumed; in pairs. */
  private readonly stops: number[] = [];
  private held = WINDOW;

  /** @param after points are made only past this decoded position (a resumed cursor's start) */
  constructor(
    private readonly ctx: DecodeContext,
    private readonly rec: PointRecorder,
    private readonly after: number,
  ) {
    ctx.memory.acquire(WINDOW, "zlib point window");
  }

  /** Note that the inflater stopped at a block boundary after `at` bytes of this call's output. */
  note(at: number, consumed: number): void {
    this.stops.push(at, consumed);
  }

  /** Remember decoded bytes that precede the next call's output. */
  keep(bytes: Uint8Array): void {
    const n = bytes.length;
    if (n >= WINDOW) {
      this.tail.set(bytes.subarray(n - WINDOW));
      this.tailLength = WINDOW;
      return;
    }
    const old = Math.min(this.tailLength, WINDOW - n);
    this.tail.copyWithin(0, this.tailLength - old, this.tailLength);
    this.tail.set(bytes, old);
    this.tailLength = old + n;
  }

  /**
   * Offer the stops noted in a call that produced `out[0, produced)` at decoded `position`, then
   * keep the output's end as the tail. `near`: the compressed bytes the inflater has at hand.
   */
  async settle(
    out: Uint8Array,
    produced: number,
    position: number,
    near: NearInput | undefined,
  ): Promise<void> {
    const { stops, rec } = this;
    try {
      for (let i = 0; i < stops.length; i += 2) {
        const at = stops[i];
        const q = position + at;
        // The candidates are told apart by the bytes after the stop: enough must follow.
        if (produced - at < ROUND1 || q <= this.after) continue;
        const length = Math.min(WINDOW, q);
        if (!rec.reserve(q, blockPointBytes(length))) continue;
        let point: ResumePoint | undefined;
        try {
          point = await this.make(out, produced, at, q, length, stops[i + 1], near);
        } finally {
          rec.add(point);
        }
      }
    } finally {
      stops.length = 0;
      this.keep(out.subarray(0, produced));
    }
  }

  private async make(
    out: Uint8Array,
    produced: number,
    at: number,
    position: number,
    length: number,
    consumed: number,
    near: NearInput | undefined,
  ): Promise<ResumePoint | undefined> {
    const stored = storedHistory(length);
    const fromOut = Math.min(at, length);
    const fromTail = length - fromOut;
    stored.set(this.tail.subarray(this.tailLength - fromTail, this.tailLength), STORED_HEADER);
    stored.set(out.subarray(at - fromOut, at), STORED_HEADER + fromTail);
    const window = stored.subarray(STORED_HEADER);
    const bit = await exactBit(this.ctx, consumed, window, out.subarray(at, produced), near);
    if (bit === undefined) return undefined;
    const packed = this.rec.compact ? packWindow(this.ctx, window) : null;
    const state = new BlockPoint(bit, packed ?? stored, length, packed !== null, undefined);
    return { position, bytes: state.bytes, state };
  }

  close(): void {
    if (this.held) this.ctx.memory.release(this.held);
    this.held = 0;
  }
}
