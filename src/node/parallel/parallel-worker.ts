/**
 * One lane of parallel decoding (see parallel.ts). A lane decodes the chunks of the tasks it is
 * given, in order, through an image reader of its own, and reports each chunk's bytes (copied
 * into slabs that the consumer hands back once written) or its CRC32, then its outcome. Lanes
 * run in worker threads (entry point: parallel-thread.ts) and in the calling thread.
 */
import * as zlib from "node:zlib";
import { crc32 } from "../../bytes/crc32.js";
import type { InputBuffers } from "../../codecs/input.js";
import type { CodecTable } from "../../codecs/registry.js";
import type { BlockLayout } from "../../containers/encrypted/block-source.js";
import { DmgError, type ErrorCode } from "../../core/errors.js";
import { DEFAULT_BUDGET, DecompressMeter, type MemoryMeter } from "../../core/limits.js";
import { Work } from "../../core/work.js";
import { SECTOR_SIZE } from "../../format/types.js";
import type { ChunkIndex } from "../../image/chunk-index.js";
import type { ForkCrc } from "../../image/fork-crc.js";
import { ImageReader } from "../../image/reader.js";
import type { ByteSource } from "../../sources/source.js";
import { threadPacer } from "../gc-pacer.js";

/** Fields of each chunk of a task, in this order, in {@link Task.chunks}. */
export const TASK_FIELDS = 7; // chunk index, type, table, entry in table, sectors, offset, length

/** Chunks for a lane to decode, in disk order. */
export interface Task {
  id: number;
  chunks: Float64Array;
}

/**
 * Numbers per record in {@link Batch.records}: chunk, data bytes, status, CRC32, decoded bytes,
 * and the CRC32 of the chunk's payload as stored (-1 when the decoder did not read it whole).
 */
export const RECORD = 6;
/** Record status: the chunk goes on in the next batch; it ended; it failed (next error). */
export const CONTINUES = 0;
export const ENDED = 1;
export const FAILED = 2;

/** A DmgError as plain data, to cross between threads. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  offset: number;
  table?: number;
  chunk?: number;
}

/** What a lane reports: records in chunk order, with the data they describe in `slab`. */
export interface Batch {
  task: number;
  records: number[];
  errors: ErrorData[];
  /** Data mode: the records' bytes, back to back (hand the buffer back when written). */
  slab?: Uint8Array;
  /** The task is finished: this is its last batch. */
  done: boolean;
}

/** How a lane works: bytes or CRC32s, its share of working memory, its slabs. */
export interface LaneConfig {
  mode: "data" | "crc";
  memory: number;
  slab: number;
  slabs: number;
  /**
   * Collect the thread's garbage as chunks are decoded (gc-pacer.ts): only in the calling
   * thread, and only when its process does nothing else (never in worker lanes: see parallel.ts).
   */
  collectGarbage?: boolean;
}

/** What a worker lane is started with. */
export interface LaneStart {
  lane: "dmg-validate";
  /** The image file's descriptor, opened by the consumer's thread (the same process). */
  fd: number;
  size: number;
  /**
   * An encrypted image: the file's blocks and data keys, from which the lane makes its own
   * decrypting source (keys cross to the thread in its start message, never in argv or env).
   */
  decrypt?: { layout: BlockLayout; aesKey: Uint8Array; hmacKey: Uint8Array };
  config: LaneConfig;
}

/** What a lane decodes with. */
export interface LaneDeps {
  source: ByteSource;
  /** The lane's own meter, of its share of the working-memory budget. */
  memory: MemoryMeter;
  codecs: CodecTable;
  /**
   * The lane's input buffers, passed from chunk to chunk (without, each chunk read into new
   * ones: a 1 GiB validation left ~60 MiB of garbage resident in the lanes).
   */
  buffers: InputBuffers;
}

/** The consumer gives a lane only chunks within the operation's output budget. */
const UNLIMITED = Object.freeze({
  ...DEFAULT_BUDGET,
  maxDecompressedBytes: Number.MAX_SAFE_INTEGER,
});

/** A lane that could not start or failed outside any chunk. */
export interface LaneFatal {
  fatal: string;
}

/** node:zlib's CRC32 (Node 20.15 and later) where present: the same value, five times faster. */
const crcOf: (data: Uint8Array, crc: number) => number =
  typeof zlib.crc32 === "function" ? zlib.crc32 : crc32;

export function errorData(e: DmgError): ErrorData {
  return { code: e.code, message: e.message, offset: e.offset, table: e.table, chunk: e.chunk };
}

export function toError(d: ErrorData): DmgError {
  return new DmgError(d.code, d.message, d.offset, { table: d.table, chunk: d.chunk });
}

/** A chunk index over just the chunks of a task (the reader needs nothing else). */
function taskIndex(fields: Float64Array): ChunkIndex {
  const count = fields.length / TASK_FIELDS;
  const idx: ChunkIndex = {
    count,
    type: new Uint32Array(count),
    table: new Uint32Array(count),
    tableChunk: new Uint32Array(count),
    sector: new Float64Array(count),
    sectorCount: new Float64Array(count),
    offset: new Float64Array(count),
    length: new Float64Array(count),
    totalSectors: 0,
  };
  for (let j = 0; j < count; j++) {
    const f = j * TASK_FIELDS;
    idx.type[j] = fields[f + 1];
    idx.table[j] = fields[f + 2];
    idx.tableChunk[j] = fields[f + 3];
    idx.sector[j] = idx.totalSectors;
    idx.sectorCount[j] = fields[f + 4];
    idx.offset[j] = fields[f + 5];
    idx.length[j] = fields[f + 6];
    idx.totalSectors += fields[f + 4];
  }
  return idx;
}

