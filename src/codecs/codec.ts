/**
 * The one small interface every chunk codec implements: open a cursor over one chunk's
 * compressed bytes that yields its decoded bytes in order, capped at the declared size.
 */

import { DmgError, type ErrorCode, type ErrorLocation } from "../core/errors.js";
import type { MemoryMeter } from "../core/limits.js";
import type { ByteSource } from "../sources/source.js";
import type { InputBuffers } from "./input.js";

/** What a codec is given to decode one chunk. */
export interface DecodeContext {
  source: ByteSource;
  /** File offset of the chunk's compressed bytes (already checked to lie in the data fork). */
  offset: number;
  /** Compressed length in bytes (already checked against the budget). */
  length: number;
  /** Declared decoded size: sector count x 512. Output must reach it exactly. */
  outputSize: number;
  /** Working-memory accounting: acquire before allocating, release on close. */
  memory: MemoryMeter;
  /** Table and chunk index, for errors. */
  where: ErrorLocation;
  /** The image's pool of input buffers, reused from chunk to chunk. Optional. */
  buffers?: InputBuffers;
  /**
   * Optional: where a codec that can resume mid-chunk ({@link Codec.resume}) offers the points it
   * passes while decoding. Codecs that cannot make points ignore it (or hand the chunk to one
   * that can).
   */
  points?: PointRecorder;
}

/**
 * A place inside a chunk where decoding can resume without starting over: the decoded position
 * and the codec's private state there (for zlib a snapshot of the inflater, for bzip2 the bit
 * offset of a block). Made by a cursor of one codec, resumed only by that codec.
 */
export interface ResumePoint {
  /** Decoded bytes of the chunk before the point. */
  readonly position: number;
  /** Working memory the point holds, in bytes. */
  readonly bytes: number;
  /** Codec-private state. */
  readonly state: unknown;
}

/** Collects the resume points a cursor passes (the image reader's index points). */
export interface PointRecorder {
  /**
   * Whether a point at decoded `position`, holding about `bytes`, is wanted. When true, `bytes`
   * of working memory stay reserved for it until {@link PointRecorder.add} is called.
   */
  reserve(position: number, bytes: number): boolean;
  /**
   * Hand over the point reserved for (holding at most the reserved bytes; the rest is given
   * back), or `undefined` to give the whole reservation back.
   */
  add(point: ResumePoint | undefined): void;
  /** True when memory for points is short: store them compactly even if that is slower. */
  readonly compact: boolean;
}

/** A cursor over one chunk's decoded bytes. */
export interface ChunkCursor {
  /** Decoded bytes handed out so far. */
  readonly position: number;
  /**
   * The next piece of decoded output, at most `max` bytes (`max` >= 1). Returns an empty array
   * only at the end of the chunk, after checking that the output reached the declared size
   * exactly and that no compressed input is left over. The returned view stays valid only
   * until the next call.
   */
  next(max: number): Promise<Uint8Array>;
  /** Release buffers and working memory. Safe to call more than once. */
  close(): void;
}

/** A codec: one per chunk type. */
export interface Codec {
  /** mish chunk type code (UDZO, UDBZ, ...). */
  readonly type: number;
  /** Short name for messages ("zlib"). */
  readonly name: string;
  open(ctx: DecodeContext): ChunkCursor;
  /**
   * Optional: a cursor that starts at `point`, a point an earlier cursor of this codec offered
   * for the same chunk and source, and yields the chunk's bytes from `point.position` on with
   * the same checks (and the same errors) as a cursor opened at the chunk start. A codec with
   * `resume` offers points to `ctx.points` from the cursors `open` and `resume` make.
   */
  resume?(ctx: DecodeContext, point: ResumePoint): ChunkCursor;
  /**
   * Optional: its cursors pack points at little cost (native code), so they are asked for
   * compact points whenever memory for points is short, even on passes from the chunk start.
   */
  readonly packsCheaply?: boolean;
}

/** Raise a decode error for a chunk. */
export function decodeError(
  ctx: DecodeContext,
  code: ErrorCode,
  message: string,
  offset = ctx.offset,
): never {
  const where =
    ctx.where.table !== undefined ? `table ${ctx.where.table} chunk ${ctx.where.chunk}: ` : "";
  throw new DmgError(code, `${where}${message}`, offset, ctx.where);
}

/**
 * Convert anything a codec library threw into a DmgError for this chunk (attack class E30:
 * pako throws plain Errors, seek-bzip TypeErrors with an error code).
 */
