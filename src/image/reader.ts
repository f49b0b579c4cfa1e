/**
 * Range reads of the virtual disk through codec cursors, with memory bounded by the
 * working-memory budget whatever the chunk size. A read inside a compressed chunk is served from
 * the decoded-data cache when it can be, else by the best of: the cursor a previous read left
 * open (so sequential reads never restart the decoder), the nearest index point before the
 * range (resumed by a codec that can), or a decoder from the chunk start; what lies before the
 * range is decoded and discarded.
 *
 * A cursor left open between two steps of a reader is idle: the image may close it to free
 * memory for another operation, or because too many are open (a client that reads a stream
 * once and drops it). The reader then finds it gone at its next step and opens another at the
 * position it had reached, from an index point or the chunk start: the bytes are the same.
 */
import type { ChunkCursor } from "../codecs/codec.js";
import type { InputBuffers } from "../codecs/input.js";
import type { CodecTable } from "../codecs/registry.js";
import { DmgError } from "../core/errors.js";
import type { DecompressMeter, MemoryMeter } from "../core/limits.js";
import { now, type Work } from "../core/work.js";
import { isZeroFill, SECTOR_SIZE, UDRW } from "../format/types.js";
import { type ByteSource, readExact } from "../sources/source.js";
import { type DecodedCache, PageCollector, type SoftHolder } from "./cache.js";
import { type ChunkIndex, findChunk } from "./chunk-index.js";
import { MIN_CHUNK, type PointStore } from "./index-points.js";
import { chunkContext, RESUME_COST, registeredCodec, startCursor } from "./seek.js";

/** Size of the pieces a read yields (and of raw-copy reads and zero pieces). */
export const PIECE = 1024 * 1024;

/**
 * Bytes one decoder step asks for, adapted to the decoder's speed: a step should take a
 * couple of milliseconds, so that the event loop gets its turn often (a 1 MiB step of pako
 * took ~25 ms cold here) while fast decoders are not called more often than they need (a
 * 256 KiB step cost node:zlib 10% more time than 1 MiB ones). It starts small, doubles after
 * a quick step and halves after a slow one.
 */
const STEP_MIN = 64 * 1024;
const STEP_FIRST = 256 * 1024;
const STEP_QUICK_MS = 1.5;
const STEP_SLOW_MS = 4;

/** Zeros handed out for zero and ignore chunks (one shared buffer, never written to). */
const ZEROS = new Uint8Array(PIECE);

/** What a reader decodes with: the image's parts (or a worker lane's). */
export interface ReaderDeps {
  source: ByteSource;
  index: ChunkIndex;
  memory: MemoryMeter;
  codecs: CodecTable;
  /** Input buffers reused from chunk to chunk. */
  buffers?: InputBuffers;
  /** Readers with a cursor open, so the image can close idle ones. */
  readers?: OpenReaders;
}

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

/**
 * The readers of one image that hold an open cursor, least recently used first. It closes
 * idle cursors when memory runs short (it is a soft holder of the image's meter) and when more
 * than `cap` are open, so that streams read once and dropped (never resumed, their `finally`
 * never run) cannot hold the budget for good (attack class G43).
 */
export class OpenReaders implements SoftHolder {
  private readonly open = new Set<ImageReader>();
  /** The reader touched last. */
  private latest: ImageReader | undefined;

  constructor(
    private readonly memory: MemoryMeter,
    readonly cap: number,
  ) {}

  /** Number of readers with a cursor open. */
  get size(): number {
    return this.open.size;
  }

  /** `r` has opened a cursor or used it: it becomes the most recent; the oldest idle go past the cap. */
  touch(r: ImageReader): void {
    // Already the most recent (a stream read steadily): nothing to reorder, nothing allocated.
    if (this.latest === r && this.open.has(r)) return;
    this.latest = r;
    this.open.delete(r);
    this.open.add(r);
    for (const other of this.open) {
      if (this.open.size <= this.cap) break;
      if (other !== r && !other.busy) other.closeOpen();
    }
  }

