/**
 * The data fork's CRC32 from the bytes a validation reads anyway. Decoding every chunk reads
 * nearly the whole data fork; reading it a second time for its checksum doubled what a
 * validation fetched (over HTTP: twice the file, twice the requests). Instead every read of
 * the decode pass is seen here on its way through, the CRC advances over the bytes that
 * continue it, and only what the pass never read (gaps between payloads, chunks a budget
 * stopped) is read at the end.
 *
 * Bytes that arrive ahead of the CRC's frontier (read out of order, or decoded by worker
 * lanes that return the CRC of each payload) are kept as segments (start, end, CRC) and
 * joined with `crc32Combine` when the frontier reaches them. Their number is capped: past
 * the cap a segment is forgotten and its bytes are read again at the end, which costs time,
 * never memory.
 */
import { type Crc32, crc32Combine } from "../bytes/crc32.js";
import type { MemoryMeter } from "../core/limits.js";
import type { Work } from "../core/work.js";
import { type ByteSource, readExact } from "../sources/source.js";

/** Most segments kept ahead of the frontier (16 bytes each: a quarter MiB at most). */
const MAX_SEGMENTS = 16_384;
/** Size of one read of the final pass over what the decode pass did not read. */
const PIECE = 1024 * 1024;

interface Segment {
  end: number;
  crc: number;
}

/** The CRC32 of the file range `[start, end)`, built from reads seen in any order. */
export class ForkCrc {
  private frontier: number;
  private crc = 0;
  private readonly ahead = new Map<number, Segment>();
  /** Bytes the final pass had to read itself. */
  reread = 0;

  constructor(
    readonly start: number,
    readonly end: number,
    private readonly crc32: Crc32,
  ) {
    this.frontier = start;
  }

  /** `src`, with every read it answers seen here (the bytes are checksummed on the way). */
  tap(src: ByteSource): ByteSource {
    return {
      size: src.size,
      read: async (offset, length, into) => {
        const bytes = await (into ? src.read(offset, length, into) : src.read(offset, length));
        // A source that answers with the wrong length is refused by readExact above us;
        // only exact answers may count.
        if (bytes instanceof Uint8Array && bytes.length === length) this.saw(offset, bytes);
        return bytes;
      },
      close: src.close ? () => src.close!() : undefined,
    };
  }

  /** The CRC32 of the whole range, when reads have covered it (else undefined). */
  get whole(): number | undefined {
    return this.frontier >= this.end ? this.crc : undefined;
  }

  /** Bytes read at `offset`. */
  saw(offset: number, bytes: Uint8Array): void {
    const from = Math.max(offset, this.frontier);
    const to = Math.min(offset + bytes.length, this.end);
    if (from >= to) return;
    const part = bytes.subarray(from - offset, to - offset);
    if (from === this.frontier) {
      this.crc = this.crc32(part, this.crc);
      this.frontier = to;
      this.join();
    } else this.keep(from, to, this.crc32(part, 0));
  }

  /** The CRC32 `crc` of the bytes `[start, end)`, computed elsewhere (a worker lane). */
  segment(start: number, end: number, crc: number): void {
    if (end <= start || start < this.frontier || end > this.end) return;
    if (start === this.frontier) {
      this.crc = crc32Combine(this.crc, crc, end - start);
      this.frontier = end;
      this.join();
    } else this.keep(start, end, crc);
  }

  /**
   * Read what no read covered and return the CRC32 of the whole range. `buffer` memory is
   * taken from `memory` for the duration.
   */
  async finish(source: ByteSource, work: Work, memory: MemoryMeter): Promise<number> {
    if (this.frontier >= this.end) return this.crc;
    // Segments still ahead, in file order: the pass reads up to each, then steps over it.
    const starts = [...this.ahead.keys()].filter((k) => k > this.frontier).sort((a, b) => a - b);
    const piece = Math.min(PIECE, this.end - this.frontier);
    memory.acquire(piece, "data fork checksum buffer");
    try {
      const buffer = new Uint8Array(piece);
      let next = 0;
      while (this.frontier < this.end) {
        await work.pace(this.frontier);
        while (next < starts.length && starts[next] < this.frontier) next++;
        const stop = next < starts.length ? starts[next] : this.end;
        const n = Math.min(piece, stop - this.frontier);
        const bytes = await readExact(source, this.frontier, n, "data fork", buffer);
        this.reread += n;
        this.crc = this.crc32(bytes, this.crc);
        this.frontier += n;
        this.join();
      }
    } finally {
      memory.release(piece);
    }
    return this.crc;
  }

  private keep(start: number, end: number, crc: number): void {
    const had = this.ahead.get(start);
    // Of two segments from one start, the longer carries the frontier further.
    if (had ? had.end >= end : this.ahead.size >= MAX_SEGMENTS) return;
    this.ahead.set(start, { end, crc });
  }

  /** Absorb the segments that now start at the frontier. */
  private join(): void {
    for (let s = this.ahead.get(this.frontier); s; s = this.ahead.get(this.frontier)) {
      this.ahead.delete(this.frontier);
      this.crc = crc32Combine(this.crc, s.crc, s.end - this.frontier);
      this.frontier = s.end;
    }
  }
}
