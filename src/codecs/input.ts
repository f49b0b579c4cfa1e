/**
 * Feeds a chunk's compressed bytes to a decoder in bounded pieces, so a 250 MB chunk is never
 * read into memory at once. The piece buffer is accounted as working memory.
 */
import { readExact } from "../bytes/source.js";
import type { DecodeContext } from "./codec.js";

/** Default size of one compressed read. */
export const INPUT_PIECE = 256 * 1024;

export class ChunkInput {
  /** Compressed bytes handed out so far. */
  consumed = 0;
  private readonly piece: number;
  private held = 0;

  constructor(
    private readonly ctx: DecodeContext,
    piece = INPUT_PIECE,
  ) {
    this.piece = Math.max(1, Math.min(piece, ctx.length));
    this.held = this.piece;
    ctx.memory.acquire(this.held, "compressed input buffer");
  }

  /** Compressed bytes not yet handed out. */
  get left(): number {
    return this.ctx.length - this.consumed;
  }

  /** The next piece of compressed input, or null when all of it has been handed out. */
  async next(max = this.piece): Promise<Uint8Array | null> {
    const n = Math.min(this.left, this.piece, max);
    if (n <= 0) return null;
    const bytes = await readExact(
      this.ctx.source,
      this.ctx.offset + this.consumed,
      n,
      "compressed chunk data",
    );
    this.consumed += n;
    return bytes;
  }

  /** File offset of the next byte to hand out. */
  get fileOffset(): number {
    return this.ctx.offset + this.consumed;
  }

  close(): void {
    if (this.held) this.ctx.memory.release(this.held);
    this.held = 0;
  }
}
