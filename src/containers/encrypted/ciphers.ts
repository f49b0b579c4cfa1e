/**
 * The ciphers an encrypted image needs, behind a small interface: the core's uses WebCrypto
 * (browsers and Node alike); the Node entry passes its own, over node:crypto, which adds
 * Triple DES (WebCrypto has none) and decrypts AES blocks without the padding workaround.
 */
import { DmgError } from "../../core/errors.js";

/** Decrypts CBC ciphertext under one key, keeping every byte (no padding removed). */
export type CbcDecrypt = (iv: Uint8Array, data: Uint8Array) => Promise<Uint8Array>;

/** The primitives of Apple's encrypted images. */
export interface CipherProvider {
  /** Its name in messages. */
  readonly name: string;
  /** PBKDF2 with HMAC-SHA1: `bytes` bytes of key from `password` and `salt`. */
  pbkdf2Sha1(
    password: Uint8Array,
    salt: Uint8Array,
    iterations: number,
    bytes: number,
  ): Promise<Uint8Array>;
  /** A function computing HMAC-SHA1 under `key`. */
  hmacSha1(key: Uint8Array): Promise<(data: Uint8Array) => Promise<Uint8Array>>;
  /** AES-CBC decryption under `key` (16, 24 or 32 bytes). */
  aesCbc(key: Uint8Array): Promise<CbcDecrypt>;
  /** Triple DES (EDE, three keys) CBC decryption under `key` (24 bytes); absent in browsers. */
  des3Cbc?(key: Uint8Array): Promise<CbcDecrypt>;
}

/** What a provider's failure becomes: a DmgError that names the operation. */
export async function guarded<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof DmgError) throw e;
    throw new DmgError(
      "CIPHER_UNAVAILABLE",
      `${what} failed in the platform's cryptography: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

const AES_BLOCK = 16;

/** WebCrypto, or CIPHER_UNAVAILABLE where the platform has none. */
function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  // Browsers expose WebCrypto to secure contexts only (https, localhost).
  if (!s) {
    throw new DmgError(
      "CIPHER_UNAVAILABLE",
      "decrypting needs WebCrypto (crypto.subtle), which this platform does not offer (browsers give it to https and localhost pages only)",
    );
  }
  return s;
}

/** A copy in an ArrayBuffer of its own, as WebCrypto's typings want. */
function buf(b: Uint8Array): ArrayBuffer {
  return b.slice().buffer as ArrayBuffer;
}

/**
 * AES-CBC decryption of whole blocks through WebCrypto, which always strips PKCS#7 padding:
 * one block is appended that decrypts to a full block of padding (16 bytes of 0x10) and is
 * stripped, leaving exactly the plaintext of `data`. That block is E(key, pad XOR last block
 * of `data`), the first block of the CBC encryption of `pad` with the last block as its IV.
 */
async function webAesCbc(key: Uint8Array): Promise<CbcDecrypt> {
  const s = subtle();
  const k = await s.importKey("raw", buf(key), { name: "AES-CBC" }, false, ["encrypt", "decrypt"]);
  const pad = new Uint8Array(AES_BLOCK).fill(AES_BLOCK);
  return async (iv, data) => {
    if (data.length === 0 || data.length % AES_BLOCK !== 0) {
      throw new Error(`AES-CBC input of ${data.length} bytes is not whole blocks`);
    }
    const last = data.slice(data.length - AES_BLOCK);
    const enc = new Uint8Array(await s.encrypt({ name: "AES-CBC", iv: last }, k, pad));
    const whole = new Uint8Array(data.length + AES_BLOCK);
    whole.set(data);
    whole.set(enc.subarray(0, AES_BLOCK), data.length);
    const out = new Uint8Array(await s.decrypt({ name: "AES-CBC", iv: buf(iv) }, k, whole));
    if (out.length !== data.length) throw new Error("AES-CBC padding block was not removed");
    return out;
  };
}

/**
 * The core's ciphers: WebCrypto's PBKDF2, HMAC and AES. No Triple DES: WebCrypto has none, and
 * this library carries no cipher of its own.
 */
export const WEB_CIPHERS: CipherProvider = Object.freeze({
  name: "WebCrypto",
  async pbkdf2Sha1(password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number) {
    const s = subtle();
    const k = await s.importKey("raw", buf(password), "PBKDF2", false, ["deriveBits"]);
    const bits = await s.deriveBits(
      { name: "PBKDF2", hash: "SHA-1", salt: buf(salt), iterations },
      k,
      bytes * 8,
    );
    return new Uint8Array(bits);
  },
  async hmacSha1(key: Uint8Array) {
    const s = subtle();
    const k = await s.importKey("raw", buf(key), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
    return async (data: Uint8Array) => new Uint8Array(await s.sign("HMAC", k, buf(data)));
  },
  aesCbc: webAesCbc,
});
