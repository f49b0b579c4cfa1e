/**
 * The output stage of a bzip2 block: the inverse Burrows-Wheeler transform (each block array
 * entry holds its byte in the low 8 bits and, once linked, the index of the next entry in the
 * upper 24), walked in bounded pieces while undoing the initial run-length step (four equal
 * bytes, then a count of further copies), so a run-length bomb never materializes. The block
 * CRC is computed byte by byte during the walk (which waits on memory anyway) and with a
 * slice-by-8 table over runs.
 */

/** bzip2's CRC-32 (polynomial 0x04C11DB7, most significant bit first), slice-by-8 tables. */
const CRC = (() => {
  const t = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[n] = c;
  }
  // Table k: the CRC of a byte followed by k zero bytes.
  for (let i = 256; i < t.length; i++) t[i] = (t[i - 256] << 8) ^ t[(t[i - 256] >>> 24) & 0xff];
  return t;
})();

/** Continue (inverted) CRC `crc` over `b[from..to)`. */
function crcUpdate(crc: number, b: Uint8Array, from: number, to: number): number {
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const c = crc ^ ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
    crc =
      CRC[0x700 | (c >>> 24)] ^
      CRC[0x600 | ((c >>> 16) & 0xff)] ^
      CRC[0x500 | ((c >>> 8) & 0xff)] ^
      CRC[0x400 | (c & 0xff)] ^
      CRC[0x300 | b[i + 4]] ^
      CRC[0x200 | b[i + 5]] ^
      CRC[0x100 | b[i + 6]] ^
      CRC[b[i + 7]];
  }
  for (; i < to; i++) crc = (crc << 8) ^ CRC[((crc >>> 24) ^ b[i]) & 0xff];
  return crc;
}

/** Walks one block at a time; the block array is the caller's. */
export class BlockWalk {
  /** Index of the next entry, entries left, previous byte and its repeat count. */
  private tpos = 0;
  private left = 0;
  private last = -1;
  private run = 0;
  /** Copies of `last` still to hand out, from a run-length count. */
  private copies = 0;
  private crc = -1;

  /**
   * Link the `nblock` entries of `tt` (bytes in the low 8 bits, counted per value in
   * `byteCount`, which this overwrites) and start the walk at entry `origPtr` (< nblock).
   */
  start(tt: Uint32Array, nblock: number, byteCount: Int32Array, origPtr: number): void {
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = byteCount[b];
      byteCount[b] = sum;
      sum += c;
    }
    for (let i = 0; i < nblock; i++) tt[byteCount[tt[i] & 0xff]++] |= i << 8;
    this.tpos = tt[origPtr] >>> 8;
    this.left = nblock;
    this.last = -1;
    this.run = 0;
    this.copies = 0;
    this.crc = -1;
  }

  /** Whether the walk has handed out every byte of the block. */
  get finished(): boolean {
    return this.left === 0 && this.copies === 0;
  }

  /** The CRC of the bytes handed out (the block CRC once {@link BlockWalk.finished}). */
  get computedCrc(): number {
    return ~this.crc >>> 0;
  }

  /** Hand out up to `cap` (>= 1) decoded bytes of block array `tt` into `out`. */
  emit(tt: Uint32Array, out: Uint8Array, cap: number): number {
    let { tpos, left, last, run, copies, crc } = this;
    let n = 0;
    for (;;) {
      if (copies > 0) {
        const k = Math.min(copies, cap - n);
        if (k > 16) out.fill(last, n, n + k);
        else for (let j = 0; j < k; j++) out[n + j] = last;
        crc = crcUpdate(crc, out, n, n + k);
        n += k;
        copies -= k;
      }
      if (n >= cap || left === 0) break;
      while (n < cap && left > 0) {
        const e = tt[tpos];
        tpos = e >>> 8;
        left--;
        const b = e & 0xff;
        out[n++] = b;
        crc = (crc << 8) ^ CRC[((crc >>> 24) ^ b) & 0xff];
        if (b !== last) {
          last = b;
          run = 1;
        } else if (++run === 4) {
          // After four equal bytes comes a count of further copies (0-255).
          run = 0;
          if (left > 0) {
            const c = tt[tpos];
            tpos = c >>> 8;
            left--;
            copies = c & 0xff;
          }
          break;
        }
      }
    }
    this.tpos = tpos;
    this.left = left;
    this.last = last;
    this.run = run;
    this.copies = copies;
    this.crc = crc;
    return n;
  }
}
