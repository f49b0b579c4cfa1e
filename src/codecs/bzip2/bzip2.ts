/**
 * UDBZ chunks: one bzip2 stream per chunk ("BZh" + block size digit, blocks, end marker and
 * combined CRC). A small decoder of our own: it works on typed arrays only (so it runs in a
 * browser) and decodes one block at a time (see bzip2-block.ts).
 *
 * bzip2 blocks are independent, so the block starts a cursor passes (a 48-bit magic at a bit
 * offset) are offered as resume points: a few numbers each. A cursor resumed at one decodes
 * only the blocks from there on, and still checks the stream CRC (the combined CRC so far is
 * part of the point).
 *
 * Working memory: the block array and the text its walk unscrambles (5 bytes x 100k x level,
 * at most 4.5 MB), a window of compressed input, one output piece and small tables; all
 * acquired before allocation. With the WebAssembly engine the block array, the text and the
 * tables live in the instance's memory, grown only after the acquisition, and the output
 * pieces are views of it (valid until the next call, as the cursor contract says; the memory
 * never grows while the engine is in use).
 */
import type { DmgError } from "../../core/errors.js";
import { UDBZ } from "../../format/types.js";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  guardedNext,
  type ResumePoint,
} from "../codec.js";
import { ChunkInput, INPUT_PIECE } from "../input.js";
import { type BitReader, BLOCK_BYTES_PER_LEVEL, Block, TABLES_BYTES } from "./bzip2-block.js";

/** The decoder refills its input window whenever fewer than this many bytes are buffered. */
const LOW_WATER = 64 * 1024;
const WINDOW = INPUT_PIECE + LOW_WATER;
const OUT_PIECE = 64 * 1024;
/** Memory a block-start point holds (three numbers and an object), rounded up. */
const POINT_BYTES = 128;

const EMPTY = new Uint8Array(0);

/**
 * A closed cursor's arrays, for the image's next bzip2 cursor (see InputBuffers.takeState):
 * the input window, the output piece and the block decoder of the level it last used.
 */
class Spare {
  constructor(
    readonly win: Uint8Array,
    readonly out: Uint8Array,
    readonly block: Block | undefined,
  ) {}
}

const isSpare = (s: object): s is Spare => s instanceof Spare;

/** A block start: where its magic begins, the stream CRC of the blocks before, the level. */
class BlockStart {
  constructor(
    readonly bitOffset: number,
    readonly streamCrc: number,
    readonly level: number,
  ) {}
}

type Failure = "DECODE_CORRUPT" | "DECODE_SHORT" | "DECODE_OVERRUN" | "DECODE_TRAILING";

class Bzip2Cursor implements ChunkCursor, BitReader {
  position = 0;
  private readonly input: ChunkInput;
  held = 0;
  failure: DmgError | undefined;
  done = false;
  // Compressed input window and bit reader.
  readonly win: Uint8Array;
  pos = 0;
  end = 0;
  refillAt = -1;
  acc = 0;
  nbits = 0;
  // Stream state: the block decoder (made once the level is known) and the combined CRC.
  private block: Block | undefined;
  private level = 0;
  private streamCrc = 0;
  private readonly out: Uint8Array;
  /** A spare block decoder, used when the stream's level is the one it was made for. */
  private spareBlock: Block | undefined;
  /** A step is running (it may be waiting for input): its arrays are still in use. */
  private stepping = false;

  /** A cursor from the chunk start, or from block start `from` at decoded `position`. */
  constructor(
    readonly ctx: DecodeContext,
    private readonly from?: BlockStart,
    position = 0,
  ) {
    this.position = position;
    ctx.memory.acquire(WINDOW + OUT_PIECE + TABLES_BYTES, "bzip2 input window, output and tables");
    this.held = WINDOW + OUT_PIECE + TABLES_BYTES;
    try {
      // Each piece is copied into the window at once: the input can reuse one buffer.
      this.input = new ChunkInput(ctx, INPUT_PIECE, true);
    } catch (e) {
      this.close();
      throw e;
    }
    const spare = ctx.buffers?.takeState("bzip2", isSpare);
    this.win = spare?.win ?? new Uint8Array(WINDOW);
    this.out = spare?.out ?? new Uint8Array(OUT_PIECE);
    this.spareBlock = spare?.block;
  }

