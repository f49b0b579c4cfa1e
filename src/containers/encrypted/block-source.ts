/**
 * The image inside an encrypted image, as a byte source: each block is decrypted when a read
 * touches it, with AES-CBC under the data key and an IV of its own, HMAC-SHA1(hmacKey,
 * uint32be(block number)) truncated to 16 bytes. A few blocks are kept for the next read.
 */
import { at, DmgError } from "../../core/errors.js";
import { readBuffer } from "../../sources/read-buffer.js";
import { type ByteSource, readExact } from "../../sources/source.js";
import { markDecryption } from "../marks.js";
import { type CbcDecrypt, type CipherProvider, guarded } from "./ciphers.js";
import { BLOCK_IV_SIZE } from "./header.js";
import type { DataKeys } from "./unwrap.js";

/** Decrypted bytes kept, at most (at least one block). */
export const BLOCK_CACHE_BYTES = 1024 * 1024;

/** Where the ciphertext lies and what it holds. */
export interface BlockLayout {
  blockSize: number;
  dataOffset: number;
  dataSize: number;
}

/**
 * A source of the `layout.dataSize` bytes decrypted from `outer`. Its `close()` closes
 * `outer`.
 */
export async function decryptingSource(
  outer: ByteSource,
  layout: BlockLayout,
  keys: DataKeys,
  ciphers: CipherProvider,
): Promise<ByteSource> {
  const aes = await guarded("AES key import", () => ciphers.aesCbc(keys.aesKey));
  const hmac = await guarded("HMAC key import", () => ciphers.hmacSha1(keys.hmacKey));
  const src = new BlockSource(outer, layout, aes, hmac);
  return markDecryption(src, { outer, layout, keys });
}

class BlockSource implements ByteSource {
  readonly size: number;
  /** Blocks decrypted or being decrypted, least recently used first. */
  private readonly cache = new Map<number, Promise<Uint8Array>>();
  private readonly keep: number;

  constructor(
    private readonly outer: ByteSource,
    private readonly layout: BlockLayout,
    private readonly aes: CbcDecrypt,
    private readonly hmac: (data: Uint8Array) => Promise<Uint8Array>,
  ) {
    this.size = layout.dataSize;
    this.keep = Math.max(1, Math.floor(BLOCK_CACHE_BYTES / layout.blockSize));
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    // Callers check their ranges; a read outside is a bug above, refused exactly here.
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.size
    ) {
      throw new DmgError(
        "TRUNCATED",
        `decrypted image: ${length} bytes at ${at(offset)} run past its ${this.size} bytes`,
        offset,
      );
    }
    const out = readBuffer(into, length);
    const bs = this.layout.blockSize;
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const n = Math.floor(pos / bs);
      const block = await this.block(n);
      const from = pos - n * bs;
      const take = Math.min(length - done, bs - from);
      out.set(block.subarray(from, from + take), done);
      done += take;
    }
    return out;
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.outer.close?.();
  }

  private block(n: number): Promise<Uint8Array> {
    const hit = this.cache.get(n);
    if (hit) {
      this.cache.delete(n);
      this.cache.set(n, hit);
      return hit;
    }
    const p = this.decrypt(n);
    this.cache.set(n, p);
    // A failed block is not kept: the next read tries again (an I/O error may pass).
    p.catch(() => this.cache.get(n) === p && this.cache.delete(n));
    while (this.cache.size > this.keep) {
      const oldest = this.cache.keys().next().value as number;
      this.cache.delete(oldest);
    }
    return p;
  }

  private async decrypt(n: number): Promise<Uint8Array> {
    const { blockSize, dataOffset } = this.layout;
    const at0 = dataOffset + n * blockSize;
    // Every block is stored whole, the last one too; only its first bytes are the image's.
    const cipher = await readExact(this.outer, at0, blockSize, `encrypted block ${n}`);
    const num = new Uint8Array(4);
    new DataView(num.buffer).setUint32(0, n);
    return guarded(`decrypting block ${n} at ${at(at0)}`, async () => {
      const iv = (await this.hmac(num)).slice(0, BLOCK_IV_SIZE);
      return this.aes(iv, cipher);
    });
  }
}