export class Lane {
  private readonly free: Uint8Array[] = [];
  private made = 0;
  private wake: (() => void) | undefined;
  private slab: Uint8Array | undefined;
  private used = 0;
  /** Data bytes of the current chunk in the slab not yet covered by a record. */
  private pending = 0;
  private records: number[] = [];
  private errors: ErrorData[] = [];
  private stopped = false;
  /**
   * Paces the lane's decoding, which gives the thread's event loop (the consumer, messages)
   * a turn after each slice of work, and cuts a chunk short once the lane is stopped: a lane
   * in the consumer's thread must not go on decoding for an operation that has ended.
   */
  private readonly cancel = new AbortController();
  private readonly work = new Work(this.cancel.signal);

  constructor(
    private readonly deps: LaneDeps,
    private readonly config: LaneConfig,
    private readonly post: (batch: Batch) => void,
  ) {}

  private get memory(): MemoryMeter {
    return this.deps.memory;
  }

  /** A slab the consumer is done with. */
  giveBack(slab: Uint8Array): void {
    this.free.push(slab);
    this.wake?.();
  }

  /** Stop now, in the middle of a chunk: the consumer has gone. */
  stop(): void {
    this.stopped = true;
    this.cancel.abort();
    this.wake?.();
  }

  /** Decode every chunk of `task`; a failed chunk ends a data-mode task (the consumer stops there). */
  async run(task: Task): Promise<void> {
    const index = taskIndex(task.chunks);
    // The payload's own CRC32, from the decoder's reads: the consumer joins it into the data
    // fork's CRC32 instead of reading the payload a second time.
    let stored: ForkCrc | undefined;
    // Only a validation (CRC mode) wants the payloads' CRC32s.
    const Fork =
      this.config.mode === "crc" ? (await import("../../image/fork-crc.js")).ForkCrc : undefined;
    const { source } = this.deps;
    const tapped: ByteSource = {
      size: source.size,
      read: async (offset, length, into) => {
        const bytes = await (into
          ? source.read(offset, length, into)
          : source.read(offset, length));
        stored?.saw(offset, bytes);
        return bytes;
      },
    };
    const reader = new ImageReader({ ...this.deps, source: tapped, index });
    const meter = new DecompressMeter(UNLIMITED);
    const pacer = this.config.collectGarbage ? threadPacer() : undefined;
    for (let j = 0; j < index.count && !this.stopped; j++) {
      const chunk = task.chunks[j * TASK_FIELDS];
      const before = meter.total;
      let crc = 0;
      stored = Fork && new Fork(index.offset[j], index.offset[j] + index.length[j], crcOf);
      try {
        for await (const piece of reader.chunkPieces(
          j,
          0,
          index.sectorCount[j] * SECTOR_SIZE,
          meter,
          this.work,
        )) {
          if (this.config.mode === "crc") crc = crcOf(piece, crc);
          else await this.copy(task.id, chunk, piece);
        }
        this.record(chunk, ENDED, crc, meter.total - before, stored?.whole ?? -1);
      } catch (e) {
        // Stopped: the chunk was cut short, it did not fail.
        if (!(e instanceof DmgError) || this.stopped) throw e;
        this.errors.push(errorData(e));
        this.record(chunk, FAILED, 0, meter.total - before, -1);
        if (this.config.mode === "data") break;
      }
      // Each chunk's decoder leaves its buffers behind: keep the thread's garbage bounded.
      pacer?.check();
    }
    this.flush(task.id, true);
  }

  private record(chunk: number, status: number, crc: number, decoded: number, payload = -1): void {
    this.records.push(chunk, this.pending, status, crc, decoded, payload);
    this.pending = 0;
  }

  /** Copy `piece` into slabs, sending each as it fills. */
  private async copy(task: number, chunk: number, piece: Uint8Array): Promise<void> {
    for (let at = 0; at < piece.length; ) {
      this.slab ??= await this.takeSlab();
      const n = Math.min(piece.length - at, this.slab.length - this.used);
      this.slab.set(piece.subarray(at, at + n), this.used);
      this.used += n;
      this.pending += n;
      at += n;
      if (this.used === this.slab.length) {
        this.record(chunk, CONTINUES, 0, 0);
        this.flush(task, false);
      }
    }
  }

  private async takeSlab(): Promise<Uint8Array> {
    for (;;) {
      const slab = this.free.pop();
      if (slab) return slab;
      if (this.made < this.config.slabs) {
        this.memory.acquire(this.config.slab, "parallel decoding slab");
        this.made++;
        return new Uint8Array(this.config.slab);
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
      if (this.stopped) throw new Error("lane stopped");
    }
  }

  private flush(task: number, done: boolean): void {
    const batch: Batch = { task, records: this.records, errors: this.errors, done };
    if (this.slab) batch.slab = this.slab.subarray(0, this.used);
    this.slab = undefined;
    this.used = 0;
    this.records = [];
    this.errors = [];
    this.post(batch);
  }
}
