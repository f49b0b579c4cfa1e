/**
 * The public face of an opened image: a thin class over its {@link Session}.
 *
 * Calling contract: every method may be called at any time and concurrently. `read` calls are
 * served one at a time (they share one decoder, so a run of sequential reads continues it);
 * each `stream` or `readable` has a decoder of its own. `close()` waits for the read in
 * progress, then closes every decoder (streams not read to their end included), frees the
 * image's working memory and closes the source; reads after it fail with INVALID_ARGUMENT.
 */
import type { ContainerInfo } from "../containers/container.js";
import { DmgError, type Finding } from "../core/errors.js";
import type { Budget } from "../core/limits.js";
import {
  byteCount,
  bytesListOption,
  dateOption,
  optionsObject,
  readOption,
} from "../core/options.js";
import { checkSignal, Work } from "../core/work.js";
import type { Koly } from "../format/koly.js";
import { SECTOR_SIZE } from "../format/types.js";
import type { PartitionMap } from "../inspect/partitions.js";
import type { SignatureReport } from "../inspect/signature/verify.js";
import { readExact } from "../sources/source.js";
import { findChunk } from "./chunk-index.js";
import type { MapLayout } from "./map.js";
import { ImageReader } from "./reader.js";
import { closeSession, operationMeter, type Session } from "./session.js";
import { type ChunkInfo, chunkInfo, type ImageStats, type PartitionTable } from "./tables.js";

/** Options of one read, stream or readable. */
export interface ReadOptions {
  /** Cancels the operation: it then fails with ABORTED (BUDGET_TIME for a timeout signal). */
  signal?: AbortSignal;
}

/** Options for {@link DmgImage.signature}. */
export interface SignatureOptions extends ReadOptions {
  /**
   * Certificates (DER, or PEM with one or more CERTIFICATE blocks, one array per file) the
   * signer's chain must reach; without them trust is "not-checked". Apple's roots are not
   * built in.
   */
  trustRoots?: readonly Uint8Array[];
  /** When the signature states no signing time, certificate dates are checked at this time (default: now). */
  now?: Date;
}

let access: ((image: DmgImage) => Session) | undefined;
let make: ((session: Session) => DmgImage) | undefined;

/**
 * The public image over `session` (openDmg's last step).
 *
 * @internal
 */
export function newImage(session: Session): DmgImage {
  return (make as (session: Session) => DmgImage)(session);
}

/**
 * The session of `image`, for validation, extraction and the worker pool.
 *
 * @internal
 */
export function sessionOf(image: DmgImage): Session {
  if (!(image instanceof DmgImage)) {
    throw new DmgError("INVALID_ARGUMENT", "expected an image returned by openDmg");
  }
  return (access as (image: DmgImage) => Session)(image);
}

/** Decoders of streams that were dropped without being closed are closed when collected. */
const dropped =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<ImageReader>((reader) => reader.closeOpen())
    : undefined;

/** The signal of a read's options, checked. */
function readSignal(options: unknown): AbortSignal | undefined {
  return checkSignal(readOption(optionsObject(options), "signal"));
}

/** An opened image. Methods may be called concurrently; reads are served one at a time. */
export class DmgImage {
  readonly #s: Session;
  /** The reader `read()` shares, so that sequential reads continue one decoder. */
  readonly #reader: ImageReader;
  #queue: Promise<unknown> = Promise.resolve();

  static {
    access = (image) => image.#s;
    make = (session) => new DmgImage(session);
  }

  /** Images are made by openDmg. */
  private constructor(session: Session) {
    this.#s = session;
    this.#reader = new ImageReader(session, { points: session.points, cache: session.cache });
  }

  /** Virtual disk size in bytes. */
  get size(): number {
    return this.#s.size;
  }

  /** Virtual disk size in sectors (sum of the tables). */
  get sectorCount(): number {
    return this.#s.index.totalSectors;
  }

  /** The trailer fields. */
  get koly(): Koly {
    return this.#s.koly;
  }

