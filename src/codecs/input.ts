/**
 * Feeds a chunk's compressed bytes to a decoder in bounded pieces, so a 250 MB chunk is never
 * read into memory at once. The piece buffer is accounted as working memory.
 */
import { readExact } from "../sources/source.js";
import type { DecodeContext } from "./codec.js";

/** Default size of one compressed read. */
export const INPUT_PIECE = 256 * 1024;

const SPARE_MAX = 4;

/**
 * Buffers of {@link INPUT_PIECE} bytes given back by closed inputs, for the next chunk's: with
 * a new one per chunk, a pass over a 1 GiB image of 1 MiB chunks would leave 256 MiB of
 * garbage behind it, tens of megabytes of it resident before the collector catches up. One
 * pool per image (never shared between images, whose budgets differ).
 */
export class InputBuffers {
  private readonly spare: Uint8Array[] = [];
  /** One codec's working state given back by a closed cursor, by codec name. */
  private readonly states = new Map<string, unknown>();

  /** A spare buffer of {@link INPUT_PIECE} bytes, if one was given back. */
  take(): Uint8Array | undefined {
    return this.spare.pop();
  }

  /** Give back a buffer no longer in use. */
  give(b: Uint8Array): void {
    if (b.length === INPUT_PIECE && this.spare.length < SPARE_MAX) this.spare.push(b);
  }

  /**
   * The working state (windows, block arrays) a closed cursor of codec `name` gave back, if
   * any, removed from the pool. The taker still acquires its working memory as for new state:
   * only the allocation is saved. A decoder that made a new block array per chunk left up to
   * 40 MiB of dead arrays resident between collections.
   */
  takeState<T extends object>(name: string, is: (s: object) => s is T): T | undefined {
    const s = this.states.get(name);
    this.states.delete(name);
    return s && is(s as object) ? (s as T) : undefined;
  }

  /** Keep `state` for the next cursor of codec `name` (one per codec; a newer one replaces it). */
  giveState(name: string, state: object): void {
    this.states.set(name, state);
  }

  /** Drop every spare buffer and state. */
  clear(): void {
    this.spare.length = 0;
    this.states.clear();
  }
}

export class ChunkInput {
  /** Compressed bytes handed out so far. */
  consumed = 0;
  private readonly piece: number;
  private held = 0;
  /** The one buffer every piece is read into, when the decoder lets pieces be reused. */
  private buffer: Uint8Array | undefined;

  /**
   * @param piece most bytes handed out at once
   * @param reuse read every piece into one buffer: only for a decoder that is done with a
   *   piece when it asks for the next (a 1 GiB decode then allocates 256 KiB, not 1 GiB)
   */
  constructor(
    private readonly ctx: DecodeContext,
    piece = INPUT_PIECE,
    private readonly reuse = false,
  ) {
    this.piece = Math.max(1, Math.min(piece, ctx.length));
    // A reused buffer is a whole INPUT_PIECE (so that small chunks share the spare ones too).
    this.held = reuse && piece === INPUT_PIECE ? INPUT_PIECE : this.piece;
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
    if (this.reuse) {
      this.buffer ??=
        (this.held === INPUT_PIECE ? this.ctx.buffers?.take() : undefined) ??
        new Uint8Array(this.held);
    }
    const bytes = await readExact(
      this.ctx.source,
      this.ctx.offset + this.consumed,
      n,
      "compressed chunk data",
      this.buffer,
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
    if (this.buffer) this.ctx.buffers?.give(this.buffer);
    this.buffer = undefined;
  }
}
