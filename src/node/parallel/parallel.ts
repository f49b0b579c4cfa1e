/**
 * Parallel decoding of a whole image on Node, for full extraction and validation. Chunks are
 * grouped into tasks that lanes decode ahead of the consumer: worker threads, each opening the
 * image file itself, plus one lane in the calling thread. The consumer takes each chunk's bytes
 * or CRC32 strictly in disk order, so output and errors are those of a single thread.
 *
 * Memory: each worker thread's own heap is counted first (a fixed cost per thread, its young
 * generation held small by resource limits); the rest of the image's working-memory budget is
 * split evenly between the lanes and the consumer (each lane decodes with a meter of its share,
 * its slabs included). Both are reserved in the image's meter while the pool runs; a budget
 * that cannot pay for two lanes starts no pool. Each thread collects its decoders' garbage
 * once it passes a few megabytes (gc-pacer.ts). Anything a lane cannot do as one thread
 * would (its share is too small for a chunk, a worker dies, the file changed) makes the pool
 * stop; the consumer then decodes the rest itself with the whole budget, from the exact byte
 * where the lane stopped.
 */
import type { Worker } from "node:worker_threads";
import { InputBuffers } from "../../codecs/input.js";
import { decryptionOf } from "../../containers/marks.js";
import type { DmgError } from "../../core/errors.js";
import { MemoryMeter, outputLimit } from "../../core/limits.js";
import { abortError } from "../../core/work.js";
import { isCompressed, isZeroFill, SECTOR_SIZE } from "../../format/types.js";
import type { ChunkIndex } from "../../image/chunk-index.js";
import type { Session } from "../../image/session.js";
import type { ByteSource } from "../../sources/source.js";
import { fileDescriptor } from "../io/file-source.js";
import { builtModule, startWorker } from "../worker/spawn.js";
import {
  type Batch,
  CONTINUES,
  ENDED,
  Lane,
  type LaneConfig,
  type LaneFatal,
  type LaneStart,
  RECORD,
  TASK_FIELDS,
  type Task,
  toError,
} from "./parallel-worker.js";

const MiB = 1024 * 1024;
/** Data crosses from a lane to the consumer in slabs of this size, this many per lane. */
const SLAB = MiB;
const SLABS = 2;
/** A task is a run of chunks of at most this many decoded bytes (or one larger chunk)... */
const TASK_BYTES = 4 * MiB;
/** ...and at most this many chunks. */
const TASK_CHUNKS = 4096;
/** After this many failed chunks the consumer decodes the rest itself (attack class G35). */
const MAX_LANE_FAILURES = 64;
/** A lane's share of the budget must hold its slabs and a decoder. */
const MIN_SHARE = 8 * MiB;
/**
 * A worker's young generation, kept small: its decoders' big arrays live outside the heap, and
 * the default (up to 3 x 16 MiB of semi-spaces) let each worker hold tens of megabytes.
 */
const WORKER_YOUNG_MB = 2;
/**
 * A worker's old generation at most: a lane's heap holds ~10 MiB. Past it the worker dies and
 * the consumer decodes the rest itself, as for any lane that fails.
 */
const WORKER_OLD_MB = 48;
/**
 * What a worker thread costs beyond its share, counted in the budget: its young generation and
 * the isolate's own heap and code (measured at ~6 MiB resident over a thread that decodes).
 */
export const WORKER_COST = 8 * MiB;

/**
 * How many lanes a budget of `budget` bytes pays for, at most `wanted`: each lane needs a share
 * of at least {@link MIN_SHARE}, the consumer one more, and each lane but the consumer's own a
 * worker thread ({@link WORKER_COST}). Below two the pool does not start.
 *
 * @internal
 */
export function lanesFor(budget: number, wanted: number): number {
  let lanes = wanted;
  while (lanes >= 2 && (lanes + 1) * MIN_SHARE + (lanes - 1) * WORKER_COST > budget) lanes--;
  return lanes;
}

export { defaultThreads } from "./threads.js";

/**
 * What the pool has for a chunk: its outcome (`done`), after its bytes went to the consumer's
 * callback, or `done: false` when the consumer must decode it itself from byte `from`.
 */
export type Taken =
  | {
      done: true;
      crc: number;
      bytes: number;
      error?: DmgError;
      /** The CRC32 of the chunk's payload as stored, when the lane read it whole. */
      stored?: number;
    }
  | { done: false; from: number };

