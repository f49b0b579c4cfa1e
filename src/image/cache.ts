/**
 * Soft working memory: what an image keeps only to go faster (decoded pages, index points).
 * It is accounted like any other working memory, within a cap of its own, and it gives way:
 * {@link SoftMeter} frees it before refusing an allocation, so keeping it never makes an
 * operation fail that would have fitted the budget without it.
 *
 * The decoded-data cache holds recently decoded pages of compressed chunks, so that nearby
 * reads (a filesystem walking its metadata) do not decode the same bytes twice.
 */
import { MemoryMeter } from "../core/limits.js";

/** Something holding soft memory that can free some on demand. */
export interface SoftHolder {
  /** Free at least `bytes` if possible; returns the bytes freed. */
  release(bytes: number): number;
}

/** Account `bytes` only if they fit without freeing anything; true when acquired. */
export function tryAcquire(memory: MemoryMeter, bytes: number, what: string): boolean {
  if (memory.used + bytes > memory.limit) return false;
  memory.acquire(bytes, what);
  return true;
}

/** A memory meter that frees soft memory (in the order holders were added) before refusing. */
export class SoftMeter extends MemoryMeter {
  private readonly holders: SoftHolder[] = [];

  /** Let `holder` be asked to free memory when an allocation would not fit. */
  addHolder(holder: SoftHolder): void {
    this.holders.push(holder);
  }

  override acquire(bytes: number, what: string): void {
    for (const h of this.holders) {
      if (this.used + bytes <= this.limit) break;
      h.release(this.used + bytes - this.limit);
    }
    super.acquire(bytes, what);
  }
}

/** Size of a cached page of decoded bytes (pages are aligned within their chunk). */
export const PAGE = 64 * 1024;

/** Recently decoded pages of compressed chunks, least recently used first out. */
export class DecodedCache implements SoftHolder {
  /** Bytes held by pages. */
  bytes = 0;
  /** Pages by "chunk:page", in order of last use (Map iteration order). */
  private readonly pages = new Map<string, Uint8Array>();

  constructor(
    private readonly memory: MemoryMeter,
    readonly cap: number,
  ) {}

  /** Page `page` of chunk `chunk`, if cached (it becomes the most recently used). */
  get(chunk: number, page: number): Uint8Array | undefined {
    const key = `${chunk}:${page}`;
    const bytes = this.pages.get(key);
    if (bytes) {
      this.pages.delete(key);
      this.pages.set(key, bytes);
    }
    return bytes;
  }

  /** The leading part of bytes `[from, to)` of chunk `chunk` that cached pages hold, in pieces. */
  *pieces(chunk: number, from: number, to: number): Generator<Uint8Array> {
    while (from < to) {
      const page = this.get(chunk, Math.floor(from / PAGE));
      if (!page) return;
      const at = from % PAGE;
      const n = Math.min(page.length - at, to - from);
      yield page.subarray(at, at + n);
      from += n;
    }
  }

  /** A buffer of `length` bytes for a page, its memory acquired, or undefined if none fits. */
  allocate(length: number): Uint8Array | undefined {
    if (length > this.cap) return undefined;
    while (this.bytes + length > this.cap) if (this.release(1) === 0) return undefined;
    if (!tryAcquire(this.memory, length, "decoded-data cache")) return undefined;
    this.bytes += length;
    return new Uint8Array(length);
  }

  /** Keep `bytes` (from {@link DecodedCache.allocate}, now filled) as page `page` of `chunk`. */
  put(chunk: number, page: number, bytes: Uint8Array): void {
    const key = `${chunk}:${page}`;
    const old = this.pages.get(key);
    if (old) this.free(old);
    this.pages.set(key, bytes);
  }

  /** Give back a buffer from {@link DecodedCache.allocate} that was not filled. */
  free(bytes: Uint8Array): void {
    this.bytes -= bytes.length;
    this.memory.release(bytes.length);
  }

  release(bytes: number): number {
    let freed = 0;
    for (const [key, page] of this.pages) {
      if (freed >= bytes) break;
      this.pages.delete(key);
      this.free(page);
      freed += page.length;
    }
    return freed;
  }

  /** Drop every page. */
  clear(): void {
    this.release(Number.POSITIVE_INFINITY);
  }
}

/**
 * Collects, from the decoded pieces of one read, the pages that overlap the range read and that
 * the decode covers from their start, and puts each in the cache once complete.
 */
export class PageCollector {
  private page = -1;
  private buf: Uint8Array | undefined;
  private filled = 0;
  /** Decoded position up to which the page being filled needs bytes (0 when none is open). */
  wantUntil = 0;
  /** First page that may be collected: the decode covers it from its start. */
  private readonly first: number;

  /**
   * @param start decoded position where the decode starts
   * @param from start of the range read
   * @param to end of the range read
   */
  constructor(
    private readonly cache: DecodedCache,
    private readonly chunk: number,
    private readonly size: number,
    start: number,
    from: number,
    private readonly to: number,
  ) {
    this.first = Math.ceil(Math.max(start, from - (from % PAGE)) / PAGE);
  }

  /** Take the decoded bytes `piece` found at chunk position `at`. */
  take(at: number, piece: Uint8Array): void {
    let k = 0;
    while (k < piece.length) {
      const pos = at + k;
      const page = Math.floor(pos / PAGE);
      const inPage = pos - page * PAGE;
      if (this.buf === undefined) {
        // Open a page only at its start, for pages overlapping the range read.
        if (
          inPage !== 0 ||
          page < this.first ||
          pos >= this.to ||
          this.cache.get(this.chunk, page)
        ) {
          k += Math.min(piece.length - k, PAGE - inPage);
          continue;
        }
        this.buf = this.cache.allocate(Math.min(PAGE, this.size - pos));
        if (this.buf === undefined) return;
        this.page = page;
        this.filled = 0;
        this.wantUntil = pos + this.buf.length;
      }
      const n = Math.min(piece.length - k, this.buf.length - this.filled);
      this.buf.set(piece.subarray(k, k + n), this.filled);
      this.filled += n;
      k += n;
      if (this.filled === this.buf.length) {
        this.cache.put(this.chunk, this.page, this.buf);
        this.buf = undefined;
        this.wantUntil = 0;
      }
    }
  }

  /** Give back a page left incomplete. */
  close(): void {
    if (this.buf) this.cache.free(this.buf);
    this.buf = undefined;
    this.wantUntil = 0;
  }
}
