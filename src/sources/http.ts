/**
 * A random-access source over HTTP range requests, with nothing but the Fetch API: Node 20,
 * browsers and workers. Reads share requests: a small read fetches a window read ahead that
 * the reads after it (and reads running at the same time) are served from, and a read waiting
 * on bytes already being fetched waits for that request rather than sending its own.
 *
 * Every response is checked (status, Content-Range, length, validator: see http-fetch.ts), so
 * a read returns the bytes of the file first seen or fails with a DmgError.
 */
import { at, DmgError } from "../core/errors.js";
import { HttpClient, type HttpStats, type RangeResult } from "./http-fetch.js";
import { type HttpSourceOptions, resolveHttpOptions } from "./http-options.js";
import type { ByteSource } from "./source.js";

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
}

/** Windows kept (at most 8 × readAhead bytes). */
const KEEP = 8;

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
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > size
    ) {
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
    const data = await Promise.all(parts.map((p) => p.piece.data));
    // The server may have turned out to ignore Range while the pieces were fetched.
    const memory = this.memory as Uint8Array | undefined;
    if (memory) return memory.subarray(offset, offset + length);
    const out = into && into.length >= length ? into.subarray(0, length) : new Uint8Array(length);
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

  /** Start fetching a piece from `pos` for a read that ends at `end`. */
  private fetch(pos: number, end: number): Piece {
    const size = this.client.size;
    let next = size;
    let prev = 0;
    for (const p of this.pieces) {
      if (p.start > pos && p.start < next) next = p.start;
      if (p.end <= pos && p.end > prev) prev = p.end;
    }
    let start = pos;
    let stop = Math.min(end, next, pos + MAX_PIECE);
    let window = false;
    // Reads jumping about would each cost a whole window: past a start allowance, windows
    // may read at most AMPLIFICATION times what reads asked for, then reads go as asked.
    const small = end - pos < this.readAhead;
    const budget = 4 * this.readAhead + AMPLIFICATION * this.asked;
    if (small && this.ahead <= budget) {
      if (next - end < this.readAhead && next < size && next - pos <= this.readAhead) {
        // Reads walking backwards (payloads stored in reverse) get the window that ends at
        // the piece after them.
        start = Math.max(prev, next - this.readAhead, 0);
        stop = next;
      } else {
        stop = Math.min(next, pos + this.readAhead);
      }
      this.ahead += stop - start - (Math.min(end, stop) - pos);
      window = true;
    }
    const piece: Piece = { start, end: stop, data: this.get(start, stop), window };
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