/** One lane as the consumer sees it. */
interface LaneSlot {
  worker?: Worker;
  local?: Lane;
  batches: Batch[];
  /** Next record, next data byte and next error of batches[0]. */
  rec: number;
  at: number;
  err: number;
  busy: boolean;
  dead: boolean;
}

/**
 * Tasks over the chunks from `from` on that need decoding, stopping before the decompression
 * budget (`budgetLeft` more bytes) runs out.
 */
function planTasks(index: ChunkIndex, from: number, budgetLeft: number) {
  const order: number[] = [];
  const starts: number[] = [];
  const taskOf = new Int32Array(index.count).fill(-1);
  let bytes = 0;
  let total = 0;
  for (let i = from; i < index.count; i++) {
    const type = index.type[i];
    if (isZeroFill(type)) continue;
    const size = index.sectorCount[i] * SECTOR_SIZE;
    // The chunk that crosses the budget, and all after it, are the consumer's own: it then
    // raises BUDGET_DECOMPRESSED at the very byte a single thread would.
    if (isCompressed(type)) {
      total += size;
      if (total > budgetLeft) break;
    }
    const open = starts.length > 0 && order.length - starts[starts.length - 1] < TASK_CHUNKS;
    if (!open || bytes + size > TASK_BYTES) {
      starts.push(order.length);
      bytes = 0;
    }
    bytes += size;
    taskOf[i] = starts.length - 1;
    order.push(i);
  }
  return { order, starts, taskOf };
}

/** True when every chunk type of `s` decodes with the platform's codec (workers have only those). */
function defaultCodecs(s: Session): boolean {
  const { index, codecs } = s;
  for (let i = 0; i < index.count; i++) if (!codecs.isDefault(index.type[i])) return false;
  return true;
}

/**
 * What a lane thread reads the image of `source` from: the file's descriptor, and for an
 * encrypted image the blocks and keys to decrypt it with; undefined when the image is no
 * file another thread can read (bytes, a URL, a sparse image's bands, a set's parts).
 */
function laneFile(source: ByteSource): Omit<LaneStart, "lane" | "config"> | undefined {
  const fd = fileDescriptor(source);
  if (fd !== undefined) return { fd, size: source.size };
  const d = decryptionOf(source);
  const outer = d && fileDescriptor(d.outer);
  if (d === undefined || outer === undefined) return undefined;
  const { aesKey, hmacKey } = d.keys;
  return { fd: outer, size: d.outer.size, decrypt: { layout: d.layout, aesKey, hmacKey } };
}

/** The output budget of one operation on the image of `s`. */
function operationLimit(s: Session): number {
  return outputLimit(s.budget, s.source.size);
}

/** Lanes decoding the chunks of one image ahead of a consumer that takes them in disk order. */
export class ChunkPool {
  private readonly lanes: LaneSlot[] = [];
  private readonly tasks: Array<{ start: number; count: number; lane: number }>;
  private nextTask = 0;
  private consumerTask = 0;
  private failed = false;
  /** Chunks the lanes reported failed so far. */
  private failures = 0;
  private closing: Promise<void> | undefined;
  /** Resolves the consumer's wait for a lane. */
  private waiter: (() => void) | undefined;
  /** The operation's cancellation, and what stops the lanes when it fires. */
  private signal: AbortSignal | undefined;
  private readonly onAbort = () => {
    void this.close();
    this.wake();
  };

  private constructor(
    private readonly index: ChunkIndex,
    private readonly order: number[],
    starts: number[],
    private readonly taskOf: Int32Array,
    private readonly memory: MemoryMeter,
    private reserved: number,
    private readonly window: number,
  ) {
    this.tasks = starts.map((start, t) => ({
      start,
      count: (starts[t + 1] ?? order.length) - start,
      lane: -1,
    }));
  }

