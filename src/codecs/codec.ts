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
