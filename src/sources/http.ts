/**
 * A random-access source over HTTP range requests, with nothing but the Fetch API: Node 20,
 * browsers and workers. Reads share requests: a small read fetches a window read ahead that
 * the reads after it (and reads running at the same time) are served from, and a read waiting
 * on bytes already being fetched waits for that request rather than sending its own.
 *
 * Windows start small and grow while reads go on where the last request ended: a quick look
 * at an image (its trailer and tables) costs a few small requests, and a pass over the whole
 * file reaches the full window within a few requests. In such a pass the next window is
 * fetched while the current one is read, so the reads do not wait one round trip per window.
 *
 * Every response is checked (status, Content-Range, length, validator: see http-fetch.ts), so
 * a read returns the bytes of the file first seen or fails with a DmgError.
 */
import { at, DmgError } from "../core/errors.js";
import { HttpClient, type HttpStats, type RangeResult } from "./http-fetch.js";
import { type HttpSourceOptions, resolveHttpOptions } from "./http-options.js";
import { readBuffer } from "./read-buffer.js";
import { type ByteSource, readInRange } from "./source.js";

export type { HttpStats } from "./http-fetch.js";
export type { HttpSourceOptions } from "./http-options.js";

/** A {@link ByteSource} over HTTP, with counters of what it cost. */
export interface HttpSource extends ByteSource {
  /** Requests sent (retries and redirects included), body bytes received, and retries so far. */
  stats(): HttpStats;
  /** Abort every request in flight; reads after it fail with ABORTED. */
  close(): Promise<void>;
}

/** Most bytes one request asks for: a retry after a dropped connection costs no more. */
const MAX_PIECE = 8 * 1024 * 1024;
/** Windows read ahead may read this many times the bytes reads asked for (beyond the start). */
const AMPLIFICATION = 4;

/** Bytes [start, end) of the file, being fetched or fetched. */
interface Piece {
  start: number;
  end: number;
  data: Promise<Uint8Array>;
  /** A window read ahead, kept for the reads after it; other pieces go once fetched. */
  window: boolean;
  /** A window that continued a sequence of requests: reading it fetches the next one. */
  onward: boolean;
}

/** Windows kept (at most 8 × readAhead bytes). */
const KEEP = 8;

/**
 * The first window after a jump. The trailer, the tables and the first sectors of an image are
 * each a few KiB: a 1 MiB window for each made a quick validation of a 6 MiB image fetch a
 * third of it. Windows double from here (up to readAhead) while reads go on in sequence.
 */
export const FIRST_WINDOW = 64 * 1024;

/** Where a request went, and the window it used: what the next request's window grows from. */
interface Run {
  start: number;
  end: number;
  size: number;
}

/**
 * Open `url` as a source: its size from HEAD (or from the Content-Range of a GET of byte 0),
 * then ranged GETs for reads. A server that ignores Range is refused (HTTP_NO_RANGES) unless
 * the file is at most 16 MiB, which is then read once and served from memory.
 *
 * @throws DmgError INVALID_ARGUMENT (options), IO_ERROR (unreachable, 4xx, 5xx after retries),
 *   HTTP_NO_RANGES, HTTP_BAD_RESPONSE, HTTP_REDIRECTS, SOURCE_CHANGED, BUDGET_HTTP_REQUESTS,
 *   BUDGET_HTTP_BYTES, ABORTED or BUDGET_TIME (the signal); reads throw the same.
 */
export async function httpSource(
  url: string | URL,
  options: HttpSourceOptions = {},
): Promise<HttpSource> {
  const cfg = resolveHttpOptions(url, options);
  const client = new HttpClient(cfg);
  let memory: Uint8Array | undefined;
  try {
    memory = await client.open();
  } catch (e) {
    client.close();
    if (e instanceof DmgError) throw e;
    // A custom fetch's own failure.
    throw new DmgError("IO_ERROR", `opening the HTTP source failed: ${(e as Error)?.message ?? e}`);
  }
  return new Reader(client, cfg.readAhead, memory).source();
}

/** The reads of one source: windows read ahead, shared while in flight and kept a while. */
class Reader {
  private pieces: Piece[] = [];
  /** Bytes reads asked for, and bytes windows fetched beyond them. */
  private asked = 0;
  private ahead = 0;
  /** The last requests (at most KEEP), kept after their pieces go. */
  private runs: Run[] = [];
  constructor(
    private readonly client: HttpClient,
    private readonly readAhead: number,
    /** The whole file, when the server ignored Range and it was small. */
    private memory: Uint8Array | undefined,
  ) {}