  /**
   * What holds the image: `{ kind: "UDIF" }` for a plain image file, else the containers
   * around it (outermost first, each with its header fields).
   */
  get container(): ContainerInfo {
    return this.#s.container;
  }

  /** Which structures described the tables. */
  get layout(): MapLayout {
    return this.#s.layout;
  }

  /** The partition tables, in blkx order. */
  get tables(): readonly PartitionTable[] {
    return this.#s.tables;
  }

  /** Number of data-bearing chunks (comments and terminators left out). */
  get chunkCount(): number {
    return this.#s.index.count;
  }

  /** Honest quirks found while opening. */
  get warnings(): readonly Finding[] {
    return this.#s.warnings;
  }

  /** The effective budget. */
  get budget(): Readonly<Budget> {
    return this.#s.budget;
  }

  /** Chunk `i` in disk order. */
  chunk(i: number): ChunkInfo {
    const index = this.#s.index;
    if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= index.count) {
      throw new DmgError(
        "INVALID_ARGUMENT",
        `chunk index must be an integer from 0 to ${index.count - 1}`,
      );
    }
    return chunkInfo(index, i);
  }

  /** All chunks in disk order. */
  *chunks(): Iterable<ChunkInfo> {
    const index = this.#s.index;
    for (let i = 0; i < index.count; i++) yield chunkInfo(index, i);
  }

  /** Chunk holding virtual byte `offset`, or undefined. */
  chunkAt(offset: number): ChunkInfo | undefined {
    if (typeof offset !== "number" || !(offset >= 0 && offset < this.size)) return undefined;
    const lo = findChunk(this.#s.index, Math.floor(offset / SECTOR_SIZE));
    return lo < 0 ? undefined : chunkInfo(this.#s.index, lo);
  }

  /**
   * Exactly the bytes `[offset, offset + length)` of the virtual disk. The result counts against
   * the working-memory budget while it is built: use {@link DmgImage.stream} for large ranges.
   *
   * @throws DmgError READ_RANGE outside the disk, INVALID_ARGUMENT for arguments that are not
   *   non-negative integers, ABORTED when `options.signal` fires, or the error of a chunk
   */
  read(offset: number, length: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.#serial(async () => {
      const signal = readSignal(options);
      this.#range(offset, length);
      const { memory } = this.#s;
      memory.acquire(length, "read result");
      try {
        const out = new Uint8Array(length);
        let pos = 0;
        for await (const piece of this.#pieces(this.#reader, offset, length, new Work(signal))) {
          out.set(piece, pos);
          pos += piece.length;
        }
        return out;
      } finally {
        memory.release(length);
      }
    });
  }

  /**
   * The bytes of a range (default: the whole disk) as pieces of at most 1 MiB, in order. Each
   * piece is only valid until the next one is requested: copy what you keep.
   *
   * A stream that is dropped before its end holds a decoder until the image needs the memory,
   * opens too many, or closes: break out of `for await` (or call `return()`) to free it at once.
   */
  stream(offset?: number, length?: number, options?: ReadOptions): AsyncIterable<Uint8Array> {
    const reader = new ImageReader(this.#s, { points: this.#s.points });
    const it = this.#stream(reader, offset, length, options);
    dropped?.register(it, reader, reader);
    return it;
  }

  /** A web ReadableStream of a range (pieces are copies, safe to keep). */
  readable(offset?: number, length?: number, options?: ReadOptions): ReadableStream<Uint8Array> {
    let it: AsyncIterator<Uint8Array> | undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        it ??= this.stream(offset, length, options)[Symbol.asyncIterator]();
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value.slice());
      },
      cancel: async () => {
        await it?.return?.(undefined);
      },
    });
  }

  /** What reading has cost so far. */
  stats(): ImageStats {
    const { memory } = this.#s;
    return {
      bytesDecompressed: this.#s.produced,
      peakWorkingMemory: memory.peak,
      workingMemory: memory.used,
    };
  }

  /**
   * The embedded code signature: what it says and whether its hashes match the file's bytes
   * (the file, not the virtual disk) and its trailer. Problems are findings of the report; an
   * unsigned image has a CODESIGN_UNSIGNED warning. The CMS signature is verified over the
   * CodeDirectory with WebCrypto, its signer chain reported and, given `trustRoots`, checked
   * to reach one (CODESIGN_CMS_INVALID, CODESIGN_UNTRUSTED, CODESIGN_EXPIRED). It gives the event loop a turn between the pieces it
   * hashes; `options.signal` stops it (ABORTED, BUDGET_TIME for a timeout).
   *
   * @throws DmgError IO_ERROR when the file cannot be read, or a budget error
   */
  async signature(options?: SignatureOptions): Promise<SignatureReport> {
    const s = this.#s;
    const o = optionsObject(options, "signature options");
    const roots = bytesListOption(o, "trustRoots", "signature options");
    const now = dateOption(o, "now", "signature options");
    // Loaded on first use, like the partition code: reading an image needs neither.
    const { inspectSignature } = await import("../inspect/signature/verify.js");
    const { parseTrustRoots } = await import("../inspect/signature/cms.js");
    return inspectSignature({
      ...(roots ? { trustRoots: parseTrustRoots(roots) } : {}),
      ...(now ? { now } : {}),
      koly: s.koly,
      size: s.source.size,
      read: (offset, length) => readExact(s.source, offset, length, "code signature"),
      memory: s.memory,
      work: new Work(readSignal(options)),
    });
  }

  /**
   * The partition map of the virtual disk (GPT, APM, MBR or none), its partitions in bytes
   * with each one's file system, and what is wrong with the map as findings. It reads a few
   * sectors through {@link DmgImage.read}, under the same budgets.
   *
   * @throws DmgError the error of a chunk the map lies in, a budget error, or ABORTED
   */
  async partitions(options?: ReadOptions): Promise<PartitionMap> {
    const { readPartitionMap } = await import("../inspect/partitions.js");
    return readPartitionMap((o, n) => this.read(o, n, options), this.size, this.#s.tables);
  }

  /** Release decoders, memory and the source. Safe to call more than once. */
  async close(): Promise<void> {
    const s = this.#s;
    if (s.closed) return;
    await this.#queue;
    this.#reader.close();
    closeSession(s);
    await s.source.close?.();
  }

  async *#stream(
    reader: ImageReader,
    offset: number | undefined,
    length: number | undefined,
    options: ReadOptions | undefined,
  ): AsyncGenerator<Uint8Array> {
    const signal = readSignal(options);
    const start = offset === undefined ? 0 : offset;
    const n = length === undefined && typeof start === "number" ? this.size - start : length;
    this.#range(start, n);
    try {
      yield* this.#pieces(reader, start, n as number, new Work(signal));
    } finally {
      dropped?.unregister(reader);
      reader.closeOpen();
    }
  }

  /** The pieces of a range through `reader`, counted as one operation. */
  async *#pieces(
    reader: ImageReader,
    offset: number,
    length: number,
    work: Work,
  ): AsyncGenerator<Uint8Array> {
    const meter = operationMeter(this.#s);
    try {
      yield* reader.pieces(offset, length, meter, work);
    } finally {
      this.#s.produced += meter.total;
    }
  }

  /** Check a range argument: integers (INVALID_ARGUMENT), inside the disk (READ_RANGE). */
  #range(offset: unknown, length: unknown): void {
    if (this.#s.closed) throw new DmgError("INVALID_ARGUMENT", "the image is closed");
    const o = byteCount(offset, "offset");
    const n = byteCount(length, "length");
    if (o + n > this.size) {
      throw new DmgError(
        "READ_RANGE",
        `range [${o}, ${o + n}) is outside the ${this.size}-byte virtual disk`,
      );
    }
  }

  /** Run `fn` after every earlier `read` (one decoder is shared). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