  next(max: number): Promise<Uint8Array> {
    return guardedNext(this, "bzip2", max, async (n) => {
      this.stepping = true;
      try {
        if (!this.block) await (this.from ? this.seek(this.from) : this.readStreamHeader());
        return await this.step(n);
      } finally {
        this.stepping = false;
      }
    });
  }

  private async step(max: number): Promise<Uint8Array> {
    const block = this.block!;
    const remaining = this.ctx.outputSize - this.position;
    // Past the declared size, one more byte is enough to prove an overrun (E26 bombs).
    const cap = remaining > 0 ? Math.min(max, OUT_PIECE, remaining) : 1;
    for (;;) {
      if (block.active) {
        const piece = block.emit(this.out, cap);
        if (piece.length > 0) {
          if (remaining <= 0) this.fail("DECODE_OVERRUN", this.overrunMessage());
          this.position += piece.length;
          return piece;
        }
        this.endBlock(block);
      }
      if (this.pos > this.refillAt) await this.refill();
      if (this.ctx.points && this.position > 0) this.offerPoint();
      const hi = this.bits(24);
      const lo = this.bits(24);
      if (hi === 0x177245 && lo === 0x385090) return this.endStream();
      if (hi !== 0x314159 || lo !== 0x265359)
        this.fail("DECODE_CORRUPT", "bad bzip2 block signature");
      // Every block decodes to at least one byte.
      if (remaining <= 0) this.fail("DECODE_OVERRUN", this.overrunMessage());
      await block.read(this);
    }
  }

  /** "BZh" and the block size digit (E26: digits outside 1-9 are corrupt). */
  private async readStreamHeader(): Promise<void> {
    await this.refill();
    if (this.bits(24) !== 0x425a68) this.fail("DECODE_CORRUPT", "chunk does not start with BZh");
    const level = this.bits(8) - 0x30;
    if (level < 1 || level > 9) this.fail("DECODE_CORRUPT", "bzip2 block size digit is not 1-9");
    await this.startBlocks(level);
  }

  /**
   * Acquire and make the block decoder for block size digit `level`: the memory is acquired
   * before the block array is allocated (or a WebAssembly memory grown for it).
   */
  private async startBlocks(level: number): Promise<void> {
    this.ctx.memory.acquire(BLOCK_BYTES_PER_LEVEL * level, "bzip2 block buffer");
    this.held += BLOCK_BYTES_PER_LEVEL * level;
    this.level = level;
    const spare = this.spareBlock;
    this.spareBlock = undefined;
    // Every block overwrites the block array entries it uses: a spare one needs no clearing.
    if (spare?.level === level) this.block = spare;
    else {
      spare?.free();
      this.block = await Block.make(level);
    }
  }

  /** Resume at a block start an earlier cursor offered. */
  private async seek(at: BlockStart): Promise<void> {
    this.input.consumed = Math.floor(at.bitOffset / 8);
    await this.refill();
    if (at.bitOffset % 8) this.bits(at.bitOffset % 8);
    this.streamCrc = at.streamCrc;
    await this.startBlocks(at.level);
  }

  /** Offer the recorder the block start the input stands at. */
  private offerPoint(): void {
    const rec = this.ctx.points!;
    if (!rec.reserve(this.position, POINT_BYTES)) return;
    const bitOffset = (this.input.consumed - (this.end - this.pos)) * 8 - this.nbits;
    const state = new BlockStart(bitOffset, this.streamCrc, this.level);
    rec.add({ position: this.position, bytes: POINT_BYTES, state });
  }