export function wrapCodecError(ctx: DecodeContext, codec: string, e: unknown): DmgError {
  if (e instanceof DmgError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  const where =
    ctx.where.table !== undefined ? `table ${ctx.where.table} chunk ${ctx.where.chunk}: ` : "";
  return new DmgError(
    "DECODE_CORRUPT",
    `${where}${codec} data is corrupt: ${msg}`,
    ctx.offset,
    ctx.where,
  );
}

/** The state {@link guardedNext} needs from a cursor. */
export interface GuardedCursor {
  readonly ctx: DecodeContext;
  /** Working memory held; 0 once closed. */
  held: number;
  /** Set once the chunk's end has been verified. */
  done: boolean;
  /** The first error, latched: a failed decoder is never resumed. */
  failure: DmgError | undefined;
  close(): void;
}

const EMPTY = new Uint8Array(0);

/**
 * The part of `next()` every codec shares: refuse use after close, latch the first error
 * (converted at the codec boundary, located in its chunk) and release memory on failure.
 */
export async function guardedNext(
  cursor: GuardedCursor,
  codec: string,
  max: number,
  step: (max: number) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  if (cursor.failure !== undefined) throw cursor.failure;
  if (cursor.done) return EMPTY;
  if (cursor.held === 0)
    decodeError(cursor.ctx, "INVALID_ARGUMENT", `${codec} cursor used after close()`);
  try {
    return await step(max >= 1 ? Math.floor(max) : 1);
  } catch (e) {
    // Errors from below (a failing source) get this chunk's table and index too.
    const err = wrapCodecError(cursor.ctx, codec, e);
    cursor.failure = err.table === undefined ? err.locate(cursor.ctx.where) : err;
    cursor.close();
    throw cursor.failure;
  }
}

/**
 * A caller's codec (`openDmg(src, { codecs })`) as read once at the API boundary: every
 * property read a single time, so that a getter can neither throw later nor change its answer.
 */
export interface CodecParts {
  type: number;
  name: string;
  open: (ctx: DecodeContext) => unknown;
  resume: ((ctx: DecodeContext, point: ResumePoint) => unknown) | undefined;
  packsCheaply: boolean;
  /** The caller's object: `this` of its methods. */
  self: object;
}

/**
 * A codec that calls a caller's codec, which is code the library does not control (attack
 * class G44): whatever it throws becomes a DmgError of the chunk (DECODE_CORRUPT, as for the
 * libraries under the built-in codecs, attack class E30), and its cursors hand out only
 * Uint8Arrays of at most the `max` asked for, adding up to the chunk's declared size exactly
 * (E25-E29: never past the declared size, never short of it). Every check is O(1) a call.
 * The built-in codecs are never wrapped.
 */
export function callerCodec(parts: CodecParts): Codec {
  const { name, self, open, resume } = parts;
  const codec: { -readonly [K in keyof Codec]: Codec[K] } = {
    type: parts.type,
    name,
    open: (ctx) => callerCursor(ctx, name, 0, (c) => open.call(self, c)),
  };
  if (resume !== undefined) {
    codec.resume = (ctx, point) =>
      callerCursor(ctx, name, resumePosition(ctx, name, point), (c) => resume.call(self, c, point));
  }
  if (parts.packsCheaply) codec.packsCheaply = true;
  return Object.freeze(codec);
}

/** A broken promise of a caller's codec: INVALID_ARGUMENT in its chunk. */
function contractError(ctx: DecodeContext, codec: string, message: string): DmgError {
  const where =
    ctx.where.table !== undefined ? `table ${ctx.where.table} chunk ${ctx.where.chunk}: ` : "";
  return new DmgError(
    "INVALID_ARGUMENT",
    `${where}codec ${codec}: ${message}`,
    ctx.offset,
    ctx.where,
  );
}

/** What a caller's codec threw, as a DmgError located in its chunk. */
function thrownBy(ctx: DecodeContext, codec: string, e: unknown): DmgError {
  const err = wrapCodecError(ctx, codec, e);
  return err.table === undefined ? err.locate(ctx.where) : err;
}

/** Where a cursor resumed at `point` starts: a position inside the chunk. */
function resumePosition(ctx: DecodeContext, codec: string, point: ResumePoint): number {
  const position = point.position; // a snapshot made by callerPoints: a plain number
  if (!Number.isSafeInteger(position) || position < 0 || position > ctx.outputSize) {
    throw contractError(ctx, codec, `resume point at ${position} lies outside the chunk`);
  }
  return position;
}

/**
 * Open a cursor of a caller's codec through `make`, with the context's point recorder guarded,
 * and read its `next` and `close` once.
 */
function callerCursor(
  ctx: DecodeContext,
  codec: string,
  start: number,
  make: (ctx: DecodeContext) => unknown,
): ChunkCursor {
  const own = ctx.points ? { ...ctx, points: callerPoints(ctx, codec, ctx.points) } : ctx;
  let inner: unknown;
  let next: unknown;
  let close: unknown;
  try {
    inner = make(own);
    if (typeof inner === "object" && inner !== null) {
      next = (inner as ChunkCursor).next;
      close = (inner as ChunkCursor).close;
    }
  } catch (e) {
    throw thrownBy(ctx, codec, e);
  }
  if (typeof next !== "function" || typeof close !== "function") {
    // Release what it may hold; its own failure to close would hide this error.
    if (typeof close === "function") {
      try {
        close.call(inner);
      } catch {}
    }
    throw contractError(ctx, codec, "open() or resume() returned no cursor { next(max), close() }");
  }
  return new CallerCursor(
    ctx,
    codec,
    start,
    inner as object,
    next as (max: number) => unknown,
    close as () => unknown,
  );
}

/** A cursor of a caller's codec, held to the {@link ChunkCursor} contract. */
class CallerCursor implements ChunkCursor {
  private at: number;
  private closed = false;
  /** The first error, latched: a failed cursor is never called again. */
  private failure: DmgError | undefined;

  constructor(
    private readonly ctx: DecodeContext,
    private readonly codec: string,
    start: number,
    private readonly inner: object,
    private readonly nextFn: (max: number) => unknown,
    private readonly closeFn: () => unknown,
  ) {
    this.at = start;
  }

  get position(): number {
    return this.at;
  }

  async next(max: number): Promise<Uint8Array> {
    if (this.failure !== undefined) throw this.failure;
    if (this.closed) throw contractError(this.ctx, this.codec, "cursor used after close()");
    let piece: unknown;
    try {
      piece = await this.nextFn.call(this.inner, max);
    } catch (e) {
      throw this.fail(thrownBy(this.ctx, this.codec, e));
    }
    if (!(piece instanceof Uint8Array)) {
      const what = piece === null ? "null" : typeof piece;
      throw this.fail(
        contractError(this.ctx, this.codec, `next() returned ${what}, not a Uint8Array`),
      );
    }
    const n = piece.length;
    if (n > max) {
      throw this.fail(contractError(this.ctx, this.codec, `next(${max}) returned ${n} bytes`));
    }
    const size = this.ctx.outputSize;
    if (this.at + n > size) {
      throw this.fail(
        new DmgError(
          "DECODE_OVERRUN",
          `${this.where()}${this.codec} decodes past the chunk's ${size} declared bytes`,
          this.ctx.offset,
          this.ctx.where,
        ),
      );
    }
    if (n === 0 && this.at < size) {
      throw this.fail(
        new DmgError(
          "DECODE_SHORT",
          `${this.where()}${this.codec} ends after ${this.at} of the chunk's ${size} declared bytes`,
          this.ctx.offset,
          this.ctx.where,
        ),
      );
    }
    this.at += n;
    return piece;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.closeFn.call(this.inner);
    } catch (e) {
      throw thrownBy(this.ctx, this.codec, e);
    }
  }

  /** Latch `err` and close the cursor, whose state is now unknown. */
  private fail(err: DmgError): DmgError {
    this.failure = err;
    if (!this.closed) {
      this.closed = true;
      try {
        this.closeFn.call(this.inner);
      } catch {
        // Already failing: the first error is the one to report.
      }
    }
    return err;
  }

  private where(): string {
    const w = this.ctx.where;
    return w.table !== undefined ? `table ${w.table} chunk ${w.chunk}: ` : "";
  }
}

