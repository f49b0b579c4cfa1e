/**
 * Writing the whole virtual disk in order: decoded in this thread and, when they pay off, in
 * worker threads, with one write in flight while the next megabyte is gathered.
 */

import { codecFor } from "../../codecs/registry.js";
import { DecompressMeter } from "../../core/limits.js";
import { isCompressed, SECTOR_SIZE, UDZO } from "../../format/types.js";
import type { DmgImage } from "../../image/open.js";
import { ImageReader } from "../../image/reader.js";
import type { ByteSink } from "../../write/writer.js";
import { ChunkPool, type Taken } from "../parallel/parallel.js";
import { nativeZlibCodec } from "../zlib/native-zlib-codec.js";
import { SINK_BUFFER } from "./file-sink.js";

/**
 * Whether worker threads can speed up writing `image`'s disk, judged by its codecs: yes when it
 * has chunks of a codec slower than writing (bzip2, ADC, LZFSE, XZ: decoders in JavaScript, at
 * 20-170 MB/s a core) or more than two threads may decode. Not when two threads at most may
 * decode and every compressed chunk is zlib on node:zlib: it inflates at ~1 GB/s, the second
 * core is busy with the writes, and a worker costs ~25 MiB of memory (measured on a 1 GiB
 * image: no faster, 40% more resident memory). (Timing the first writes against the decoding
 * cannot tell: a write's completion waits for the decoder to yield, so writing looks slow.)
 *
 * @internal
 */
export function workersMayPay(image: DmgImage, threads: number): boolean {
  if (threads > 2 || codecFor(UDZO) !== nativeZlibCodec) return true;
  const { index } = image.internals;
  for (let i = 0; i < index.count; i++) {
    const type = index.type[i];
    if (type !== UDZO && isCompressed(type)) return true;
  }
  return false;
}

/** How {@link writeDisk} decodes. */
export interface DiskWriteOptions {
  /** The file the image was opened from: worker threads open it too (none without it). */
  path?: string;
  /** Threads decoding at most, this one included. */
  threads: number;
  /**
   * Whether worker threads start: "auto" (default) where they pay (see
   * {@link workersMayPay}), "always" whenever there is more than one task.
   */
  start?: "auto" | "always";
  /** Called after each write with the bytes done so far. */
  onProgress?: (done: number) => void;
}

/**
 * Write every byte of the virtual disk of `image` to `out`, in order, decoding in this thread
 * and, when they pay off, in worker threads. Fails with the first error in disk order, exactly
 * as `image.stream()` would.
 */
export async function writeDisk(
  image: DmgImage,
  out: OverlappedWriter,
  options: DiskWriteOptions,
): Promise<void> {
  const { index, source, memory } = image.internals;
  // The same accounting as a single thread: one meter for the operation, one reader.
  const meter = new DecompressMeter(image.budget.maxDecompressedBytes);
  const reader = new ImageReader(source, index, memory);
  const { path, threads, onProgress } = options;
  const wanted =
    path !== undefined &&
    threads > 1 &&
    (options.start === "always" || workersMayPay(image, threads));
  let pool: ChunkPool | undefined;
  let done = 0;
  const write = async (piece: Uint8Array) => {
    await out.write(piece);
    done += piece.length;
    onProgress?.(done);
  };
  try {
    if (wanted) pool = ChunkPool.start(path, image, { threads, mode: "data" });
    for (let i = 0; i < index.count; i++) {
      const size = index.sectorCount[i] * SECTOR_SIZE;
      const got: Taken = pool ? await pool.take(i, write) : { done: false, from: 0 };
      if (got.done) {
        meter.add(got.bytes, index.offset[i]);
        if (got.error) throw got.error;
        continue;
      }
      for await (const piece of reader.chunkPieces(i, got.from, size, meter)) await write(piece);
    }
  } finally {
    reader.closeOpen();
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
