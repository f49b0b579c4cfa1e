/**
 * ULMO chunks: one XZ stream per chunk (stream header, blocks whose only filter is LZMA2,
 * index, stream footer), decoded by a small decoder of our own that works on typed arrays only
 * (so it runs in a browser). Output leaves in pieces straight from the LZMA2 dictionary, never
 * the whole chunk; every header, size, padding, the index and the footer are verified.
 *
 * Working memory: the input window, the LZMA probability tables and the dictionary, which is
 * acquired from the budget once its size is known from the block header, before allocation.
 * Checks: CRC32 and CRC64 are verified; a SHA-256 check is read but not verified.
 */
import { crc32 } from "../../bytes/crc32.js";
import type { DmgError } from "../../core/errors.js";
import { ULMO } from "../../format/types.js";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  guardedNext,
} from "../codec.js";
import { ChunkInput } from "../input.js";
import { LZMA_STATE_BYTES } from "./lzma-decoder.js";
import { Lzma2Decoder } from "./lzma2.js";
import { Crc64 } from "./xz-crc64.js";
import {
  CHECK_CRC32,
  CHECK_CRC64,
  checkSize,
  le32,
  parseBlockHeader,
  parseStreamFooter,
  parseStreamHeader,
  STREAM_FOOTER_SIZE,
  STREAM_HEADER_SIZE,
} from "./xz-format.js";
import { RecordDigest, readIndex } from "./xz-index.js";
import { XZ_WINDOW, XZ_WINDOW_BYTES, XzInput } from "./xz-input.js";

/** Compressed bytes read from the source at a time. */
const INPUT_PIECE = XZ_WINDOW / 2;
/** Fixed working memory: input window and LZMA model (ChunkInput acquires its own piece). */
const STATE_BYTES = XZ_WINDOW_BYTES + LZMA_STATE_BYTES;

type DecodeCode = "DECODE_CORRUPT" | "DECODE_SHORT" | "DECODE_OVERRUN" | "DECODE_TRAILING";

const EMPTY = new Uint8Array(0);

/** The block being decoded. */
interface Block {
  headerSize: number;
  /** Chunk offset of the block's compressed data. */
  dataStart: number;
  packed: number | undefined;
  unpacked: number | undefined;
  produced: number;
}

class XzCursor implements ChunkCursor {
  position = 0;
  held = 0;
  done = false;
  failure: DmgError | undefined;
  private readonly chunkInput: ChunkInput;
  private readonly input: XzInput;
  private readonly lzma2: Lzma2Decoder;
  /** Check type from the stream header; -1 until it is read. */
  private check = -1;
  private block: Block | undefined;
  private crc = 0;
  private crc64 = new Crc64();
  /** Digest of the blocks decoded, compared with the index's records. */
  private readonly blocks = new RecordDigest();

  constructor(readonly ctx: DecodeContext) {
    ctx.memory.acquire(STATE_BYTES, "XZ input window and LZMA state");
    this.held = STATE_BYTES;
    try {
      this.chunkInput = new ChunkInput(ctx, INPUT_PIECE);
    } catch (e) {
      this.close();
      throw e;
    }
    this.input = new XzInput(ctx, this.chunkInput);
    this.lzma2 = new Lzma2Decoder(ctx, this.input);
  }

  next(max: number): Promise<Uint8Array> {
    return guardedNext(this, "xz", max, (n) => this.step(n));
  }

  private async step(max: number): Promise<Uint8Array> {
    const { input, ctx } = this;
    const remaining = ctx.outputSize - this.position;
    // Past the declared size, one more byte is enough to prove an overrun (E29).
    const cap = remaining > 0 ? Math.min(max, remaining) : 1;
    if (this.check < 0) await this.readStreamHeader();
    for (;;) {
      const block = this.block;
      if (block) {
        // A block with a declared size may decode one byte past it, to prove it lies.
        const left = block.unpacked === undefined ? cap : block.unpacked - block.produced + 1;
        const n = await this.lzma2.read(Math.min(cap, left));
        if (n > 0) {
          if (remaining <= 0) {
            this.fail(
              "DECODE_OVERRUN",
              `XZ stream decodes past the declared ${ctx.outputSize} bytes`,
            );
          }
          block.produced += n;
          if (block.unpacked !== undefined && block.produced > block.unpacked) {
            this.fail("DECODE_CORRUPT", "XZ block decodes past its declared uncompressed size");
          }
          const piece = this.lzma2.buffer.subarray(this.lzma2.start, this.lzma2.start + n);
          if (this.check === CHECK_CRC32) this.crc = crc32(piece, this.crc);
          else if (this.check === CHECK_CRC64) this.crc64.update(piece);
          this.position += n;
          return piece;
        }
        await this.endBlock(block);
        continue;
      }
      await input.need(1, "block header or index");
      // The index indicator (0) overlaps the block header size byte.
      if (input.buf[input.pos] === 0) return this.endStream();
      await this.beginBlock();
    }
  }

