/**
 * UDZO chunks: one zlib stream (RFC 1950) per chunk, inflated with pako's low-level streaming
 * API into a fixed output buffer, so neither the compressed nor the decoded chunk is ever held
 * whole in memory. Given a point recorder, a cursor stops at every deflate block boundary and
 * offers a point there (and mid-block snapshots where boundaries are far apart, see
 * zlib-points.ts); {@link zlibCodec}.resume continues from either kind.
 */

import type { DmgError } from "../../core/errors.js";
import { UDZO } from "../../format/types.js";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  guardedNext,
  type ResumePoint,
} from "../codec.js";
import { ChunkInput } from "../input.js";
import {
  Z_BLOCK,
  Z_BUF_ERROR,
  Z_NEED_DICT,
  Z_NO_FLUSH,
  Z_OK,
  Z_STREAM_END,
  ZStream,
  zlibInflate,
  zlibInflateEnd,
  zlibInflateInit,
} from "./pako.js";
import {
  FAR_GAP,
  loadPoint,
  POINT_ALIGN,
  PointMaker,
  type ZlibPoint,
  zlibPoint,
} from "./zlib-points.js";
import { primeInflate, SNAPSHOT_MAX, snapshotsSupported } from "./zlib-snapshot.js";

export { POINT_ALIGN } from "./zlib-points.js";

/** Size of the decoded-output buffer each cursor owns. */
const OUT_BUFFER = 64 * 1024;
/**
 * Working memory accounted for pako's inflate state: about 13 KB of tables and scratch plus
 * the 32 KiB window it allocates on first output, rounded up.
 */
const INFLATE_STATE = 64 * 1024;

const EMPTY = new Uint8Array(0);

class ZlibCursor implements ChunkCursor {
  position = 0;
  private readonly input: ChunkInput;
  private readonly strm = new ZStream();
  private readonly out: Uint8Array<ArrayBuffer>;
  held = 0;
  private inputDone = false;
  private ended = false;
  done = false;
  failure: DmgError | undefined;
  /** Makes the points offered to `ctx.points`; undefined when there is no recorder. */
  private readonly maker: PointMaker | undefined;
  /** Decoded position of the last block boundary passed. */
  private boundary = 0;
  /** Resumed inside a byte: the bits of the first byte fed that come before the point. */
  private prime = 0;

  constructor(
    readonly ctx: DecodeContext,
    from?: ZlibPoint,
    at = 0,
  ) {
    // A resumed cursor also holds the unpacked snapshot or window while it loads it.
    const scratch = from ? SNAPSHOT_MAX : 0;
    // No step hands out more than the chunk's size (or one byte past it, to prove an overrun):
    // a one-sector chunk needs no 64 KiB buffer (a table of many small chunks allocated one
    // each).
    const outSize = Math.max(1, Math.min(OUT_BUFFER, ctx.outputSize));
    ctx.memory.acquire(INFLATE_STATE + outSize + scratch, "zlib decoder state and output buffer");
    this.held = INFLATE_STATE + outSize + scratch;
    try {
      this.input = new ChunkInput(ctx);
    } catch (e) {
      this.close();
      throw e;
    }
    this.out = new Uint8Array(outSize);
    // From the chunk start, pako's state is made once the stream's header has been looked at
    // (see `start`); a resumed cursor loads its point now.
    if (from) this.init(from, at);
    this.ctx.memory.release(scratch);
    this.held -= scratch;
    this.boundary = this.position;
    if (ctx.points && snapshotsSupported()) this.maker = new PointMaker(ctx);
  }

  /** Make pako's inflate state, at `from` (a point at decoded position `at`) or the start. */
  private init(from?: ZlibPoint, at = 0): void {
    const loaded = zlibInflateInit(this.strm) === Z_OK && (!from || loadPoint(this.strm, from, at));
    if (!loaded) {
      this.close();
      decodeError(this.ctx, "DECODE_CORRUPT", "zlib decoder could not be initialised");
    }
    if (loaded !== true) {
      this.position = at;
      this.input.consumed = loaded.consumed;
      // The byte the point is in: its first bits go before the point (see `feed`).
      this.prime = loaded.prime;
    }
    this.strm.output = this.out;
    this.strm.avail_in = 0;
  }

  /**
   * The first step from the chunk start: refuse a stream whose two-byte header is not zlib's
   * before pako's state is made (a table of a hundred thousand corrupt chunks made one each:
   * attack class G35), with pako's own words, in pako's order; then make it and feed it the
   * first piece.
   */
  private async start(): Promise<void> {
    const piece = await this.input.next();
    if (piece !== null && piece.length >= 2) {
      const cmf = piece[0];
      const flg = piece[1];
      const why =
        (cmf * 256 + flg) % 31 !== 0
          ? "incorrect header check"
          : (cmf & 0x0f) !== 8
            ? "unknown compression method"
            : (cmf >> 4) + 8 > 15
              ? "invalid window size"
              : undefined;
      if (why)
        decodeError(
          this.ctx,
          "DECODE_CORRUPT",
          `zlib data is corrupt: ${why}`,
          this.ctx.offset + 2,
        );
    }
    this.init();
    if (piece === null) this.inputDone = true;
    else this.feed(piece);
  }

  next(max: number): Promise<Uint8Array> {
    return guardedNext(this, "zlib", max, (n) => this.step(n));
  }

