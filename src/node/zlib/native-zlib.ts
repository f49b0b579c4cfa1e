/**
 * node:zlib's deflate for the writer: several times faster than the pure-JS default.
 */
import { deflateSync } from "node:zlib";
import type { Deflater } from "../../write/writer.js";

/**
 * A {@link Deflater} over node:zlib: a zlib stream (header and Adler-32) at `level` (-1 to 9).
 * Returns a plain Uint8Array view of the compressed bytes.
 */
export const nodeDeflate: Deflater = (raw, level) => {
  const out = deflateSync(raw, { level });
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
};