  /**
   * Start a pool for the image of session `s`, with `threads` lanes at most, for the chunks
   * from `from` on (`decompressed` bytes were decoded before them); data mode hands chunks'
   * bytes to the consumer, CRC mode only their CRC32s. When `signal` fires, the lanes stop at
   * once and {@link take} fails as a single thread would. Returns undefined when parallel
   * decoding would not help or cannot be had: one thread, one task, a budget too small to
   * share, a source that is not a file, codecs of the caller's that workers do not have, or a
   * signal that has fired.
   */
  static start(
    s: Session,
    options: {
      threads: number;
      mode: LaneConfig["mode"];
      from?: number;
      decompressed?: number;
      signal?: AbortSignal;
      /** The calling thread's lane collects garbage too (see LaneConfig). */
      collectGarbage?: boolean;
    },
  ): ChunkPool | undefined {
    const { index, memory, source } = s;
    const file = laneFile(source);
    if (file === undefined || !defaultCodecs(s) || options.signal?.aborted) return undefined;
    const left = operationLimit(s) - (options.decompressed ?? 0);
    const { order, starts, taskOf } = planTasks(index, options.from ?? 0, left);
    const budget = s.budget.maxWorkingMemory;
    const script = builtModule("./parallel-thread.js", import.meta.url);
    // One share per lane, one left to the consumer for what it does itself, and each worker's
    // own heap: a budget too small for two lanes starts none rather than exceed it.
    const lanes = lanesFor(budget, Math.min(options.threads, starts.length));
    if (!script || !(lanes >= 2)) return undefined;
    const workers = (lanes - 1) * WORKER_COST;
    const share = Math.floor((budget - workers) / (lanes + 1));
    try {
      memory.acquire(lanes * share + workers, "parallel decoding lanes and their threads");
    } catch {
      return undefined;
    }
    const window = options.mode === "data" ? lanes : 4 * lanes;
    const pool = new ChunkPool(
      index,
      order,
      starts,
      taskOf,
      memory,
      lanes * share + workers,
      window,
    );
    // A deadline or a cancellation stops the lanes even while the consumer is elsewhere
    // (writing, decoding a chunk itself): no thread goes on decoding for an ended operation.
    pool.signal = options.signal;
    pool.signal?.addEventListener("abort", pool.onAbort, { once: true });
    const config: LaneConfig = { mode: options.mode, memory: share, slab: SLAB, slabs: SLABS };
    for (let k = 0; k < lanes; k++) {
      const slot: LaneSlot = { batches: [], rec: 0, at: 0, err: 0, busy: false, dead: false };
      if (k === 0) {
        slot.local = new Lane(
          { source, memory: new MemoryMeter(share), codecs: s.codecs, buffers: new InputBuffers() },
          { ...config, collectGarbage: options.collectGarbage === true },
          (batch) => pool.receive(slot, batch),
        );
      } else {
        const start: LaneStart = {
          lane: "dmg-validate",
          ...file,
          // Worker lanes never force collections: getting the engine's collector sets a V8 flag,
          // and V8's flags are the process's, written while other threads' isolates compile
          // and collect; with workers ending mid-work that crashed the process (a native
          // assertion in the platform's task runner) about one run in three.
          config: { ...config, collectGarbage: false },
        };
        try {
          const worker = startWorker(script, {
            workerData: start,
            resourceLimits: {
              maxYoungGenerationSizeMb: WORKER_YOUNG_MB,
              maxOldGenerationSizeMb: WORKER_OLD_MB,
            },
          });
          worker.on("message", (m: Batch | LaneFatal) => pool.receive(slot, m));
          worker.on("error", () => pool.laneDied(slot));
          worker.on("exit", () => pool.laneDied(slot));
          slot.worker = worker;
        } catch {
          // No thread to be had (a resource limit): the other lanes do its share.
          slot.dead = true;
        }
      }
      pool.lanes.push(slot);
    }
    pool.dispatch();
    return pool;
  }

  /** Give idle lanes the next tasks, up to `window` tasks past the consumer. */
  private dispatch(): void {
    for (const slot of this.lanes) {
      if (this.failed || this.nextTask >= this.tasks.length) return;
      if (slot.busy || slot.dead || this.nextTask > this.consumerTask + this.window) continue;
      const t = this.nextTask++;
      const task = this.tasks[t];
      task.lane = this.lanes.indexOf(slot);
      slot.busy = true;
      const fields = new Float64Array(task.count * TASK_FIELDS);
      const ix = this.index;
      for (let j = 0; j < task.count; j++) {
        const i = this.order[task.start + j];
        fields.set(
          [
            i,
            ix.type[i],
            ix.table[i],
            ix.tableChunk[i],
            ix.sectorCount[i],
            ix.offset[i],
            ix.length[i],
          ],
          j * TASK_FIELDS,
        );
      }
      const message: Task = { id: t, chunks: fields };
      if (slot.local) slot.local.run(message).catch(() => this.laneDied(slot));
      else slot.worker!.postMessage({ task: message }, [fields.buffer]);
    }
  }