  private async step(max: number): Promise<Uint8Array> {
    if (this.strm.state === null || this.strm.state === undefined) await this.start();
    const { ctx, strm } = this;
    const remaining = ctx.outputSize - this.position;
    // Once the declared size is reached, allow one more byte: producing it proves an overrun
    // without inflating a bomb any further (E25).
    let cap = remaining > 0 ? Math.min(max, OUT_BUFFER, remaining) : 1;
    // Stop at the next multiple of POINT_ALIGN, where a snapshot may be taken, and at block
    // boundaries (Z_BLOCK), where a point may be.
    const { maker } = this;
    if (maker) cap = Math.min(cap, POINT_ALIGN - (this.position % POINT_ALIGN));
    strm.next_out = 0;
    strm.avail_out = cap;
    for (;;) {
      let fed = false;
      if (strm.avail_in === 0 && !this.inputDone && !this.ended) {
        const piece = await this.input.next();
        if (piece === null) this.inputDone = true;
        else {
          this.feed(piece);
          fed = true;
        }
      }
      const inBefore = strm.total_in;
      const ret = this.ended ? Z_STREAM_END : zlibInflate(strm, maker ? Z_BLOCK : Z_NO_FLUSH);
      const produced = cap - strm.avail_out;
      if (ret === Z_STREAM_END) this.ended = true;
      else if (ret === Z_NEED_DICT) {
        // Preset dictionaries are never written by hdiutil and cannot be supplied here.
        decodeError(ctx, "DECODE_CORRUPT", "zlib stream asks for a preset dictionary", this.at());
      } else if (ret !== Z_OK && ret !== Z_BUF_ERROR) {
        // Z_DATA_ERROR covers a bad header, bad codes, distances too far back and a bad
        // Adler-32 (E25).
        decodeError(ctx, "DECODE_CORRUPT", `zlib data is corrupt: ${strm.msg || ret}`, this.at());
      }
      if (produced > 0) {
        if (remaining <= 0) {
          decodeError(
            ctx,
            "DECODE_OVERRUN",
            `zlib stream decodes past the declared ${ctx.outputSize} bytes`,
            this.at(),
          );
        }
        this.position += produced;
      }
      // Between two blocks, not after the last (data_type: 128 at a boundary, 64 in the last),
      // nor before the first.
      if (maker && ret === Z_OK && (strm.data_type & 192) === 128 && this.position > 0) {
        this.boundary = this.position;
        maker.boundary(strm, this.position);
      }
      if (produced > 0) {
        const far = this.position - this.boundary >= FAR_GAP;
        if (maker && far && this.position % POINT_ALIGN === 0 && !this.ended) {
          maker.snapshot(strm, this.position);
        }
        return this.out.subarray(0, produced);
      }
      if (this.ended) return this.finish();
      // No output and no end: the call must have consumed input or been handed a new piece,
      // else the loop would spin (the infinite loop ClamAV shipped on trailing input).
      if (strm.total_in === inBefore && !fed) {
        if (this.inputDone) {
          decodeError(
            ctx,
            "DECODE_SHORT",
            `zlib stream is truncated: input ends after ${this.position} of ${ctx.outputSize} decoded bytes`,
            this.at(),
          );
        }
        decodeError(ctx, "DECODE_CORRUPT", "zlib decoder made no progress", this.at());
      }
    }
  }

  /** At the end of the stream: check the decoded size and that no input is left (E25). */
  private finish(): Uint8Array {
    const { ctx, strm } = this;
    if (this.position !== ctx.outputSize) {
      decodeError(
        ctx,
        "DECODE_SHORT",
        `zlib stream ends after ${this.position} of the declared ${ctx.outputSize} bytes`,
        this.at(),
      );
    }
    const left = strm.avail_in + this.input.left;
    if (left > 0) {
      decodeError(
        ctx,
        "DECODE_TRAILING",
        `${left} bytes of compressed data follow the end of the zlib stream`,
        this.at(),
      );
    }
    this.done = true;
    this.close();
    return EMPTY;
  }

  /** Hand pako the next input piece, first completing the byte a resumed point is in. */
  private feed(piece: Uint8Array): void {
    const { strm } = this;
    strm.input = piece;
    strm.next_in = 0;
    strm.avail_in = piece.length;
    if (this.prime) {
      primeInflate(strm, piece[0], this.prime);
      strm.next_in = 1;
      strm.avail_in--;
      strm.total_in++;
      this.prime = 0;
    }
  }

  /** File offset of the next compressed byte pako would read. */
  private at(): number {
    return this.ctx.offset + this.strm.total_in;
  }

  close(): void {
    if (this.held === 0) return;
    if (this.strm.state) zlibInflateEnd(this.strm);
    this.maker?.close();
    this.input?.close();
    this.ctx.memory.release(this.held);
    this.held = 0;
    this.inputDone = true;
  }
}

/** The UDZO codec: zlib through pako, resumable at the points its cursors offer. */
export const zlibCodec: Codec = {
  type: UDZO,
  name: "zlib",
  open(ctx: DecodeContext): ChunkCursor {
    return new ZlibCursor(ctx);
  },
  resume(ctx: DecodeContext, point: ResumePoint): ChunkCursor {
    // A block point needs its Adler-32 so far: pako checks the chunk's at its end.
    const from = zlibPoint(point, ctx, true);
    if (!from) decodeError(ctx, "INVALID_ARGUMENT", "not a resume point of the zlib codec");
    return new ZlibCursor(ctx, from, point.position);
  },
};
