/**
 * Writing the whole virtual disk in order: decoded in this thread and, when they pay off, in
 * worker threads, with one write in flight while the next megabyte is gathered. Zero and ignore
 * chunks become holes in constant time when the sink can leave them (a sparse file).
 */

import { wasmEnabled } from "../../codecs/wasm/embedded.js";
import type { Work } from "../../core/work.js";
import { isCompressed, isZeroFill, SECTOR_SIZE, UDZO, ULFO } from "../../format/types.js";
import { ImageReader } from "../../image/reader.js";
import { operationMeter, type Session } from "../../image/session.js";
import type { ByteSink } from "../../write/writer.js";
import { threadPacer } from "../gc-pacer.js";
import type { ChunkPool, Taken } from "../parallel/parallel.js";
import { nativeZlibCodec } from "../zlib/native-zlib-codec.js";
import { SINK_BUFFER } from "./file-sink.js";

/**
 * Whether worker threads can speed up writing the disk of `s`, judged by its codecs: yes when it
 * has chunks of a codec slower than writing (bzip2, ADC, XZ: 70-300 MB/s a core) or more than
 * two threads may decode. Not when two threads at most may decode and every compressed chunk is
 * zlib on node:zlib or LZFSE in WebAssembly: they decode at ~1 GB/s, the second
 * core is busy with the writes, and a worker costs ~25 MiB of memory (measured on a 1 GiB
 * image: no faster, 40% more resident memory). (Timing the first writes against the decoding
 * cannot tell: a write's completion waits for the decoder to yield, so writing looks slow.)
 *
 * @internal
 */
export function workersMayPay(s: Session, threads: number): boolean {
  if (threads > 2 || s.codecs.get(UDZO) !== nativeZlibCodec) return true;
  // LZFSE in WebAssembly decodes ~900 MB/s a core: like zlib, faster than the writes. A worker
  // made a 256 MiB LZVN extract slower (0.98 s against 0.81 s) and 20 MiB bigger.
  const fastLzfse = wasmEnabled() && typeof WebAssembly === "object";
  const { index } = s;
  for (let i = 0; i < index.count; i++) {
    const type = index.type[i];
    if (type === UDZO || (type === ULFO && fastLzfse)) continue;
    if (isCompressed(type)) return true;
  }
  return false;
}

/** How {@link writeDisk} decodes. */
export interface DiskWriteOptions {
  /** Threads decoding at most, this one included (workers need a file source). */
  threads: number;
  /**
   * Whether worker threads start: "auto" (default) where they pay (see
   * {@link workersMayPay}), "always" whenever there is more than one task.
   */
  start?: "auto" | "always";
  /** Called after each write with the bytes done so far. */
  onProgress?: (done: number) => void;
  /** The operation's pace and cancellation. */
  work: Work;
  /**
   * Run a full collection of this thread's heap whenever decoders' garbage piles up (see
   * gc-pacer.ts): for a process that does nothing else, the CLI. Never for the library's
   * callers: a full collection of a server's large heap would hold its event loop far longer
   * than the memory is worth (attack class 39).
   */
  collectGarbage?: boolean;
}

/**
 * Write every byte of the virtual disk of `s` to `out`, in order, decoding in this thread
 * and, when they pay off, in worker threads. Fails with the first error in disk order, exactly
 * as `image.stream()` would. Zero and ignore chunks are holes when `out` can leave them (they
 * cost nothing, whatever their size); otherwise their zeros are written and count against the
 * operation's output budget like decoded bytes.
 */
export async function writeDisk(
  s: Session,
  out: OverlappedWriter,
  options: DiskWriteOptions,
): Promise<void> {
  const { index } = s;
  // The same accounting as a single thread: one meter for the operation, one reader.
  const meter = operationMeter(s);
  const reader = new ImageReader(s);
  const { threads, onProgress, work } = options;
  const wanted = threads > 1 && (options.start === "always" || workersMayPay(s, threads));
  let pool: ChunkPool | undefined;
  const pacer = options.collectGarbage ? threadPacer() : undefined;
  let done = 0;
  const write = async (piece: Uint8Array) => {
    await out.write(piece);
    done += piece.length;
    onProgress?.(done);
  };
  try {
    // The lanes' code is loaded only when they start (zlib on two cores decodes here).
    if (wanted) {
      const { ChunkPool } = await import("../parallel/parallel.js");
      pool = ChunkPool.start(s, {
        threads,
        mode: "data",
        signal: work.signal,
        collectGarbage: options.collectGarbage,
      });
    }
    for (let i = 0; i < index.count; i++) {
      await work.pace(index.offset[i]);
      const size = index.sectorCount[i] * SECTOR_SIZE;
      if (isZeroFill(index.type[i]) && out.holes) {
        await out.skip(size);
        done += size;
        onProgress?.(done);
        continue;
      }
      const got: Taken = pool ? await pool.take(i, write) : { done: false, from: 0 };
      if (got.done) {
        meter.add(got.bytes, index.offset[i]);
        if (got.error) throw got.error;
        continue;
      }
      for await (const piece of reader.chunkPieces(i, got.from, size, meter, work)) {
        await write(piece);
      }
      // The chunk's decoder is garbage now: keep such garbage bounded (see gc-pacer.ts).
      pacer?.check();
    }
  } finally {
    reader.close();
    s.produced += meter.total;
    await pool?.close();
  }
}

/**
 * Keeps one write in flight while the next megabyte is gathered, so that decoding overlaps
 * writing (a sink takes one write at a time). Call `end()` when done and `settle()` before
 * giving up the sink on failure.
 *
 * @internal
 */
export class OverlappedWriter {
  private readonly buffers = [new Uint8Array(SINK_BUFFER), new Uint8Array(SINK_BUFFER)];
  private current = 0;
  private used = 0;
  private inFlight: Promise<void> = Promise.resolve();

  constructor(private readonly sink: ByteSink) {}

  /** True when zeros can be skipped as a hole rather than written. */
  get holes(): boolean {
    return this.sink.skip !== undefined;
  }

  /** Append `count` zeros as a hole, after what is gathered (only when {@link holes}). */
  async skip(count: number): Promise<void> {
    if (this.used > 0) await this.send();
    await this.inFlight;
    await this.sink.skip?.(count);
  }

  async write(bytes: Uint8Array): Promise<void> {
    for (let at = 0; at < bytes.length; ) {
      const buf = this.buffers[this.current];
      const n = Math.min(bytes.length - at, buf.length - this.used);
      buf.set(bytes.subarray(at, at + n), this.used);
      this.used += n;
      at += n;
      if (this.used === buf.length) await this.send();
    }
  }

  private async send(): Promise<void> {
    await this.inFlight;
    this.inFlight = this.sink.write(this.buffers[this.current].subarray(0, this.used));
    // Its failure is raised by the next send or end(), not as an unhandled rejection.
    this.inFlight.catch(() => undefined);
    this.current ^= 1;
    this.used = 0;
  }

  /** Write what is gathered and wait for every write. */
  async end(): Promise<void> {
    if (this.used > 0) await this.send();
    await this.inFlight;
  }

  /** Wait for the write in flight, whatever its outcome (before giving up the file). */
  settle(): Promise<void> {
    return this.inFlight.catch(() => undefined);
  }
}
