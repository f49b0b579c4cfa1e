/**
 * The next range of a sequential reader, read while it decodes the range it has. Extracting an
 * image reads its chunks' input front to back, and a decoder faster than the thread pool's
 * round trip spent its time waiting on each read in turn: a 256 MiB LZFSE extract waited
 * 145 ms on 558 reads of 256 KiB, a fifth of its run, with a core idle. Once a read starts
 * where the one before ended, the {@link AHEAD} bytes after it are read at once into a buffer
 * of this source's own; the reads that land in them are copied out of it, and one that gets
 * past the middle of them has the range after it read in turn.
 *
 * Only reads that continue the previous one start such a read: a reader jumping about (a range
 * read, index points, validation threads taking every other chunk) costs nothing extra. The
 * buffer is the same {@link AHEAD} bytes for the source's whole life, whatever the file says.
 */

import { readBuffer } from "./read-buffer.js";
import type { ByteSource } from "./source.js";

/** Bytes read ahead of a sequential reader. */
export const AHEAD = 256 * 1024;

/**
 * `src` with the range after each pair of consecutive reads read ahead. What a read returns is
 * a copy (or fills the caller's `into`), never a view of the buffer read into next. A failed
 * read ahead is dropped: the read that wanted its bytes reads them itself and reports its own
 * error. `close()` waits for a read ahead in flight, then closes `src` (if it can be closed).
 */
export function sequentialReadAhead(src: ByteSource): ByteSource {
  let buffer: Uint8Array | undefined;
  /** The read ahead: its range, and its bytes once read (undefined when it failed). */
  let ahead: Promise<Uint8Array | undefined> | undefined;
  let aheadStart = 0;
  let aheadEnd = 0;
  /** Whether the buffer is being read into, and how many reads wait to copy from it. */
  let inFlight = false;
  let copying = 0;
  let lastEnd = -1;
  let closed = false;

  const start = (offset: number): void => {
    const n = Math.min(AHEAD, src.size - offset);
    // One read into the one buffer at a time, never under a copy still to be made.
    if (n <= 0 || closed || inFlight || copying > 0) return;
    buffer ??= new Uint8Array(AHEAD);
    inFlight = true;
    aheadStart = offset;
    aheadEnd = offset + n;
    ahead = src.read(offset, n, buffer).then(
      (got) => (got instanceof Uint8Array && got.length === n ? got : undefined),
      () => undefined,
    );
    ahead.then(() => {
      inFlight = false;
    });
  };

  const read = async (offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> => {
    const follows = offset === lastEnd;
    lastEnd = offset + length;
    if (ahead !== undefined && length > 0 && offset >= aheadStart && offset + length <= aheadEnd) {
      const pending = ahead;
      copying++;
      let got: Uint8Array | undefined;
      try {
        got = await pending;
      } finally {
        copying--;
      }
      if (got !== undefined) {
        const out = readBuffer(into, length);
        out.set(got.subarray(offset - aheadStart, offset - aheadStart + length));
        // Past the middle of the range read ahead: read the range after this read. Not before,
        // or a reader of a few bytes at a time would have the same range read again and again
        // (130,000 one-sector chunks: 33 GB); this way no byte is read ahead more than twice.
        if (offset + length - aheadStart >= AHEAD / 2) start(offset + length);
        return out;
      }
    }
    // A read continuing the one before: the range after it is wanted next, read it meanwhile.
    // Not after a read longer than the range read ahead: the next is likely as long, and would
    // miss it (zlib chunks read whole, ~350 KB each, made it a wasted read per chunk).
    if (follows && length > 0 && length <= AHEAD) start(offset + length);
    return into ? src.read(offset, length, into) : src.read(offset, length);
  };

  return {
    size: src.size,
    read,
    async close(): Promise<void> {
      closed = true;
      // A file handle must not close under a read in flight.
      await ahead;
      buffer = undefined;
      ahead = undefined;
      await src.close?.();
    },
  };
}
