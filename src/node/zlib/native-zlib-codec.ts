/**
 * UDZO decoding through node:zlib: the zlib C library, about four times faster than pako,
 * with pako's exact bounds (output capped at the declared size, one byte past it decoded to
 * detect an overrun), driven through the engines' synchronous handles (native-zlib-engine.ts).
 *
 * Index points: a cursor given a recorder stops at every deflate block boundary (Z_BLOCK) and
 * offers points there (native-zlib-points.ts). A cursor resumed at a point is a raw inflater fed
 * the point's history and alignment (codecs/zlib-boundary.ts), then the chunk's bytes from
 * there on, so it too decodes at native speed.
 *
 * Native zlib only ever takes the honest path. The moment it sees anything else (a zlib
 * error, output past the declared size, an early end, input left over), the chunk is handed
 * to a judge that decodes it again from the start (pako for a cursor from the start, this codec
 * for a resumed one) and gives the verdict; so the codes, messages and offsets of every decode
 * error are the pako path's by construction. A resumed cursor also hands over at the end of
 * the stream: only a decode from the start can check the chunk's Adler-32.
 */
import { constants } from "node:zlib";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  type GuardedCursor,
  guardedNext,
  type ResumePoint,
} from "../../codecs/codec.js";
import { deferredCursor } from "../../codecs/deferred.js";
import { CORE_CODECS, type CodecDefaults, withDefault } from "../../codecs/registry.js";
import type { BlockPoint } from "../../codecs/zlib/zlib-boundary.js";
import { DmgError } from "../../core/errors.js";
import { UDZO } from "../../format/types.js";
import { NODE_CIPHERS } from "../ciphers.js";
import {
  type Engine,
  engineStep,
  giveBuffer,
  giveEngine,
  nativeZlibAvailable,
  OUT_BUFFER,
  takeBuffer,
  takeEngine,
} from "./native-zlib-engine.js";
import type * as ExtrasModule from "./native-zlib-extras.js";
import { Feed } from "./native-zlib-feed.js";

export { nativeZlibAvailable } from "./native-zlib-engine.js";

/** Working memory accounted for zlib's inflate state and 32 KiB window, rounded up. */
const INFLATE_STATE = 64 * 1024;

const EMPTY = new Uint8Array(0);
const { Z_BLOCK, Z_FINISH, Z_NO_FLUSH } = constants;

type Extras = typeof ExtrasModule;

/** The judge and the index-point machinery, once loaded (native-zlib-extras.ts). */
let extras: Extras | undefined;
let loadingExtras: Promise<Extras> | undefined;

function loadExtras(): Promise<Extras> {
  loadingExtras ??= import("./native-zlib-extras.js").then((m) => {
    extras = m;
    return m;
  });
  return loadingExtras;
}

/** pako's cursor for `ctx`, from the chunk start: the judge. */
function pakoCursor(ctx: DecodeContext): ChunkCursor {
  return deferredCursor(async () => (await loadExtras()).zlibCodec.open(ctx));
}

/** A block point of this codec and the decoded position it stands at. */
interface Start {
  point: BlockPoint;
  position: number;
}

/**
 * True when `b[at..]` begins with a valid zlib header (RFC 1950): method 8 with a window of at
 * most 32 KiB, no preset dictionary, and the check bits right. Fewer than two bytes: unknown,
 * true (the engine decides).
 */
function zlibHeader(b: Uint8Array, at: number, left: number): boolean {
  if (left < 2) return true;
  const cmf = b[at];
  const flg = b[at + 1];
  return (cmf & 0x0f) === 8 && cmf >> 4 <= 7 && (flg & 0x20) === 0 && (cmf * 256 + flg) % 31 === 0;
}

class NativeZlibCursor implements ChunkCursor, GuardedCursor {
  position = 0;
  held = 0;
  done = false;
  failure: DmgError | undefined;
  private engine: Engine | undefined;
  private feed: Feed | undefined;
  private out: Uint8Array | undefined;
  /** Output still to discard: the window a resumed inflater decodes from the history. */
  private skip = 0;
  private readonly recorder: ExtrasModule.BoundaryRecorder | undefined;
  /** The cursor that judges the chunk once native zlib has seen an anomaly. */
  private judge: ChunkCursor | undefined;
  /** The stream's two-byte header has been looked at (a cursor from the chunk start). */
  private headerSeen = false;

