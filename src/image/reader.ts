/**
 * Range reads of the virtual disk through codec cursors, with memory bounded by the
 * working-memory budget whatever the chunk size. A read inside a compressed chunk is served from
 * the decoded-data cache when it can be, else by the best of: the cursor a previous read left
 * open (so sequential reads never restart the decoder), the nearest index point before the
 * range (resumed by a codec that can), or a decoder from the chunk start; what lies before the
 * range is decoded and discarded.
 */

import type { ChunkCursor } from "../codecs/codec.js";
import { DmgError } from "../core/errors.js";
import type { DecompressMeter, MemoryMeter } from "../core/limits.js";
import { isZeroFill, SECTOR_SIZE, UDRW } from "../format/types.js";
import { type ByteSource, readExact } from "../sources/source.js";
import { type DecodedCache, PageCollector } from "./cache.js";
import { type ChunkIndex, findChunk } from "./chunk-index.js";
import { MIN_CHUNK, type PointStore } from "./index-points.js";
import { chunkContext, RESUME_COST, registeredCodec, seekableCodec, startCursor } from "./seek.js";

/** Size of the pieces a read yields (and of raw-copy reads). */
export const PIECE = 1024 * 1024;

const ZEROS = new Uint8Array(64 * 1024);

/** What the readers of one image share. */
export interface ReaderShared {
  /** Index points, recorded and used by every reader of the image. */
  points?: PointStore;
  /** Decoded pages; only the image's own reader (random reads) fills it, not streams. */
  cache?: DecodedCache;
}

/** The decoder left open after a read that stopped inside a chunk. */
interface OpenCursor {
  chunk: number;
  cursor: ChunkCursor;
}

/** Decoded bytes of the compressed chunks big enough to get index points. */
function pointSpan(index: ChunkIndex): number {
  let n = 0;
  for (let i = 0; i < index.count; i++) {
    const size = index.sectorCount[i] * SECTOR_SIZE;
    if (size >= MIN_CHUNK && !isZeroFill(index.type[i]) && index.type[i] !== UDRW) n += size;
  }
  return n;
}

export class ImageReader {
  private open: OpenCursor | undefined;

  constructor(
    private readonly source: ByteSource,
    private readonly index: ChunkIndex,
    private readonly memory: MemoryMeter,
    private readonly shared: ReaderShared = {},
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
    const { cache } = this.shared;
    // Cached pages serve reads that stop short of the chunk's end: reaching the end always
    // decodes, so that its checks run every time.
    if (cache && to < size) {
      for (const piece of cache.pieces(i, from, to)) {
        yield piece;
        from += piece.length;
      }
      if (from === to) return;
    }
    const cursor = this.cursorFor(i, from);
    const cur = this.open;
    // Small reads leave the pages they touch in the cache.
    const pages =
      cache && to - from <= cache.cap / 4
        ? new PageCollector(cache, i, size, cursor.position, from, to)
        : undefined;
    const offset = this.index.offset[i];
    let failed = true;
    try {
      while (cursor.position < from) {
        const at = cursor.position;
        const piece = await cursor.next(meter.allow(Math.min(PIECE, from - at), offset));
        if (piece.length === 0) break;
        meter.add(piece.length, offset);
        pages?.take(at, piece);
      }
      while (cursor.position < to) {
        const at = cursor.position;
        const piece = await cursor.next(meter.allow(Math.min(PIECE, to - at), offset));
        if (piece.length === 0) break;
        meter.add(piece.length, offset);
        pages?.take(at, piece);
        yield piece;
      }
      if (to === size) {
        // Rule 3: the chunk must end exactly here; next() checks overrun and trailing input.
        const extra = await cursor.next(1);
        if (extra.length !== 0) {
          throw new DmgError(
            "DECODE_OVERRUN",
            `table ${this.index.table[i]} chunk ${this.index.tableChunk[i]} decodes past its ${size} declared bytes`,
            offset,
            { table: this.index.table[i], chunk: this.index.tableChunk[i] },
          );
        }
        this.closeOpen();
      } else if (pages && pages.wantUntil > 0) {
        await this.completePage(cursor, pages, meter);
      }
      failed = false;
    } finally {
      pages?.close();
      // A failed or abandoned decoder is not reused: its state is unknown.
      if (failed && this.open === cur) this.closeOpen();
    }
  }

  /**
   * Decode on to the end of the page the read stopped in, so that the cache holds it whole.
   * Best effort: the read already has its bytes, so a failure here only closes the decoder
   * (the next read that needs these bytes raises the error).
   */
  private async completePage(
    cursor: ChunkCursor,
    pages: PageCollector,
    meter: DecompressMeter,
  ): Promise<void> {
    const need = pages.wantUntil - cursor.position;
    if (meter.total + need > meter.limit) return;
    try {
      while (cursor.position < pages.wantUntil) {
        const at = cursor.position;
        const piece = await cursor.next(pages.wantUntil - at);
        if (piece.length === 0) break;
        meter.add(piece.length);
        pages.take(at, piece);
      }
    } catch (e) {
      if (!(e instanceof DmgError)) throw e;
      this.closeOpen();
    }
  }

  /**
   * The cursor to read chunk `i` from decoded position `from` on (it may stand before `from`):
   * the open one, one resumed at an index point, or a new one from the chunk start. It is left
   * open for the next read.
   */
  private cursorFor(i: number, from: number): ChunkCursor {
    const open =
      this.open?.chunk === i && this.open.cursor.position <= from ? this.open : undefined;
    const codec = registeredCodec(this.index, i);
    const store = this.shared.points;
    const seekable = store && seekableCodec(codec, this.index.type[i]);
    const point = seekable && store.nearest(i, from, seekable);
    if (open && (!point || point.position <= open.cursor.position + RESUME_COST)) {
      return open.cursor;
    }
    this.closeOpen();
    // A pass from the chunk start uses the registered codec (the fastest); anything else a
    // codec that records and resumes index points.
    const use = seekable && (point || from > 0) ? seekable : codec;
    const size = this.index.sectorCount[i] * SECTOR_SIZE;
    if (store && store.span === 0 && from === 0) store.span = pointSpan(this.index);
    const points =
      use === seekable ? store?.recorder(i, size, use, from > 0, from === 0) : undefined;
    const ctx = chunkContext(this.source, this.index, this.memory, i, points);
    const cursor = startCursor(use, ctx, point || undefined);
    this.open = { chunk: i, cursor };
    return cursor;
  }

  /** Close the decoder left open by a previous read, releasing its memory. */
  closeOpen(): void {
    if (this.open) {
      this.open.cursor.close();
      this.open = undefined;
    }
  }
}
