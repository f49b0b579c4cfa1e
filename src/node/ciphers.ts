/**
 * The Node entry point's ciphers for encrypted images, over node:crypto: Triple DES (which
 * WebCrypto lacks: Mac OS X 10.5-era images wrap their keys with it), and AES-CBC without
 * padding, one call per block. PBKDF2 runs in libuv's thread pool, off the event loop.
 *
 * node:crypto is loaded on first use: it is a large module, and a process that opens no
 * encrypted image should not hold it (every module loaded stays resident).
 */
import type { CbcDecrypt, CipherProvider } from "../containers/encrypted/ciphers.js";

type Crypto = typeof import("node:crypto");
const crypto = (): Promise<Crypto> => import("node:crypto");

function cbc(c: Crypto, algorithm: string, key: Uint8Array): CbcDecrypt {
  return async (iv, data) => {
    const d = c.createDecipheriv(algorithm, key, iv);
    d.setAutoPadding(false);
    const a = d.update(data);
    const b = d.final();
    if (b.length === 0) return new Uint8Array(a.buffer, a.byteOffset, a.length);
    const out = new Uint8Array(a.length + b.length);
    out.set(a);
    out.set(b, a.length);
    return out;
  };
}

/** node:crypto's PBKDF2, HMAC-SHA1, AES-CBC and Triple DES. */
export const NODE_CIPHERS: CipherProvider = Object.freeze({
  name: "node:crypto",
  pbkdf2Sha1: async (password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number) => {
    const { pbkdf2 } = await crypto();
    return new Promise<Uint8Array>((resolve, reject) =>
      pbkdf2(password, salt, iterations, bytes, "sha1", (e, key) =>
        e ? reject(e) : resolve(new Uint8Array(key)),
      ),
    );
  },
  hmacSha1: async (key: Uint8Array) => {
    const { createHmac } = await crypto();
    return async (data: Uint8Array) =>
      new Uint8Array(createHmac("sha1", key).update(data).digest());
  },
  aesCbc: async (key: Uint8Array) => {
    // The key size names the cipher; any other size would be refused by createDecipheriv.
    if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
      throw new Error(`an AES key of ${key.length} bytes`);
    }
    return cbc(await crypto(), `aes-${key.length * 8}-cbc`, key);
  },
  des3Cbc: async (key: Uint8Array) => cbc(await crypto(), "des-ede3-cbc", key),
});