  /** `extras` is given when `ctx` records points or `start` is set (both need it). */
  constructor(
    readonly ctx: DecodeContext,
    private readonly start?: Start,
    private readonly extras?: Extras,
  ) {
    // Degenerate contexts take the pako path throughout, and so do budgets too tight for the
    // 1 MiB buffer: a budget refusal is then pako's own, as on the core. A resumed cursor
    // lets the budget error through (the reader then decodes from the chunk start).
    if (ctx.length === 0 || ctx.outputSize === 0 || !this.acquire()) {
      this.judge = extras ? extras.zlibCodec.open(ctx) : pakoCursor(ctx);
      return;
    }
    this.engine = takeEngine(start ? "raw" : "zlib");
    this.out = takeBuffer();
    if (start) {
      this.position = start.position;
      this.skip = start.point.windowLength;
    }
    if (ctx.points && extras?.boundariesSupported()) {
      this.recorder = new extras.BoundaryRecorder(ctx, ctx.points, this.position);
    }
  }

  /**
   * Account the state, buffers and input; false (nothing held) when over budget, but for a
   * resumed cursor (then the budget error is thrown).
   */
  private acquire(): boolean {
    const point = this.start?.point;
    const bytes = INFLATE_STATE + OUT_BUFFER + Feed.extra(point);
    try {
      this.ctx.memory.acquire(bytes, "zlib decoder state and output buffer");
      this.held = bytes;
      this.feed = new Feed(this.ctx, point, this.extras);
      return true;
    } catch (e) {
      this.release();
      if (!point && e instanceof DmgError && e.code === "BUDGET_WORKING_MEMORY") return false;
      throw e;
    }
  }

  next(max: number): Promise<Uint8Array> {
    if (this.judge) return this.judge.next(max);
    return guardedNext(this, "zlib", max, (n) => this.step(n));
  }

  private async step(max: number): Promise<Uint8Array> {
    const { ctx, recorder } = this;
    const engine = this.engine!;
    const feed = this.feed!;
    const out = this.out!;
    const remaining = ctx.outputSize - this.position;
    // Past the declared size, room for one byte: producing it proves an overrun (E25).
    const cap = remaining > 0 ? Math.min(max, OUT_BUFFER, remaining) : 1;
    let produced = 0;
    // Output since the last call that did not stop at a boundary: the calls in between make
    // up the one call a cursor that does not record would have made.
    let call = 0;
    for (;;) {
      await feed.refill();
      // Not a zlib stream at all: the judge says so at once. Native zlib would say so too,
      // but only after destroying its engine and making an error object with a stack trace,
      // which a table of a hundred thousand corrupt chunks pays a hundred thousand times
      // (attack class G35).
      if (!this.headerSeen && !this.start) {
        this.headerSeen = true;
        if (!zlibHeader(feed.piece, feed.at, feed.left)) return this.handOver(max);
      }
      // All input is in once this piece is: Z_FINISH then reports a stream cut short as an
      // error. Before that, a recording cursor stops at every block boundary (Z_BLOCK) and goes
      // on: it hands out the same pieces as one that does not record (so the bytes decoded
      // before an error are the same).
      const { last, left } = feed;
      const flush = last ? Z_FINISH : recorder ? Z_BLOCK : Z_NO_FLUSH;
      const skipping = this.skip > 0;
      const room = skipping ? Math.min(this.skip, OUT_BUFFER) : cap - produced;
      const r = engineStep(engine, flush, feed.piece, feed.at, left, out, produced, room);
      if (r === undefined) return this.handOver(max);
      const [got, consumed] = r;
      feed.at += consumed;
      const progress = got > 0 || consumed > 0;
      if (skipping) {
        // The window, decoded from the history: not output, but the recorder's tail.
        recorder?.keep(out.subarray(produced, produced + got));
        this.skip -= got;
        if (progress || (left === 0 && !last)) continue;
        return this.handOver(max);
      }
      if (got > 0 && remaining <= 0) return this.handOver(max);
      produced += got;
      call += got;
      // Stopped, after some progress, with room and input left: at a block boundary.
      const stopped = flush === Z_BLOCK && progress && got < room && consumed < left;
      if (stopped && !feed.inPrefix) recorder!.note(produced, feed.consumed);
      if (produced === cap) break;
      if (stopped) continue;
      if (call > 0) break;
      if (progress || (left === 0 && !last)) continue;
      // No progress with room for output: under Z_FINISH without an error, the stream has
      // ended. It must end exactly at the declared size with no input left over; a resumed
      // cursor cannot check the Adler-32.
      if (this.start || remaining > 0 || left > 0 || !last) return this.handOver(max);
      this.done = true;
      this.close();
      return EMPTY;
    }
    await recorder?.settle(out, produced, this.position, feed.near);
    this.position += produced;
    return out.subarray(0, produced);
  }

