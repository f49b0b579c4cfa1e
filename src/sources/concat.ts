/**
 * A source made of pieces laid end to end: ranges of other sources, runs of zeros and bytes in
 * memory. Containers use it to present what they hold as one file (a sparse image's bytes with
 * a generated partition map after them, the bands of a sparse bundle one after another, the
 * data forks of a segmented set's parts).
 */
import { at, DmgError } from "../core/errors.js";
import { type ByteSource, readExact, readInRange } from "./source.js";

/** One piece: `length` bytes of `source` from `offset`, zeros (no source), or `bytes`. */
export type Piece =
  | { source: ByteSource; offset: number; length: number; what: string }
  | { zeros: number }
  | { bytes: Uint8Array };

function pieceLength(p: Piece): number {
  if ("zeros" in p) return p.zeros;
  if ("bytes" in p) return p.bytes.length;
  return p.length;
}

/**
 * A source over `pieces` in order. Reads that span pieces are assembled; a read inside one
 * source range goes straight to that source; a read outside the whole is IO_ERROR (the layers
 * above check ranges first: reaching it is a bug, never a short read). `close()` calls `close`
 * once (the owner releases the sources it opened; the pieces are not closed one by one, since
 * several may share a source).
 */
export function concatSource(pieces: readonly Piece[], close?: () => Promise<void>): ByteSource {
  const starts = new Float64Array(pieces.length + 1);
  for (let i = 0; i < pieces.length; i++) {
    const n = pieceLength(pieces[i]);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new DmgError("INVALID_ARGUMENT", `piece ${i} has length ${n}`);
    }
    starts[i + 1] = starts[i] + n;
  }
  const size = starts[pieces.length];
  /** Index of the piece holding byte `pos` (pos < size). */
  const find = (pos: number): number => {
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const readPiece = async (i: number, from: number, length: number): Promise<Uint8Array> => {
    const p = pieces[i];
    if ("zeros" in p) return new Uint8Array(length);
    if ("bytes" in p) return p.bytes.subarray(from, from + length);
    return readExact(p.source, p.offset + from, length, p.what);
  };
  let closed: Promise<void> | undefined;
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!readInRange(offset, length, size)) {
        throw new DmgError(
          "IO_ERROR",
          `read of ${length} bytes at ${at(offset)} is outside the ${size} bytes presented`,
          offset,
        );
      }
      if (length === 0) return new Uint8Array(0);
      let i = find(offset);
      // Empty pieces hold no byte: skip to the one that holds `offset`.
      while (starts[i + 1] <= offset) i++;
      const within = offset - starts[i];
      if (within + length <= starts[i + 1] - starts[i]) return readPiece(i, within, length);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const at = offset + done;
        while (starts[i + 1] <= at) i++;
        const from = at - starts[i];
        const n = Math.min(length - done, starts[i + 1] - at);
        out.set(await readPiece(i, from, n), done);
        done += n;
      }
      return out;
    },
    close: close && (() => (closed ??= close())),
  };
}