  source(): HttpSource {
    const size = this.client.size;
    return {
      size,
      read: (offset, length, into) => this.read(offset, length, into),
      stats: () => ({ ...this.client.stats }),
      close: async () => {
        this.client.close();
        this.pieces = [];
        this.memory = undefined;
      },
    };
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const size = this.client.size;
    // Callers check ranges; a source handed to other code still must not send nonsense.
    if (!readInRange(offset, length, size)) {
      throw new DmgError(
        "INVALID_ARGUMENT",
        `read of ${length} bytes at ${offset} is outside the ${size}-byte file`,
      );
    }
    this.client.check(offset);
    if (length === 0) return new Uint8Array(0);
    if (this.memory) return this.memory.subarray(offset, offset + length);
    this.asked += length;
    const end = offset + length;
    const parts: Array<{ piece: Piece; from: number; to: number }> = [];
    for (let pos = offset; pos < end; ) {
      const piece = this.find(pos) ?? this.fetch(pos, end);
      const to = Math.min(end, piece.end);
      parts.push({ piece, from: pos, to });
      pos = to;
    }
    this.fetchNext(parts[parts.length - 1].piece);
    const data = await Promise.all(parts.map((p) => p.piece.data));
    // The server may have turned out to ignore Range while the pieces were fetched.
    const memory = this.memory as Uint8Array | undefined;
    if (memory) return memory.subarray(offset, offset + length);
    const out = readBuffer(into, length);
    parts.forEach((p, i) => {
      out.set(data[i].subarray(p.from - p.piece.start, p.to - p.piece.start), p.from - offset);
    });
    return out;
  }

  /** The piece holding byte `pos`, most recent first; it becomes the most recent. */
  private find(pos: number): Piece | undefined {
    for (let i = this.pieces.length - 1; i >= 0; i--) {
      const p = this.pieces[i];
      if (p.start <= pos && pos < p.end) {
        this.pieces.splice(i, 1);
        this.pieces.push(p);
        return p;
      }
    }
    return undefined;
  }

  /**
   * Reads jumping about would each cost a whole window: past a start allowance, windows may
   * read at most AMPLIFICATION times what reads asked for, then reads go as asked.
   */
  private mayReadAhead(): boolean {
    return this.ahead <= 4 * this.readAhead + AMPLIFICATION * this.asked;
  }

  /**
   * A read is in `piece`, a window that continued a sequence: fetch the window after it now,
   * while this one is read, unless it is there or being fetched already. At most one window
   * goes ahead of the reads; a failure is the read's of those bytes to report.
   */
  private fetchNext(piece: Piece): void {
    const pos = piece.end;
    if (!piece.onward || pos >= this.client.size || !this.mayReadAhead()) return;
    if (this.pieces.some((p) => p.start <= pos && pos < p.end)) return;
    this.fetch(pos, pos + 1, true);
  }

  /**
   * The window for a request from `pos` whose next piece starts at `next`: twice the last one
   * when it goes on where a recent request ended (or, walking backwards, ends where one
   * started), else {@link FIRST_WINDOW}. At most readAhead either way.
   */
  private windowAt(pos: number, next: number): { size: number; onward: boolean } {
    const first = Math.min(FIRST_WINDOW, this.readAhead);
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const r = this.runs[i];
      if (r.end === pos || r.start === next) {
        return { size: Math.min(this.readAhead, Math.max(first, 2 * r.size)), onward: true };
      }
    }
    return { size: first, onward: false };
  }

  /**
   * Start fetching a piece from `pos` for a read that ends at `end` (`ahead`: for no read yet,
   * a window fetched ahead of a sequence of reads).
   */
  private fetch(pos: number, end: number, ahead = false): Piece {
    const size = this.client.size;
    let next = size;
    let prev = 0;
    for (const p of this.pieces) {
      if (p.start > pos && p.start < next) next = p.start;
      if (p.end <= pos && p.end > prev) prev = p.end;
    }
    const w = this.windowAt(pos, next);
    let start = pos;
    let stop = Math.min(end, next, pos + MAX_PIECE);
    let window = false;
    if (end - pos < w.size && this.mayReadAhead()) {
      if (end === size && !w.onward) {
        // The trailer, read first, is at the end of the file, and the tables it points at are
        // usually right before it: one window that ends at the end holds them all.
        start = Math.max(prev, size - w.size);
        stop = size;
      } else if (next - end < w.size && next < size && next - pos <= w.size) {
        // Reads walking backwards (payloads stored in reverse) get the window that ends at
        // the piece after them.
        start = Math.max(prev, next - w.size, 0);
        stop = next;
      } else {
        stop = Math.min(next, pos + w.size);
      }
      this.ahead += stop - start - (ahead ? 0 : Math.min(end, stop) - pos);
      window = true;
    }
    this.runs.push({ start, end: stop, size: w.size });
    if (this.runs.length > KEEP) this.runs.shift();
    const piece: Piece = {
      start,
      end: stop,
      data: this.get(start, stop),
      window,
      onward: window && w.onward,
    };
    const drop = () => {
      this.pieces = this.pieces.filter((p) => p !== piece);
    };
    this.pieces.push(piece);
    // A failed piece is not kept (a later read asks again), nor a large read once it is done.
    piece.data.then(window ? undefined : drop, drop);
    while (this.pieces.length > KEEP) this.pieces.shift();
    return piece;
  }

  private async get(start: number, stop: number): Promise<Uint8Array> {
    let r: RangeResult;
    try {
      r = await this.client.range(start, stop - 1);
    } catch (e) {
      if (e instanceof DmgError) throw e;
      throw new DmgError(
        "IO_ERROR",
        `reading ${stop - start} bytes at ${at(start)} failed: ${(e as Error)?.message ?? e}`,
        start,
      );
    }
    if (!r.whole) return r.bytes;
    // The server ignored Range: the whole (small) file is kept and served from memory.
    this.memory = r.bytes;
    this.pieces = [];
    return r.bytes.subarray(start, stop);
  }
}