  /** `r` has closed its cursor. */
  drop(r: ImageReader): void {
    this.open.delete(r);
  }

  release(bytes: number): number {
    const before = this.memory.used;
    for (const r of this.open) {
      if (before - this.memory.used >= bytes) break;
      if (!r.busy) r.closeOpen();
    }
    return before - this.memory.used;
  }

  /** Close every reader's cursor and keep them closed (the image is closing). */
  closeAll(): void {
    for (const r of [...this.open]) r.close();
  }
}

export class ImageReader {
  private open: OpenCursor | undefined;
  /** A cursor step is in progress: the cursor must not be closed under it. */
  busy = false;
  /** Bytes the next decoder step asks for (see STEP_FIRST). */
  private stepBytes = STEP_FIRST;
  private closed = false;

  constructor(
    private readonly deps: ReaderDeps,
    private readonly shared: ReaderShared = {},
  ) {}

  /** Virtual disk size in bytes. */
  get size(): number {
    return this.deps.index.totalSectors * SECTOR_SIZE;
  }

  /**
   * The bytes of `[offset, offset + length)` of the virtual disk as pieces, in order. Each piece
   * is a view valid only until the next iteration step (copy what you keep).
   */
  async *pieces(
    offset: number,
    length: number,
    meter: DecompressMeter,
    work: Work,
  ): AsyncGenerator<Uint8Array> {
    const index = this.deps.index;
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      const i = findChunk(index, Math.floor(pos / SECTOR_SIZE));
      if (i < 0) {
        throw new DmgError("READ_RANGE", `no chunk covers virtual offset ${pos}`);
      }
      const chunkStart = index.sector[i] * SECTOR_SIZE;
      const chunkEnd = chunkStart + index.sectorCount[i] * SECTOR_SIZE;
      const to = Math.min(end, chunkEnd);
      yield* this.chunkPieces(i, pos - chunkStart, to - chunkStart, meter, work);
      pos = to;
    }
  }

  /**
   * The decoded bytes `[from, to)` of chunk `i` (offsets inside the chunk) as pieces. When `to`
   * is the chunk's end, the decoder's end-of-stream checks run (rule: exact declared size).
   * Zeros of zero and ignore chunks count against `meter` like decoded bytes: they are made.
   */
  async *chunkPieces(
    i: number,
    from: number,
    to: number,
    meter: DecompressMeter,
    work: Work,
  ): AsyncGenerator<Uint8Array> {
    this.checkOpen();
    const type = this.deps.index.type[i];
    if (isZeroFill(type)) {
      for (let p = from; p < to; ) {
        await work.pace();
        const n = meter.allow(Math.min(PIECE, to - p));
        meter.add(n);
        yield ZEROS.subarray(0, n);
        p += n;
      }
      return;
    }
    if (type === UDRW) {
      const base = this.deps.index.offset[i];
      for (let p = from; p < to; ) {
        await work.pace(base + p);
        const n = Math.min(PIECE, to - p);
        this.deps.memory.acquire(n, "raw chunk read");
        try {
          yield await readExact(this.deps.source, base + p, n, "raw chunk");
        } finally {
          this.deps.memory.release(n);
        }
        p += n;
      }
      return;
    }
    yield* this.decoded(i, from, to, meter, work);
  }

  private async *decoded(
    i: number,
    from: number,
    to: number,
    meter: DecompressMeter,
    work: Work,
  ): AsyncGenerator<Uint8Array> {
    const index = this.deps.index;
    const size = index.sectorCount[i] * SECTOR_SIZE;
    const offset = index.offset[i];
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
    let cursor = this.cursorFor(i, from);
    // Small reads leave the pages they touch in the cache.
    let pages =
      cache && to - from <= cache.cap / 4
        ? new PageCollector(cache, i, size, cursor.position, from, to)
        : undefined;
    let failed = true;
    try {
      let pos = from;
      for (;;) {
        await work.pace(offset);
        if (this.open?.cursor !== cursor) {
          // Closed while idle: go on from where this read was, with pages no longer contiguous.
          pages?.close();
          pages = undefined;
          cursor = this.cursorFor(i, pos);
        }
        // The cursor, not `pos`, says when to stop: one reopened after the last piece (closed
        // while this read was paused) stands before `to` and must decode up to it again, or
        // the end-of-chunk check below would see the rest of the chunk as an overrun.
        if (cursor.position >= to) break;
        const at = cursor.position;
        const want = at < pos ? pos - at : to - at;
        const piece = await this.step(cursor, meter.allow(Math.min(this.stepBytes, want), offset));
        if (piece.length === 0) break;
        meter.add(piece.length, offset);
        pages?.take(at, piece);
        if (at >= pos) {
          pos += piece.length;
          yield piece;
        }
      }
      if (to === size) {
        // Rule 3: the chunk must end exactly here; next() checks overrun and trailing input.
        const extra = await this.step(cursor, 1);
        if (extra.length !== 0) {
          throw new DmgError(
            "DECODE_OVERRUN",
            `table ${index.table[i]} chunk ${index.tableChunk[i]} decodes past its ${size} declared bytes`,
            offset,
            { table: index.table[i], chunk: index.tableChunk[i] },
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
      if (failed && this.open?.cursor === cursor) this.closeOpen();
    }
  }

  /** One step of `cursor`, during which it is busy (never closed as idle); adapts the step. */
  private async step(cursor: ChunkCursor, max: number): Promise<Uint8Array> {
    // Used now: the most recent, so that the cap closes the readers idle longest (a stream
    // read steadily must not lose its decoder because it was opened first).
    if (this.open?.cursor === cursor) this.deps.readers?.touch(this);
    this.busy = true;
    const started = now();
    try {
      return await cursor.next(max);
    } finally {
      this.busy = false;
      const took = now() - started;
      if (max >= this.stepBytes) {
        if (took < STEP_QUICK_MS) this.stepBytes = Math.min(PIECE, this.stepBytes * 2);
        else if (took > STEP_SLOW_MS) this.stepBytes = Math.max(STEP_MIN, this.stepBytes / 2);
      }
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
        const piece = await this.step(cursor, pages.wantUntil - at);
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
    // Every cursor is opened here, also by a stream resumed after the image was closed: it
    // must not start decoding (and holding memory) again.
    this.checkOpen();
    const { index, codecs } = this.deps;
    const open =
      this.open?.chunk === i && this.open.cursor.position <= from ? this.open : undefined;
    const codec = registeredCodec(codecs, index, i);
    const store = this.shared.points;
    const seekable = store && codecs.seekable(index.type[i]);
    const point = seekable && store.nearest(i, from, seekable);
    if (open && (!point || point.position <= open.cursor.position + RESUME_COST)) {
      return open.cursor;
    }
    this.closeOpen();
    // A pass from the chunk start uses the image's codec (the fastest); anything else a
    // codec that records and resumes index points.
    const use = seekable && (point || from > 0) ? seekable : codec;
    const size = index.sectorCount[i] * SECTOR_SIZE;
    if (store && store.span === 0 && from === 0) store.span = pointSpan(index);
    const points =
      use === seekable ? store?.recorder(i, size, use, from > 0, from === 0) : undefined;
    const ctx = chunkContext(this.deps, i, points);
    const cursor = startCursor(use, ctx, point || undefined);
    this.open = { chunk: i, cursor };
    this.deps.readers?.touch(this);
    return cursor;
  }

  private checkOpen(): void {
    if (this.closed) throw new DmgError("INVALID_ARGUMENT", "the image is closed");
  }

  /** Close the decoder left open by a previous read, releasing its memory. */
  closeOpen(): void {
    if (this.open) {
      const { cursor } = this.open;
      this.open = undefined;
      this.deps.readers?.drop(this);
      cursor.close();
    }
  }

  /** Close the decoder and refuse further reads (the image is closed). */
  close(): void {
    this.closed = true;
    this.closeOpen();
  }
}
