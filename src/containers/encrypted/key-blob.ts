/**
 * A password key blob of a version 2 encrypted image: how the password becomes a key
 * (PBKDF2), and the data key wrapped under it.
 *
 *   +0x00  KDF algorithm (103: PBKDF2)    +0x54  wrapping key bits (192)
 *   +0x04  KDF PRNG algorithm             +0x58  wrapping algorithm (17: 3DES, or AES)
 *   +0x08  iteration count                +0x5c  padding (7: PKCS#7)
 *   +0x0c  salt length (20)               +0x60  mode (6: CBC)
 *   +0x10  salt (32 bytes)                +0x64  wrapped key size
 *   +0x30  IV size (8)                    +0x68  wrapped key
 *   +0x34  IV (32 bytes)
 */
import { Cursor } from "../../bytes/cursor.js";
import { bad, CSSM_ALGID_AES, type KeyPointer, unsupported } from "./header.js";

/** The KDF of password blobs. Blobs with another (a certificate's) are not password blobs. */
export const KDF_PBKDF2 = 103;
/** CSSM_ALGID_3DES_3KEY_EDE. */
export const CSSM_ALGID_3DES_3KEY = 17;
/** CSSM_PADDING_PKCS7. */
export const CSSM_PADDING_PKCS7 = 7;
/** CSSM_ALGMODE_CBCPadIV8. */
export const CSSM_ALGMODE_CBCPADIV8 = 6;
/** Bytes before the wrapped key. */
export const KEY_BLOB_FIXED_SIZE = 0x68;
const SALT_FIELD = 32;
const IV_FIELD = 32;

/** The wrapping cipher of a blob. */
export type WrapCipher = "3DES-EDE-CBC" | "AES-128-CBC" | "AES-192-CBC" | "AES-256-CBC";

/** A password key blob. */
export interface PasswordBlob {
  /** Its index among the header's blobs. */
  index: number;
  fileOffset: number;
  iterations: number;
  salt: Uint8Array;
  iv: Uint8Array;
  cipher: WrapCipher;
  /** Bytes of the wrapping key (24 for 3DES). */
  keyBytes: number;
  wrapped: Uint8Array;
}

/**
 * The password blob in `bytes` (the whole blob `ptr` points at, the `index`th), or undefined
 * when the blob is of another kind (a public-key blob).
 */
export function parseKeyBlob(
  bytes: Uint8Array,
  ptr: KeyPointer,
  index: number,
): PasswordBlob | undefined {
  const base = ptr.offset;
  const c = new Cursor(bytes, base, `key blob ${index}`, "ENCRYPTED_HEADER");
  const kdf = c.u32();
  // Certificate (public-key) blobs have another layout; they unlock nothing a password can.
  if (kdf !== KDF_PBKDF2) return undefined;
  c.skip(4); // PRNG algorithm
  const iterations = c.u32();
  const saltLen = c.u32();
  const saltField = c.bytesN(SALT_FIELD);
  const ivSize = c.u32();
  const ivField = c.bytesN(IV_FIELD);
  const keyBits = c.u32();
  const algorithm = c.u32();
  const padding = c.u32();
  const mode = c.u32();
  const wrappedSize = c.u32();
  // PBKDF2 with no iteration is no key derivation at all; WebCrypto refuses it too.
  if (iterations === 0) throw bad(`key blob ${index}: PBKDF2 iteration count is 0`, base + 8);
  // Lengths are checked against the fixed fields they index before any slice (a salt
  // length of 4 billion).
  if (saltLen > SALT_FIELD) {
    throw bad(
      `key blob ${index}: salt length ${saltLen} exceeds its ${SALT_FIELD}-byte field`,
      base + 0x0c,
    );
  }
  const cipher = wrapCipher(algorithm, keyBits, base, index);
  const block = cipher === "3DES-EDE-CBC" ? 8 : 16;
  // Apple writes an 8-byte IV and zero-extends it for AES; more than a block is no CBC IV.
  if (ivSize > block) {
    throw bad(
      `key blob ${index}: IV size ${ivSize} exceeds the ${block}-byte cipher block`,
      base + 0x30,
    );
  }
  // Only PKCS#7-padded CBC is written by hdiutil; the padding is what tells a wrong password.
  if (padding !== CSSM_PADDING_PKCS7 || mode !== CSSM_ALGMODE_CBCPADIV8) {
    throw unsupported(
      `key blob ${index}: wrapping mode ${mode} with padding ${padding} (only CBC with PKCS#7: 6, 7)`,
      base + 0x5c,
    );
  }
  // A wrapped key that is not whole cipher blocks, or runs past its blob.
  if (wrappedSize === 0 || wrappedSize % block !== 0 || wrappedSize > c.remaining) {
    throw bad(
      `key blob ${index}: wrapped key of ${wrappedSize} bytes is not whole ${block}-byte blocks inside the ${bytes.length}-byte blob`,
      base + 0x64,
    );
  }
  const iv = new Uint8Array(block);
  iv.set(ivField.subarray(0, ivSize));
  return {
    index,
    fileOffset: base,
    iterations,
    salt: saltField.slice(0, saltLen),
    iv,
    cipher,
    keyBytes: keyBits / 8,
    wrapped: c.bytesN(wrappedSize).slice(),
  };
}

function wrapCipher(algorithm: number, keyBits: number, base: number, index: number): WrapCipher {
  // Mac OS X 10.5-era images wrap with Triple DES; current hdiutil with AES.
  if (algorithm === CSSM_ALGID_3DES_3KEY && keyBits === 192) return "3DES-EDE-CBC";
  if (algorithm === CSSM_ALGID_AES) {
    if (keyBits === 128) return "AES-128-CBC";
    if (keyBits === 192) return "AES-192-CBC";
    if (keyBits === 256) return "AES-256-CBC";
  }
  throw unsupported(
    `key blob ${index}: wrapping algorithm 0x${algorithm.toString(16)} with ${keyBits}-bit keys (read: 3DES with 192, AES with 128, 192 or 256)`,
    base + 0x54,
  );
}
