/**
 * From a password to the data keys: PBKDF2-HMAC-SHA1 derives the wrapping key, which decrypts
 * the blob's wrapped key material: the AES key, then the HMAC-SHA1 key of the block IVs, then
 * (in every image seen) the marker "CKIE" and a zero byte, then PKCS#7 padding.
 */
import { DmgError } from "../../core/errors.js";
import { type CipherProvider, guarded } from "./ciphers.js";
import type { PasswordBlob } from "./key-blob.js";

/** The marker after the keys in the unwrapped material. */
const CKIE = [0x43, 0x4b, 0x49, 0x45];

/** The keys that decrypt the blocks. */
export interface DataKeys {
  aesKey: Uint8Array;
  hmacKey: Uint8Array;
}

/**
 * The data keys in `blob` under `password`, or undefined when the password does not unwrap
 * it (the padding is not PKCS#7, or the key material is short).
 *
 * @throws DmgError CIPHER_UNAVAILABLE when the platform lacks the wrapping cipher
 */
export async function unwrapKeys(
  blob: PasswordBlob,
  password: Uint8Array,
  sizes: { aesBytes: number; hmacBytes: number },
  ciphers: CipherProvider,
): Promise<DataKeys | undefined> {
  const decrypt = await wrapDecryptor(blob, ciphers);
  const derived = await guarded("PBKDF2", () =>
    ciphers.pbkdf2Sha1(password, blob.salt, blob.iterations, blob.keyBytes),
  );
  const key = await guarded(`the ${blob.cipher} key unwrap`, async () =>
    (await decrypt(derived))(blob.iv, blob.wrapped),
  );
  const plain = unpad(key, blob.cipher === "3DES-EDE-CBC" ? 8 : 16);
  // A wrong password decrypts to noise: its padding is valid about once in 256 tries, so the
  // marker after the keys must be there too where the material has room for it (one in 2^32).
  const keys = sizes.aesBytes + sizes.hmacBytes;
  if (plain === undefined || plain.length < keys) return undefined;
  if (plain.length >= keys + CKIE.length && !CKIE.every((c, i) => plain[keys + i] === c)) {
    return undefined;
  }
  return {
    aesKey: plain.slice(0, sizes.aesBytes),
    hmacKey: plain.slice(sizes.aesBytes, sizes.aesBytes + sizes.hmacBytes),
  };
}

async function wrapDecryptor(blob: PasswordBlob, ciphers: CipherProvider) {
  if (blob.cipher !== "3DES-EDE-CBC") return (k: Uint8Array) => ciphers.aesCbc(k);
  const des3 = ciphers.des3Cbc?.bind(ciphers);
  // WebCrypto has no Triple DES, and the browser build carries no cipher of its own.
  if (!des3) {
    throw new DmgError(
      "CIPHER_UNAVAILABLE",
      `key blob ${blob.index} is wrapped with Triple DES, which ${ciphers.name} cannot decrypt (the browser build has no 3DES); open the image with the Node build, or convert it with a current hdiutil`,
      blob.fileOffset + 0x58,
    );
  }
  return des3;
}

/** `b` without its PKCS#7 padding (blocks of `block` bytes), or undefined when it has none. */
export function unpad(b: Uint8Array, block: number): Uint8Array | undefined {
  if (b.length === 0 || b.length % block !== 0) return undefined;
  const n = b[b.length - 1];
  if (n === 0 || n > block) return undefined;
  for (let i = b.length - n; i < b.length; i++) if (b[i] !== n) return undefined;
  return b.subarray(0, b.length - n);
}