/**
 * The point recorder handed to a caller's codec: the points it offers are checked and copied
 * (read once), so that the index holds plain numbers whatever object the codec made.
 */
function callerPoints(ctx: DecodeContext, codec: string, points: PointRecorder): PointRecorder {
  const inChunk = (p: unknown): p is number =>
    typeof p === "number" && Number.isSafeInteger(p) && p >= 0 && p <= ctx.outputSize;
  return {
    reserve(position: number, bytes: number): boolean {
      if (!inChunk(position) || !Number.isSafeInteger(bytes) || bytes < 0) {
        throw contractError(
          ctx,
          codec,
          `reserve(${position}, ${bytes}) is not a point in the chunk`,
        );
      }
      return points.reserve(position, bytes);
    },
    add(point: ResumePoint | undefined): void {
      if (point === undefined) {
        points.add(undefined);
        return;
      }
      let copy: ResumePoint | undefined;
      try {
        if (typeof point === "object" && point !== null) {
          const { position, bytes, state } = point;
          if (inChunk(position) && Number.isSafeInteger(bytes) && bytes >= 0) {
            copy = Object.freeze({ position, bytes, state });
          }
        }
      } catch (e) {
        points.add(undefined);
        throw thrownBy(ctx, codec, e);
      }
      points.add(copy);
      if (copy === undefined) {
        throw contractError(
          ctx,
          codec,
          "offered a resume point without a position in the chunk and a size",
        );
      }
    },
    get compact(): boolean {
      return points.compact;
    },
  };
}
