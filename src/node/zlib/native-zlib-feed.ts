/**
 * What a native zlib cursor feeds its inflater: the chunk's compressed bytes in pieces and, for
 * a cursor resumed at a block point, first the point's resume prefix (codecs/zlib-boundary.ts).
 */
import type { DecodeContext } from "../../codecs/codec.js";
import { ChunkInput, INPUT_PIECE } from "../../codecs/input.js";
import type { BlockPoint, pointByte, resumePrefix } from "../../codecs/zlib/zlib-boundary.js";
import type { NearInput } from "./native-zlib-bits.js";

/** How a resumed feed makes its prefix: the point functions, from the codec's extras. */
export interface Prefixer {
  pointByte: typeof pointByte;
  resumePrefix: typeof resumePrefix;
}

const EMPTY = new Uint8Array(0);

export class Feed {
  /** The piece being inflated and where its unconsumed bytes start. */
  piece: Uint8Array = EMPTY;
  at = 0;
  /** The piece is the resume prefix, not the chunk's bytes. */
  inPrefix = false;
  private readonly input: ChunkInput;
  /** A resumed feed's first piece of chunk bytes, fed after the prefix, and where from. */
  private queued: Uint8Array | undefined;
  private queuedAt = 0;

  /** Working memory held besides the input buffer: the prefix. */
  static extra(point: BlockPoint | undefined): number {
    return point ? point.history.length + 64 : 0;
  }

  /** Throws (holding nothing) when the input buffer does not fit the budget. */
  /** `prefixer` is required with `point`. */
  constructor(
    ctx: DecodeContext,
    private point: BlockPoint | undefined,
    private readonly prefixer?: Prefixer,
  ) {
    // Each piece is inflated whole before the next is read, so one buffer serves them all.
    this.input = new ChunkInput(ctx, INPUT_PIECE, true);
    if (point) this.input.consumed = prefixer!.pointByte(point);
  }

  /** Bytes of the piece not yet consumed. */
  get left(): number {
    return this.piece.length - this.at;
  }

  /** All input is in the engine once the piece is consumed. */
  get last(): boolean {
    return this.input.left === 0 && this.queued === undefined;
  }

  /** Chunk bytes consumed by the inflater (meaningful outside the prefix). */
  get consumed(): number {
    return this.input.consumed - this.left;
  }

  /** The piece as chunk bytes at hand, unless it is the prefix. */
  get near(): NearInput | undefined {
    return this.inPrefix
      ? undefined
      : { bytes: this.piece, at: this.input.consumed - this.piece.length };
  }

  /** Load the next piece once the current one is consumed; false when there is none. */
  async refill(): Promise<boolean> {
    if (this.left > 0) return true;
    this.inPrefix = false;
    if (this.queued) {
      this.piece = this.queued;
      this.at = this.queuedAt;
      this.queued = undefined;
      return true;
    }
    if (this.input.left === 0) return false;
    const piece = (await this.input.next())!;
    this.at = 0;
    const { point } = this;
    if (point) {
      // First the history and the alignment blocks, merged with the byte the point is in.
      this.point = undefined;
      this.queued = piece;
      this.queuedAt = point.bit % 8 ? 1 : 0;
      this.piece = this.prefixer!.resumePrefix(point, piece[0]);
      this.inPrefix = true;
    } else this.piece = piece;
    return true;
  }

  close(): void {
    this.input.close();
    this.queued = undefined;
  }
}
