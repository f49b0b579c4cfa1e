/** Large synthetic disks generated on the fly: position-determined bytes, never held whole. */
import type { ByteSource } from "../../src/sources/source.js";

const PERIOD = 65_521; // prime, so the pattern does not align with sectors or chunks
const BASE = (() => {
  const b = new Uint8Array(PERIOD + 1024 * 1024);
  let x = 12345;
  for (let i = 0; i < PERIOD; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    // Text-like: compresses about 3:1 with zlib, like mixed real disk content.
    b[i] = 0x20 + ((x >>> 16) % 40);
  }
  // The tail repeats the period, so any window of BASE starting at p % PERIOD is the disk at p.
  for (let i = PERIOD; i < b.length; i++) b[i] = b[i - PERIOD];
  return b;
})();

/** Fill `out` with the synthetic disk's bytes from virtual position `offset`. */
function fill(out: Uint8Array, offset: number): void {
  let pos = 0;
  while (pos < out.length) {
    const start = (offset + pos) % PERIOD;
    const n = Math.min(out.length - pos, BASE.length - start);
    out.set(BASE.subarray(start, start + n), pos);
    pos += n;
  }
  // Stamp each MiB with its number so that misplaced pieces are caught.
  for (let mib = Math.ceil(offset / 1048576) * 1048576; mib < offset + out.length; mib += 1048576) {
    const at = mib - offset;
    const id = mib / 1048576;
    out[at] = id & 0xff;
    if (at + 1 < out.length) out[at + 1] = (id >>> 8) & 0xff;
  }
}

/** A synthetic disk of `size` bytes as a source. */
export function syntheticDisk(size: number): ByteSource {
  return {
    size,
    read: async (offset, length) => {
      const out = new Uint8Array(length);
      fill(out, offset);
      return out;
    },
  };
}

/** Bytes `[offset, offset + length)` of the synthetic disk. */
export function syntheticBytes(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  fill(out, offset);
  return out;
}