  /** The stream header (E29: magic, flags, CRC32). */
  private async readStreamHeader(): Promise<void> {
    const { input } = this;
    // Look at what there is first: a chunk too short for a header is corrupt unless its bytes
    // start the magic, and only then truncated.
    await input.need(Math.max(1, Math.min(STREAM_HEADER_SIZE, input.left)), "stream header");
    const at = input.fileOffset;
    let check = parseStreamHeader(this.ctx, input.buf, input.pos, input.end - input.pos, at);
    if (check < 0) {
      await input.need(STREAM_HEADER_SIZE, "stream header");
      check = parseStreamHeader(this.ctx, input.buf, input.pos, STREAM_HEADER_SIZE, at);
    }
    this.check = check;
    input.pos += STREAM_HEADER_SIZE;
  }

  /** Read a block header and prepare its LZMA2 decoder (E29: sizes and dictionary). */
  private async beginBlock(): Promise<void> {
    const { input, ctx } = this;
    const at = input.fileOffset;
    const size = (input.buf[input.pos] + 1) * 4;
    await input.need(size, "block header");
    const h = parseBlockHeader(ctx, input.buf.subarray(input.pos, input.pos + size), at);
    input.pos += size;
    // E29: a declared size over what the chunk has left is refused before any decoding.
    const left = ctx.outputSize - this.position;
    if (h.unpacked !== undefined && h.unpacked > left) {
      this.fail(
        "DECODE_OVERRUN",
        `XZ block declares ${h.unpacked} uncompressed bytes; ${left} of the chunk's declared ${ctx.outputSize} are left`,
        at,
      );
    }
    await this.lzma2.begin(h.dictSize, ctx.outputSize);
    this.block = {
      headerSize: size,
      dataStart: input.consumed,
      packed: h.packed,
      unpacked: h.unpacked,
      produced: 0,
    };
    this.crc = 0;
    this.crc64 = new Crc64();
  }

  /** After a block's LZMA2 end: its sizes, padding and check. */
  private async endBlock(block: Block): Promise<void> {
    const { input } = this;
    // E29: the sizes a header declares must be the real ones (xz-file-format 3.1.3, 3.1.4).
    const packed = input.consumed - block.dataStart;
    if (block.packed !== undefined && block.packed !== packed) {
      this.fail(
        "DECODE_CORRUPT",
        `XZ block has ${packed} compressed bytes; its header says ${block.packed}`,
      );
    }
    if (block.unpacked !== undefined && block.unpacked !== block.produced) {
      this.fail(
        "DECODE_CORRUPT",
        `XZ block decodes to ${block.produced} bytes; its header says ${block.unpacked}`,
      );
    }
    const pad = (4 - (packed % 4)) % 4;
    const size = checkSize(this.check);
    await input.need(pad + size, "block padding and check");
    for (let i = 0; i < pad; i++) {
      if (input.byte() !== 0) this.fail("DECODE_CORRUPT", "XZ block padding is not zero");
    }
    const ok =
      this.check === CHECK_CRC32
        ? le32(input.buf, input.pos) === this.crc
        : this.check === CHECK_CRC64
          ? this.crc64.matches(input.buf, input.pos)
          : true; // none, or SHA-256 (not verified)
    if (!ok) this.fail("DECODE_CORRUPT", "XZ block check does not match its decoded bytes");
    input.pos += size;
    this.blocks.add(block.headerSize + packed + size, block.produced);
    this.block = undefined;
  }

  /** The index (compared with the blocks decoded), the footer, then the chunk's end. */
  private async endStream(): Promise<Uint8Array> {
    const { input, ctx } = this;
    const indexSize = await readIndex(ctx, input, this.blocks);
    await input.need(STREAM_FOOTER_SIZE, "stream footer");
    parseStreamFooter(ctx, input.buf, input.pos, input.fileOffset, this.check, indexSize);
    input.pos += STREAM_FOOTER_SIZE;
    // E29: hdiutil writes one stream per chunk; a second stream, stream padding or garbage
    // after the footer is trailing data.
    if (input.left > 0) {
      this.fail("DECODE_TRAILING", `${input.left} bytes follow the end of the XZ stream`);
    }
    if (this.position !== ctx.outputSize) {
      this.fail(
        "DECODE_SHORT",
        `XZ stream ends after ${this.position} of the declared ${ctx.outputSize} bytes`,
      );
    }
    this.done = true;
    this.close();
    return EMPTY;
  }

  private fail(code: DecodeCode, message: string, at = this.input.fileOffset): never {
    decodeError(this.ctx, code, message, at);
  }

  close(): void {
    if (this.held === 0) return;
    this.chunkInput?.close();
    this.lzma2?.release();
    this.ctx.memory.release(this.held);
    this.held = 0;
  }
}

/** The ULMO codec: XZ streams with the LZMA2 filter. */
export const xzCodec: Codec = {
  type: ULMO,
  name: "xz",
  open(ctx: DecodeContext): ChunkCursor {
    return new XzCursor(ctx);
  },
};
