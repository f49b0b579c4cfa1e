/**
 * The XZ decoder's view of a chunk's compressed bytes: a window refilled from
 * {@link ChunkInput}, large enough to hold the biggest unit the format reads whole (one LZMA2
 * chunk: 64 KiB of compressed data and a 6-byte header; a block header: 1 KiB).
 */
import { type DecodeContext, decodeError } from "../codec.js";
import type { ChunkInput } from "../input.js";

/** Window size: two LZMA2 chunks' worth, so a refill usually reads a whole piece. */
export const XZ_WINDOW = 128 * 1024;
/**
 * Zero bytes kept past the window's end: on corrupt data the range decoder may read up to one
 * symbol's worth (21 bytes) past its chunk before the overrun is noticed and refused.
 */
const READ_SLACK = 64;
/** Working memory the window takes. */
export const XZ_WINDOW_BYTES = XZ_WINDOW + READ_SLACK;

/** Longest multibyte integer: 63 bits in 9 bytes of 7 bits each. */
const VARINT_MAX_BYTES = 9;

/**
 * A multibyte integer (xz-file-format section 1.2) at `buf[pos]`, not reading at or past
 * `end`. Returns the value and its length in bytes; length 0 when the bytes end first, -1
 * when the encoding is invalid (more than 9 bytes, or a redundant trailing zero byte).
 * Values above 2^53-1 come back as Infinity: they exceed every size this reader deals with,
 * so they fail whatever comparison they take part in.
 */
export function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < VARINT_MAX_BYTES; i++) {
    if (pos + i >= end) return [0, 0];
    const b = buf[pos + i];
    if (i > 0 && b === 0) return [0, -1];
    value += (b & 0x7f) * scale;
    scale *= 128;
    if ((b & 0x80) === 0) {
      return [value > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : value, i + 1];
    }
  }
  return [0, -1];
}

export class XzInput {
  readonly buf = new Uint8Array(XZ_WINDOW_BYTES);
  /** Next unread byte of the window. */
  pos = 0;
  /** End of the bytes read into the window. */
  end = 0;
  /** Chunk offset of `buf[0]`. */
  private base = 0;

  constructor(
    private readonly ctx: DecodeContext,
    private readonly input: ChunkInput,
  ) {}

  /** Compressed bytes consumed so far (chunk-relative offset of `buf[pos]`). */
  get consumed(): number {
    return this.base + this.pos;
  }

  /** File offset of the next unread byte. */
  get fileOffset(): number {
    return this.ctx.offset + this.consumed;
  }

  /** Compressed bytes not consumed yet, in the window or not. */
  get left(): number {
    return this.end - this.pos + this.input.left;
  }

  /**
   * Make `n` (at most {@link XZ_WINDOW}) bytes available from `pos`, moving the unread bytes
   * to the front of the window first. DECODE_SHORT when the chunk ends before: a truncated
   * stream, named by the structure `what` being read.
   */
  async need(n: number, what: string): Promise<void> {
    if (this.end - this.pos >= n) return;
    this.buf.copyWithin(0, this.pos, this.end);
    this.base += this.pos;
    this.end -= this.pos;
    this.pos = 0;
    while (this.end < n) {
      const piece = await this.input.next(XZ_WINDOW - this.end);
      if (piece === null) {
        decodeError(
          this.ctx,
          "DECODE_SHORT",
          `XZ stream is truncated: the chunk ends inside its ${what}`,
          this.ctx.offset + this.ctx.length,
        );
      }
      this.buf.set(piece, this.end);
      this.end += piece.length;
    }
  }

  /** The next byte (made available with {@link need} first). */
  byte(): number {
    return this.buf[this.pos++];
  }

  /** Read a multibyte integer of the index or another structure read byte by byte. */
  async varint(what: string): Promise<number> {
    await this.need(Math.max(1, Math.min(VARINT_MAX_BYTES, this.left)), what);
    const [value, length] = readVarint(this.buf, this.pos, this.end);
    // Length 0: the chunk ended inside the integer (the window holds all that is left).
    if (length === 0) await this.need(this.end - this.pos + 1, what);
    if (length < 0)
      decodeError(
        this.ctx,
        "DECODE_CORRUPT",
        `bad multibyte integer in the XZ ${what}`,
        this.fileOffset,
      );
    this.pos += length;
    return value;
  }
}