  private receive(slot: LaneSlot, m: Batch | LaneFatal): void {
    if ("fatal" in m) {
      this.laneDied(slot);
      return;
    }
    slot.batches.push(m);
    if (m.done) {
      slot.busy = false;
      this.dispatch();
    }
    this.wake();
  }

  private laneDied(slot: LaneSlot): void {
    if (this.closing) return;
    slot.dead = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Until a lane reports, dies, or the signal fires (its listener wakes the consumer too). */
  private changed(): Promise<void> {
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /**
   * The signal has fired: stop the lanes and fail as a single thread does at chunk `i`,
   * BUDGET_TIME for a deadline, else ABORTED. A deadline passing while the consumer waits for
   * a lane must not wait for the lane's task: a task of bzip2 chunks is seconds of work.
   */
  private async aborted(signal: AbortSignal, i: number): Promise<never> {
    await this.close();
    throw abortError(signal, this.index.offset[i]);
  }

  /** Done with batches[0] of `slot`: its slab goes back to the lane. */
  private consumed(slot: LaneSlot): void {
    const b = slot.batches.shift()!;
    slot.rec = slot.at = slot.err = 0;
    if (!b.slab) return;
    if (slot.local) slot.local.giveBack(new Uint8Array(b.slab.buffer));
    else slot.worker!.postMessage({ slab: b.slab }, [b.slab.buffer as ArrayBuffer]);
  }

  /**
   * Chunk `i` (chunks must be taken in increasing order): its bytes go to `onPiece` (data mode;
   * each piece is valid until the returned promise resolves), then its outcome is returned.
   *
   * @throws DmgError BUDGET_TIME (a deadline) or ABORTED once the pool's signal has fired,
   *   the lanes then stopped
   */
  async take(i: number, onPiece?: (piece: Uint8Array) => Promise<void>): Promise<Taken> {
    if (this.signal?.aborted) return this.aborted(this.signal, i);
    const t = this.taskOf[i];
    let from = 0;
    // Zero chunks are nobody's; past the last task (the decompression budget) the consumer
    // decodes with the whole budget.
    if (t < 0 && i < this.order[this.order.length - 1]) return { done: false, from };
    if (t < 0 || this.failed) return this.stop(from);
    if (t !== this.consumerTask) {
      this.consumerTask = t;
      this.dispatch();
    }
    for (;;) {
      if (this.signal?.aborted) return this.aborted(this.signal, i);
      const lane = this.tasks[t].lane;
      const slot = lane < 0 ? undefined : this.lanes[lane];
      const b = slot?.batches[0];
      if (!slot || !b) {
        if (slot?.dead || this.failed) return this.stop(from);
        await this.changed();
        continue;
      }
      const r = slot.rec * RECORD;
      // Lanes report their chunks in order; anything else is a bug, met by decoding here.
      if (b.records[r] !== i) return this.stop(from);
      const n = b.records[r + 1];
      if (n > 0 && onPiece) await onPiece(b.slab!.subarray(slot.at, slot.at + n));
      slot.at += n;
      from += n;
      slot.rec++;
      const status = b.records[r + 2];
      const error = status === ENDED || status === CONTINUES ? undefined : b.errors[slot.err++];
      if (slot.rec * RECORD >= b.records.length) this.consumed(slot);
      if (status === CONTINUES) continue;
      if (!error) {
        const stored = b.records[r + 5];
        return {
          done: true,
          crc: b.records[r + 3],
          bytes: b.records[r + 4],
          stored: stored >= 0 ? stored : undefined,
        };
      }
      // The lane's share of the budget was too small: the whole budget may do.
      if (error.code === "BUDGET_WORKING_MEMORY") return this.stop(from);
      // Many failing chunks: each costs the lanes an error sent between threads, more than
      // decoding it here (130,000 corrupt chunks took 7 s on two threads, 3 s on one).
      if (++this.failures > MAX_LANE_FAILURES) return this.stop(from);
      return { done: true, crc: 0, bytes: b.records[r + 4], error: toError(error) };
    }
  }

  /** The consumer decodes from here on: stop the lanes and give back their memory first. */
  private async stop(from: number): Promise<Taken> {
    await this.close();
    return { done: false, from };
  }

  /** Stop every lane and release the memory reserved for them. Safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.failed = true;
      this.signal?.removeEventListener("abort", this.onAbort);
      this.memory.release(this.reserved);
      this.reserved = 0;
      for (const slot of this.lanes) slot.local?.stop();
      await Promise.all(this.lanes.map((s) => s.worker?.terminate()));
    })();
    return this.closing;
  }
}
