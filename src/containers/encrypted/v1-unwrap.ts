/**
 * The key unwrap of version 1 encrypted images, after RFC 3217's Triple DES key wrap: the
 * wrapped key decrypts (3DES-EDE-CBC under the PBKDF2 key, with RFC 3217's fixed IV) to a
 * block sequence which, reversed, is an IV followed by the ciphertext of the key; that
 * decrypts (same key, that IV) to four bytes this reader does not interpret and the key.
 * Both layers carry PKCS#7 padding, and the key's length is known: a wrong password fails one
 * of the three checks all but once in 2^64 tries.
 */
import { DmgError } from "../../core/errors.js";
import { type CbcDecrypt, type CipherProvider, guarded } from "./ciphers.js";
import type { DataKeys } from "./unwrap.js";
import { unpad } from "./unwrap.js";
import { CDSAENCR_FIELD, type CdsaencrTrailer } from "./v1-trailer.js";

/** RFC 3217's IV of the outer layer. */
const RFC3217_IV = new Uint8Array([0x4a, 0xdd, 0xa2, 0x2c, 0x79, 0xe8, 0x21, 0x05]);
const DES_BLOCK = 8;
/** Bytes before the key in the unwrapped material. */
const KEY_PREFIX = 4;
/** The wrapping key: Triple DES with three keys. */
const DES3_KEY_BYTES = 24;
/** Version 1 keys its block IVs with HMAC-SHA1 under a 160-bit key. */
const HMAC_KEY_BYTES = 20;

/**
 * The data keys of `trailer` under `password`, or undefined when the password does not unwrap
 * them.
 *
 * @throws DmgError CIPHER_UNAVAILABLE when the platform has no Triple DES (WebCrypto)
 */
export async function unwrapV1Keys(
  trailer: CdsaencrTrailer,
  password: Uint8Array,
  ciphers: CipherProvider,
): Promise<DataKeys | undefined> {
  const des3 = ciphers.des3Cbc?.bind(ciphers);
  // WebCrypto has no Triple DES, and the browser build carries no cipher of its own.
  if (!des3) {
    throw new DmgError(
      "CIPHER_UNAVAILABLE",
      `a version 1 encrypted image wraps its keys with Triple DES, and ${ciphers.name} has none (WebCrypto offers no 3DES); open it with the Node build, or convert it with hdiutil`,
      trailer.offset + CDSAENCR_FIELD.wrappedAesKey,
    );
  }
  const derived = await guarded("PBKDF2", () =>
    ciphers.pbkdf2Sha1(password, trailer.salt, trailer.iterations, DES3_KEY_BYTES),
  );
  const decrypt = await guarded("Triple DES key import", () => des3(derived));
  const aesKey = await unwrapOne(decrypt, trailer.wrappedAesKey);
  // Version 1 writes AES-128; a 256-bit key is read too. Any other length is a wrong password.
  if (aesKey === undefined || (aesKey.length !== 16 && aesKey.length !== 32)) return undefined;
  const hmacKey = await unwrapOne(decrypt, trailer.wrappedHmacKey);
  if (hmacKey === undefined || hmacKey.length !== HMAC_KEY_BYTES) return undefined;
  return { aesKey: aesKey.slice(), hmacKey: hmacKey.slice() };
}

/** One key unwrapped, or undefined when a padding is not PKCS#7 (a wrong password). */
async function unwrapOne(
  decrypt: CbcDecrypt,
  wrapped: Uint8Array,
): Promise<Uint8Array | undefined> {
  const outer = await guarded("the Triple DES key unwrap", () => decrypt(RFC3217_IV, wrapped));
  const reversed = unpad(outer, DES_BLOCK);
  if (reversed === undefined || reversed.length < 2 * DES_BLOCK) return undefined;
  if (reversed.length % DES_BLOCK !== 0) return undefined;
  const seq = reversed.slice().reverse();
  const iv = seq.subarray(0, DES_BLOCK);
  const inner = await guarded("the Triple DES key unwrap", () =>
    decrypt(iv, seq.subarray(DES_BLOCK)),
  );
  const material = unpad(inner, DES_BLOCK);
  if (material === undefined || material.length <= KEY_PREFIX) return undefined;
  return material.subarray(KEY_PREFIX);
}