  /**
   * Native zlib saw something other than an honest stream (or a resumed cursor reached the
   * end): let a judge decode the chunk again from its start, skip what was already handed out,
   * and continue (it raises the error, or checks the end).
   */
  private async handOver(max: number): Promise<Uint8Array> {
    const handedOut = this.position;
    const resumed = this.start !== undefined;
    this.release();
    // Judges record no points.
    const ctx = { ...this.ctx, points: undefined };
    const judge = resumed ? new NativeZlibCursor(ctx) : pakoCursor(ctx);
    this.judge = judge;
    for (let skipped = 0; skipped < handedOut; ) {
      const piece = await judge.next(handedOut - skipped);
      if (piece.length === 0) break;
      skipped += piece.length;
    }
    return judge.next(max);
  }

  /** Give back memory, the engine and the buffer. */
  private release(): void {
    if (this.engine) giveEngine(this.start ? "raw" : "zlib", this.engine);
    this.engine = undefined;
    if (this.out) giveBuffer(this.out);
    this.out = undefined;
    this.recorder?.close();
    this.feed?.close();
    this.feed = undefined;
    if (this.held) this.ctx.memory.release(this.held);
    this.held = 0;
  }

  close(): void {
    this.judge?.close();
    this.release();
  }
}

/**
 * The UDZO codec through node:zlib, with pako judging any chunk that is not an honest zlib
 * stream. The Node entry point's default codecs use it when {@link nativeZlibAvailable} is
 * true. Its cursors offer block-boundary points and resume at
 * them natively; points cost little to pack, so it asks for compact ones whenever memory is
 * short.
 */
export const nativeZlibCodec: Codec = {
  type: UDZO,
  name: "zlib",
  packsCheaply: true,
  open(ctx: DecodeContext): ChunkCursor {
    if (!ctx.points) return new NativeZlibCursor(ctx);
    const x = extras;
    return x
      ? openRecording(ctx, x)
      : deferredCursor(async () => openRecording(ctx, await loadExtras()));
  },
  resume(ctx: DecodeContext, point: ResumePoint): ChunkCursor {
    // Points come from cursors that loaded the extras, so they are loaded by now; the reader
    // needs a budget refusal here, synchronously, to start over from the chunk start.
    const x = extras;
    if (x) return resumeAt(ctx, point, x);
    return deferredCursor(async () => resumeAt(ctx, point, await loadExtras()), point.position);
  },
};

function openRecording(ctx: DecodeContext, x: Extras): ChunkCursor {
  // Where node:zlib does not stop at block boundaries as expected, pako makes the points.
  if (!x.boundariesSupported()) return x.zlibCodec.open(ctx);
  return new NativeZlibCursor(ctx, undefined, x);
}

function resumeAt(ctx: DecodeContext, point: ResumePoint, x: Extras): ChunkCursor {
  const s = x.zlibPoint(point, ctx, false);
  // Snapshots come from pako (a budget too tight for native buffers): pako resumes them.
  if (s instanceof x.InflateSnapshot) return x.zlibCodec.resume!(ctx, point);
  if (!s) decodeError(ctx, "INVALID_ARGUMENT", "not a resume point of the zlib codec");
  return new NativeZlibCursor(ctx, { point: s, position: point.position }, x);
}

/**
 * The Node entry point's default codecs: the core's, with {@link nativeZlibCodec} for UDZO
 * chunks where node:zlib allows it (else pako stays), and node:crypto's ciphers for encrypted
 * images.
 */
export const NODE_CODECS: CodecDefaults = Object.freeze({
  ...(nativeZlibAvailable ? withDefault(CORE_CODECS, nativeZlibCodec) : CORE_CODECS),
  ciphers: NODE_CIPHERS,
});
