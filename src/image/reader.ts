/**
 * Range reads of the virtual disk through codec cursors, with memory bounded by the
 * working-memory budget whatever the chunk size. A read inside a compressed chunk decodes from
 * the chunk start (or continues the cursor a previous read left open, so sequential reads
 * never restart the decoder) and discards what lies before the range.
 */
import type { DecompressMeter, MemoryMeter } from "../budget.js";
import { type ByteSource, readExact } from "../bytes/source.js";
import type { ChunkCursor } from "../codecs/codec.js";
import { codecFor } from "../codecs/registry.js";
import { DmgError } from "../errors.js";
import { chunkTypeName, isZeroFill, SECTOR_SIZE, UDRW } from "../format/types.js";
import { type ChunkIndex, findChunk } from "./chunk-index.js";

/** Size of the pieces a read yields (and of raw-copy reads). */
export const PIECE = 1024 * 1024;

const ZEROS = new Uint8Array(64 * 1024);

/** The decoder left open after a read that stopped inside a chunk. */
interface OpenCursor {
  chunk: number;
  cursor: ChunkCursor;
}

export class ImageReader {
  private open: OpenCursor | undefined;

  constructor(
    private readonly source: ByteSource,
    private readonly index: ChunkIndex,
    private readonly memory: MemoryMeter,
  ) {}

  /** Virtual disk size in bytes. */
  get size(): number {
    return this.index.totalSectors * SECTOR_SIZE;
  }

  /**
   * The bytes of `[offset, offset + length)` of the virtual disk as pieces, in order. Each piece
   * is a view valid only until the next iteration step (copy what you keep).
   */
  async *pieces(
    offset: number,
    length: number,
    meter: DecompressMeter,
  ): AsyncGenerator<Uint8Array> {
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const i = findChunk(this.index, Math.floor(pos / SECTOR_SIZE));
      if (i < 0) {
        throw new DmgError("READ_RANGE", `no chunk covers virtual offset ${pos}`);
      }
      const chunkStart = this.index.sector[i] * SECTOR_SIZE;
      const chunkEnd = chunkStart + this.index.sectorCount[i] * SECTOR_SIZE;
      const to = Math.min(end, chunkEnd);
      yield* this.chunkPieces(i, pos - chunkStart, to - chunkStart, meter);
      pos = to;
    }
  }

  /**
   * The decoded bytes `[from, to)` of chunk `i` (offsets inside the chunk) as pieces. When `to`
   * is the chunk's end, the decoder's end-of-stream checks run (rule: exact declared size).
   */
  async *chunkPieces(
    i: number,
    from: number,
    to: number,
    meter: DecompressMeter,
  ): AsyncGenerator<Uint8Array> {
    const type = this.index.type[i];
    if (isZeroFill(type)) {
      for (let p = from; p < to; p += ZEROS.length)
        yield ZEROS.subarray(0, Math.min(ZEROS.length, to - p));
      return;
    }
    if (type === UDRW) {
      const base = this.index.offset[i];
      for (let p = from; p < to; ) {
        const n = Math.min(PIECE, to - p);
        this.memory.acquire(n, "raw chunk read");
        try {
          yield await readExact(this.source, base + p, n, "raw chunk");
        } finally {
          this.memory.release(n);
        }
        p += n;
      }
      return;
    }
    yield* this.decoded(i, from, to, meter);
  }

  private async *decoded(
    i: number,
    from: number,
    to: number,
    meter: DecompressMeter,
  ): AsyncGenerator<Uint8Array> {
    const size = this.index.sectorCount[i] * SECTOR_SIZE;
    let cur = this.open;
    if (!cur || cur.chunk !== i || cur.cursor.position > from) {
      this.closeOpen();
      cur = { chunk: i, cursor: this.openCursor(i) };
      this.open = cur;
    }
    const cursor = cur.cursor;
    let failed = true;
    try {
      // Decode and discard up to the start of the range (fast seeking comes from index points).
      while (cursor.position < from) {
        const before = cursor.position;
        const piece = await cursor.next(Math.min(PIECE, from - before));
        if (piece.length === 0) break;
        meter.add(piece.length, this.index.offset[i]);
      }
      while (cursor.position < to) {
        const piece = await cursor.next(Math.min(PIECE, to - cursor.position));
        if (piece.length === 0) break;
        meter.add(piece.length, this.index.offset[i]);
        yield piece;
      }
      if (to === size) {
        // Rule 3: the chunk must end exactly here; next() checks overrun and trailing input.
        const extra = await cursor.next(1);
        if (extra.length !== 0) {
          throw new DmgError(
            "DECODE_OVERRUN",
            `table ${this.index.table[i]} chunk ${this.index.tableChunk[i]} decodes past its ${size} declared bytes`,
            this.index.offset[i],
            { table: this.index.table[i], chunk: this.index.tableChunk[i] },
          );
        }
        this.closeOpen();
      }
      failed = false;
    } finally {
      // A failed or abandoned decoder is not reused: its state is unknown.
      if (failed && this.open === cur) this.closeOpen();
    }
  }

  private openCursor(i: number): ChunkCursor {
    const type = this.index.type[i];
    const where = { table: this.index.table[i], chunk: this.index.tableChunk[i] };
    const codec = codecFor(type);
    if (!codec) {
      throw new DmgError(
        "CHUNK_TYPE_UNSUPPORTED",
        `table ${where.table} chunk ${where.chunk}: chunk type ${chunkTypeName(type)} cannot be decoded`,
        this.index.offset[i],
        where,
      );
    }
    return codec.open({
      source: this.source,
      offset: this.index.offset[i],
      length: this.index.length[i],
      outputSize: this.index.sectorCount[i] * SECTOR_SIZE,
      memory: this.memory,
      where,
    });
  }

  /** Close the decoder left open by a previous read, releasing its memory. */
  closeOpen(): void {
    if (this.open) {
      this.open.cursor.close();
      this.open = undefined;
    }
  }
}