  /** E26: the block CRC covers the block's decoded bytes. */
  private endBlock(block: Block): void {
    const got = block.computedCrc;
    if (got !== block.storedCrc) this.fail("DECODE_CORRUPT", "bzip2 block CRC mismatch");
    this.streamCrc = (((this.streamCrc << 1) | (this.streamCrc >>> 31)) ^ got) >>> 0;
    block.active = false;
  }

  /** After the end marker: the combined CRC, the declared size, and no trailing input. */
  private endStream(): Uint8Array {
    const stored = ((this.bits(16) << 16) | this.bits(16)) >>> 0;
    if (stored !== this.streamCrc) this.fail("DECODE_CORRUPT", "bzip2 stream CRC mismatch");
    const { outputSize } = this.ctx;
    if (this.position !== outputSize) {
      this.fail(
        "DECODE_SHORT",
        `bzip2 stream ends after ${this.position} of the declared ${outputSize} bytes`,
      );
    }
    // E26: hdiutil writes one stream per chunk; a second stream or garbage is trailing data.
    const left = this.end - this.pos + this.input.left;
    if (left > 0) this.fail("DECODE_TRAILING", `${left} bytes follow the end of the bzip2 stream`);
    this.done = true;
    // Nothing of this step is pending any more: the arrays can go to the next cursor.
    this.stepping = false;
    this.close();
    return EMPTY;
  }

  private overrunMessage(): string {
    return `bzip2 stream decodes past the declared ${this.ctx.outputSize} bytes`;
  }

  /** Read `n` (1-24) bits, most significant first. */
  bits(n: number): number {
    while (this.nbits < n) {
      if (this.pos >= this.end) {
        if (this.input.left === 0) this.fail("DECODE_SHORT", "bzip2 data is truncated");
        this.fail("DECODE_CORRUPT", "bzip2 block header is longer than any encoder writes");
      }
      this.acc = (this.acc << 8) | this.win[this.pos++];
      this.nbits += 8;
    }
    this.nbits -= n;
    return (this.acc >>> this.nbits) & ((1 << n) - 1);
  }

  /** Move the unread bytes to the front of the window and fill the rest from the chunk. */
  async refill(): Promise<void> {
    const { win } = this;
    win.copyWithin(0, this.pos, this.end);
    this.end -= this.pos;
    this.pos = 0;
    while (this.end < win.length && this.input.left > 0) {
      const piece = await this.input.next(win.length - this.end);
      if (piece === null) break;
      win.set(piece, this.end);
      this.end += piece.length;
    }
    this.refillAt = this.input.left > 0 ? this.end - LOW_WATER : Number.POSITIVE_INFINITY;
  }

  fail(code: Failure, message: string): never {
    decodeError(this.ctx, code, message, this.input.fileOffset - (this.end - this.pos));
  }

  close(): void {
    if (this.held === 0) return;
    this.input?.close();
    this.ctx.memory.release(this.held);
    this.held = 0;
    const block = this.block ?? this.spareBlock;
    this.block = this.spareBlock = undefined;
    if (block) block.active = false;
    // The window is unset when the input could not be had (the constructor failed); a cursor
    // closed while a step waits for input keeps its arrays, which that step still writes.
    if (this.win && this.ctx.buffers && !this.stepping) {
      this.ctx.buffers.giveState("bzip2", new Spare(this.win, this.out, block));
    } else block?.free();
  }
}

/** The UDBZ codec: bzip2, resumable at the block starts its cursors offer. */
export const bzip2Codec: Codec = {
  type: UDBZ,
  name: "bzip2",
  open(ctx: DecodeContext): ChunkCursor {
    return new Bzip2Cursor(ctx);
  },
  resume(ctx: DecodeContext, point: ResumePoint): ChunkCursor {
    if (!(point.state instanceof BlockStart)) {
      decodeError(ctx, "INVALID_ARGUMENT", "not a resume point of the bzip2 codec");
    }
    return new Bzip2Cursor(ctx, point.state, point.position);
  },
};
