/**
 * LZFSE streams by hand for the codec's tests: stored and LZVN blocks from bytes and opcodes,
 * a stream cut into its blocks, a `bvx2` block rewritten with a `bvx1` header, and test data.
 */
import {
  LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV1_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV2_BLOCK_MAGIC,
  LZFSE_ENDOFSTREAM_BLOCK_MAGIC,
  LZFSE_UNCOMPRESSED_BLOCK_MAGIC,
} from "../../src/codecs/lzfse/lzfse.js";
import {
  type LzfseBlockHeader,
  parseV2Header,
  V1_HEADER_SIZE,
  v2HeaderSize,
} from "../../src/codecs/lzfse/lzfse-fse.js";

export const le32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
export const cat = (...parts: ArrayLike<number>[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p))));
export const END = le32(LZFSE_ENDOFSTREAM_BLOCK_MAGIC);

/** A stored block. */
export const stored = (bytes: ArrayLike<number>) =>
  cat(le32(LZFSE_UNCOMPRESSED_BLOCK_MAGIC), le32(bytes.length), bytes);
/** An LZVN block of `nRaw` bytes from `ops`, with its end-of-stream opcode unless `eos` false. */
export function lzvn(nRaw: number, ops: number[], eos = true): Uint8Array {
  const payload = eos ? [...ops, 6, 0, 0, 0, 0, 0, 0, 0] : ops;
  return cat(le32(LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC), le32(nRaw), le32(payload.length), payload);
}

/** The blocks of a stream, each as its bytes. */
export function blocks(stream: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const view = new DataView(stream.buffer, stream.byteOffset, stream.length);
  for (let at = 0; at < stream.length; ) {
    const magic = view.getUint32(at, true);
    let size = 4;
    if (magic === LZFSE_UNCOMPRESSED_BLOCK_MAGIC) size = 8 + view.getUint32(at + 4, true);
    else if (magic === LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC) size = 12 + view.getUint32(at + 8, true);
    else if (magic === LZFSE_COMPRESSEDV2_BLOCK_MAGIC) {
      const h = v2At(stream, at);
      size = h.headerSize + h.n_literal_payload_bytes + h.n_lmd_payload_bytes;
    }
    out.push(stream.subarray(at, at + size));
    at += size;
  }
  return out;
}

export function v2At(stream: Uint8Array, at: number): LzfseBlockHeader {
  const size = v2HeaderSize(stream.subarray(at, at + 32));
  return parseV2Header(stream.subarray(at, at + size), (m) => {
    throw new Error(m);
  });
}

/** The same block with its header rewritten as `bvx1`, after `edit` changes its fields. */
export function asV1(
  block: Uint8Array,
  edit: (h: LzfseBlockHeader) => void = () => {},
): Uint8Array {
  const h = v2At(block, 0);
  edit(h);
  const out = new Uint8Array(V1_HEADER_SIZE + block.length - h.headerSize);
  const v = new DataView(out.buffer);
  const words = [
    LZFSE_COMPRESSEDV1_BLOCK_MAGIC,
    h.n_raw_bytes,
    h.n_literal_payload_bytes + h.n_lmd_payload_bytes,
    h.n_literals,
    h.n_matches,
    h.n_literal_payload_bytes,
    h.n_lmd_payload_bytes,
    h.literal_bits,
  ];
  for (const [i, w] of words.entries()) v.setUint32(4 * i, w >>> 0, true);
  for (const [i, st] of h.literal_state.entries()) v.setUint16(32 + 2 * i, st, true);
  v.setInt32(40, h.lmd_bits, true);
  const u16s = [h.l_state, h.m_state, h.d_state, ...h.freq];
  for (const [i, x] of u16s.entries()) v.setUint16(44 + 2 * i, x, true);
  out.set(block.subarray(h.headerSize), V1_HEADER_SIZE);
  return out;
}

/** Deterministic pseudo-random numbers (xorshift32). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** Test input: text-like runs, repeats near and far, and random stretches. */
export function mixedBytes(n: number, seed: number): Uint8Array {
  const next = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; ) {
    const r = next();
    const len = Math.min(n - i, 1 + (r % 300));
    const kind = (r >>> 9) % 4;
    const from = i - 1 - (next() % 70_000);
    if (kind === 0 && from >= 0) out.copyWithin(i, from, from + len);
    else if (kind === 1) out.fill(r >>> 24, i, i + len);
    else for (let k = 0; k < len; k++) out[i + k] = kind === 2 ? 97 + (next() % 8) : next();
    i += len;
  }
  return out;
}
