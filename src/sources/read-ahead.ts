/**
 * Small reads served from one window read ahead. An image of many small chunks asks its source
 * for a few bytes per chunk: a file source then pays one system call and one trip through the
 * thread pool each (130,000 one-sector chunks spent more time waiting on reads than decoding).
 * A read of at most {@link SMALL} bytes that misses the window reads {@link WINDOW} bytes from
 * its offset on instead, and the reads after it are copied out of that window.
 *
 * Payloads stored out of order miss on every read: each small read would then cost a whole
 * window (a 14 MB image of 200,000 chunks stored in reverse took 10 s instead of 1.4 s). Reads
 * walking backwards get the window that ends at them; for reads jumping about, windows read at
 * most {@link AMPLIFICATION} times the bytes the reads asked for (plus a few windows to
 * start), and past that reads go to the source.
 */

import { readBuffer } from "./read-buffer.js";
import type { ByteSource } from "./source.js";

/** Bytes read at once on a miss. */
export const WINDOW = 256 * 1024;
/**
 * Reads of at most this many bytes go through the window; larger ones straight to the source
 * (the tail of an ordinary chunk's input is larger, and reading a window for it would only
 * read ahead what the next chunk's reads read again).
 */
export const SMALL = 4 * 1024;
/** Most bytes windows may read per byte asked for, beyond the first few windows. */
export const AMPLIFICATION = 4;
const START_ALLOWANCE = 4 * WINDOW;

/**
 * `src` with small reads served from a window read ahead. The window is a copy: what a read
 * returns is the caller's (or fills the caller's `into`), never a view that a later read
 * overwrites. `close()` closes `src`.
 */
export function readAhead(src: ByteSource): ByteSource {
  let window: Uint8Array | undefined;
  /** The window's buffer, filled again on each miss (what reads return is always a copy). */
  let buffer: Uint8Array | undefined;
  let start = 0;
  /** The fill in progress: misses wait for it, so that one buffer serves them in turn. */
  let filling: Promise<void> | undefined;
  /** Bytes the small reads asked for, and bytes the windows read. */
  let asked = 0;
  let filled = 0;
  const inWindow = (offset: number, length: number) =>
    window !== undefined && offset >= start && offset + length <= start + window.length;
  const fill = async (offset: number): Promise<void> => {
    buffer ??= new Uint8Array(WINDOW);
    window = undefined;
    const n = Math.min(WINDOW, src.size - offset);
    filled += n;
    const got = await src.read(offset, n, buffer);
    // A source that returns the wrong length is the reader's to report: it is read directly.
    if (got instanceof Uint8Array && got.length === n) {
      window = got;
      start = offset;
    }
  };
  const read = async (offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> => {
    const direct = () => (into ? src.read(offset, length, into) : src.read(offset, length));
    if (length > SMALL || length === 0 || src.size - offset <= length) return direct();
    while (filling) await filling.catch(() => undefined);
    asked += length;
    if (!inWindow(offset, length)) {
      if (filled > START_ALLOWANCE + AMPLIFICATION * asked) return direct();
      // Reads walking backwards (payloads stored in reverse) get the window that ends at them.
      const back = window !== undefined && offset < start && start - offset <= WINDOW;
      filling = fill(back ? Math.max(0, offset + length - WINDOW) : offset);
      try {
        await filling;
      } finally {
        filling = undefined;
      }
      if (!inWindow(offset, length)) return direct();
    }
    const w = window as Uint8Array;
    const out = readBuffer(into, length);
    out.set(w.subarray(offset - start, offset - start + length));
    return out;
  };
  const wrapped: ByteSource = { size: src.size, read };
  if (src.close) {
    const close = src.close.bind(src);
    wrapped.close = () => {
      window = buffer = undefined;
      return close();
    };
  }
  return wrapped;
}
