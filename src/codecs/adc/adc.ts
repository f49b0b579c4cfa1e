/**
 * UDCO chunks: Apple Data Compression, a byte-oriented LZ77 with three opcodes. Each control
 * byte `c` starts one of:
 *
 * - `c & 0x80`: a literal run of `(c & 0x7f) + 1` bytes that follow;
 * - `c & 0x40`: a match of `(c & 0x3f) + 4` bytes, distance `(next two bytes, big-endian) + 1`;
 * - otherwise: a match of `((c >> 2) & 0x0f) + 3` bytes, distance `((c & 3) << 8 | next) + 1`.
 *
 * A match copies from `distance` bytes back in the output and may overlap what it writes. The
 * stream has no end marker: it ends with the chunk's compressed bytes. Decoding keeps the last
 * 64 KiB of output (the farthest a match reaches) plus one output piece, never the whole chunk.
 */
import type { DmgError } from "../../core/errors.js";
import { UDCO } from "../../format/types.js";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  guardedNext,
} from "../codec.js";
import { ChunkInput } from "../input.js";

/** Farthest back a match can reach: a 16-bit distance field plus one. */
const HISTORY = 65536;
/** Most decoded bytes handed out by one call. */
const OUT_PIECE = 64 * 1024;

const EMPTY = new Uint8Array(0);

class AdcCursor implements ChunkCursor {
  position = 0;
  private readonly input: ChunkInput;
  /** The last HISTORY decoded bytes, then room for one output piece. */
  private readonly buf: Uint8Array;
  held = 0;
  /** Decoded bytes in `buf`. */
  private wpos = 0;
  private piece: Uint8Array = EMPTY;
  private ip = 0;
  /** Literal bytes of the current opcode still to copy. */
  private literal = 0;
  /** Match bytes of the current opcode still to copy, and their distance. */
  private match = 0;
  private distance = 0;
  done = false;
  failure: DmgError | undefined;

  constructor(readonly ctx: DecodeContext) {
    ctx.memory.acquire(HISTORY + OUT_PIECE, "ADC history and output buffer");
    this.held = HISTORY + OUT_PIECE;
    try {
      this.input = new ChunkInput(ctx);
    } catch (e) {
      this.close();
      throw e;
    }
    this.buf = new Uint8Array(HISTORY + OUT_PIECE);
  }

  next(max: number): Promise<Uint8Array> {
    return guardedNext(this, "ADC", max, (n) => this.step(n));
  }

  private async step(max: number): Promise<Uint8Array> {
    const { ctx, buf } = this;
    const remaining = ctx.outputSize - this.position;
    if (remaining <= 0) return this.finish();
    const want = Math.min(max, OUT_PIECE, remaining);
    if (this.wpos + want > buf.length) {
      // Slide: keep only the history a match can still reach.
      buf.copyWithin(0, this.wpos - HISTORY, this.wpos);
      this.wpos = HISTORY;
    }
    const start = this.wpos;
    const end = start + want;
    while (this.wpos < end) {
      if (this.literal > 0) {
        if (this.ip === this.piece.length && !(await this.fill())) {
          // E27: a literal run past the end of the input.
          decodeError(
            ctx,
            "DECODE_SHORT",
            `ADC data is truncated: a literal run needs ${this.literal} more bytes than the chunk holds`,
            this.at(),
          );
        }
        const n = Math.min(this.literal, end - this.wpos, this.piece.length - this.ip);
        buf.set(this.piece.subarray(this.ip, this.ip + n), this.wpos);
        this.ip += n;
        this.wpos += n;
        this.literal -= n;
      } else if (this.match > 0) {
        const n = Math.min(this.match, end - this.wpos);
        const from = this.wpos - this.distance;
        if (this.distance >= n) buf.copyWithin(this.wpos, from, from + n);
        else for (let i = 0; i < n; i++) buf[this.wpos + i] = buf[from + i];
        this.wpos += n;
        this.match -= n;
      } else {
        const opAt = this.at();
        const c = this.ip < this.piece.length ? this.piece[this.ip++] : await this.byte();
        if (c < 0) break; // end of input between opcodes
        if (c & 0x80) {
          this.literal = (c & 0x7f) + 1;
          continue;
        }
        let length: number;
        let distance: number;
        if (c & 0x40) {
          const hi = await this.operand(opAt);
          const lo = await this.operand(opAt);
          length = (c & 0x3f) + 4;
          distance = ((hi << 8) | lo) + 1;
        } else {
          length = ((c >> 2) & 0x0f) + 3;
          distance = (((c & 0x03) << 8) | (await this.operand(opAt))) + 1;
        }
        // E27: a back-reference before the start of the output (dmg2img and ClamAV read
        // outside their buffers here).
        const decoded = this.position + (this.wpos - start);
        if (distance > decoded) {
          decodeError(
            ctx,
            "DECODE_CORRUPT",
            `ADC match reaches ${distance} bytes back but only ${decoded} bytes are decoded`,
            opAt,
          );
        }
        this.match = length;
        this.distance = distance;
      }
    }
    const produced = this.wpos - start;
    if (produced === 0) {
      decodeError(
        ctx,
        "DECODE_SHORT",
        `ADC data ends after ${this.position} of the declared ${ctx.outputSize} bytes`,
        this.at(),
      );
    }
    this.position += produced;
    return buf.subarray(start, this.wpos);
  }

  /** At the declared size: the last opcode must be complete and no input left (E27). */
  private finish(): Uint8Array {
    const { ctx } = this;
    if (this.literal > 0 || this.match > 0) {
      decodeError(
        ctx,
        "DECODE_OVERRUN",
        `ADC opcode decodes ${this.literal + this.match} bytes past the declared ${ctx.outputSize}`,
        this.at(),
      );
    }
    const left = this.piece.length - this.ip + this.input.left;
    if (left > 0) {
      decodeError(
        ctx,
        "DECODE_TRAILING",
        `${left} bytes of ADC data follow the declared ${ctx.outputSize} decoded bytes`,
        this.at(),
      );
    }
    this.done = true;
    this.close();
    return EMPTY;
  }

  /** Load the next input piece; false at the end of the chunk. */
  private async fill(): Promise<boolean> {
    const p = await this.input.next();
    if (p === null) return false;
    this.piece = p;
    this.ip = 0;
    return true;
  }

  /** The next input byte, or -1 at the end of the chunk. */
  private async byte(): Promise<number> {
    if (this.ip === this.piece.length && !(await this.fill())) return -1;
    return this.piece[this.ip++];
  }

  /** An operand byte of the opcode at `opAt`; the chunk must not end inside an opcode. */
  private async operand(opAt: number): Promise<number> {
    const b = this.ip < this.piece.length ? this.piece[this.ip++] : await this.byte();
    if (b < 0)
      decodeError(this.ctx, "DECODE_SHORT", "ADC data is truncated inside an opcode", opAt);
    return b;
  }

  /** File offset of the next unread compressed byte. */
  private at(): number {
    return this.input.fileOffset - (this.piece.length - this.ip);
  }

  close(): void {
    if (this.held === 0) return;
    this.input?.close();
    this.ctx.memory.release(this.held);
    this.held = 0;
  }
}

/** The UDCO codec: Apple Data Compression. */
export const adcCodec: Codec = {
  type: UDCO,
  name: "adc",
  open(ctx: DecodeContext): ChunkCursor {
    return new AdcCursor(ctx);
  },
};
