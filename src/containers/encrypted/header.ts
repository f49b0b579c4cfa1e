/**
 * The header of a version 2 encrypted image ("encrcdsa", at the start of the file): the data
 * cipher, the block layout of the ciphertext, and where the key blobs lie.
 *
 *   0x00  signature "encrcdsa"       0x34  block size (u32)
 *   0x08  version (2)                0x38  data size (u64): bytes of the image inside
 *   0x0c  IV size (16)               0x40  data offset (u64): first ciphertext block
 *   0x10  encryption mode            0x48  key blob count (u32)
 *   0x14  algorithm (AES)            0x4c  key blob pointers, 20 bytes each:
 *   0x18  key bits (128, 256)              type (u32), offset (u64), size (u64)
 *   0x1c  PRNG algorithm
 *   0x20  HMAC key bits (160)
 *   0x24  UUID (16 bytes)
 */

import { Cursor } from "../../bytes/cursor.js";
import { at, DmgError } from "../../core/errors.js";
import { type Budget, checkBudget } from "../../core/limits.js";

export const ENCRCDSA = "encrcdsa";
/** The only header version read (version 1 is the "cdsaencr" trailer form). */
export const ENCRCDSA_VERSION = 2;
/** Bytes before the key blob pointers. */
export const ENCRCDSA_FIXED_SIZE = 0x4c;
/** Bytes of one key blob pointer. */
export const KEY_POINTER_SIZE = 20;
/** CSSM_ALGID_AES: Apple's vendor-defined algorithm id. */
export const CSSM_ALGID_AES = 0x8000_0001;
/** The IV of each block: HMAC-SHA1 of its number, truncated to an AES block. */
export const BLOCK_IV_SIZE = 16;
const AES_BLOCK = 16;
/** Block numbers are 32-bit in the IV derivation. */
const MAX_BLOCKS = 0x1_0000_0000;

/** Where one key blob lies. */
export interface KeyPointer {
  type: number;
  offset: number;
  size: number;
}

/** A version 2 header, checked against the file it came from. */
export interface EncrcdsaHeader {
  version: number;
  ivSize: number;
  mode: number;
  algorithm: number;
  keyBits: number;
  prngAlgorithm: number;
  hmacKeyBits: number;
  blockSize: number;
  dataSize: number;
  dataOffset: number;
  /** Ciphertext blocks holding `dataSize` bytes. */
  blockCount: number;
  keys: KeyPointer[];
  /** Bytes of the header with its pointers. */
  headerSize: number;
}

export { isEncrcdsa } from "../magic.js";

/** ENCRYPTED_HEADER: a header or key blob field of an encrypted image that lies. */
export function bad(message: string, offset: number): DmgError {
  return new DmgError("ENCRYPTED_HEADER", message, offset);
}

/** ENCRYPTED_UNSUPPORTED: a field naming what this reader does not decrypt. */
export function unsupported(message: string, offset: number): DmgError {
  return new DmgError("ENCRYPTED_UNSUPPORTED", message, offset);
}

/**
 * The fixed part of the header (`bytes`, at least {@link ENCRCDSA_FIXED_SIZE} bytes from the
 * start of a `fileSize`-byte file): every field checked but the pointers, which follow.
 */
export function parseEncrcdsaFixed(
  bytes: Uint8Array,
  fileSize: number,
  budget: Budget,
): Omit<EncrcdsaHeader, "keys" | "headerSize"> & { keyCount: number } {
  const c = new Cursor(bytes, 0, "encrcdsa header");
  c.skip(8);
  const version = c.u32();
  // Version 1 images keep their header at the end ("cdsaencr"); a header at the start with
  // another version is a format this reader does not know.
  if (version !== ENCRCDSA_VERSION) {
    throw unsupported(`encrcdsa header version ${version}; only version 2 is read`, 8);
  }
  const ivSize = c.u32();
  const mode = c.u32();
  const algorithm = c.u32();
  const keyBits = c.u32();
  const prngAlgorithm = c.u32();
  const hmacKeyBits = c.u32();
  c.skip(16); // UUID
  const blockSize = c.u32();
  const dataSize = c.u64("data size");
  const dataOffset = c.u64("data offset");
  const keyCount = c.u32();
  // The block IV is an HMAC-SHA1 truncated to 16 bytes; another size is another format.
  if (ivSize !== BLOCK_IV_SIZE) {
    throw unsupported(`encrcdsa IV size ${ivSize}; only ${BLOCK_IV_SIZE} is read`, 0x0c);
  }
  // Apple writes AES only; a header naming another cipher is not guessed at.
  if (algorithm !== CSSM_ALGID_AES) {
    throw unsupported(
      `encrcdsa algorithm 0x${algorithm.toString(16)}; only AES (0x80000001) is read`,
      0x14,
    );
  }
  // hdiutil offers AES-128 and AES-256; other sizes are refused, not tried.
  if (keyBits !== 128 && keyBits !== 256) {
    throw unsupported(`encrcdsa key size ${keyBits} bits; AES-128 and AES-256 are read`, 0x18);
  }
  // An HMAC key of 0 bits, or of a fraction of a byte, cannot key the IVs (real: 160).
  if (hmacKeyBits === 0 || hmacKeyBits % 8 !== 0 || hmacKeyBits > 512) {
    throw bad(`encrcdsa HMAC key size ${hmacKeyBits} bits is not 8..512 whole bytes`, 0x20);
  }
  // A block of 0 bytes would divide by zero; a block that is not whole AES blocks cannot be
  // decrypted in CBC mode.
  if (blockSize === 0 || blockSize % AES_BLOCK !== 0) {
    throw bad(`encrcdsa block size ${blockSize} is not a positive multiple of 16`, 0x34);
  }
  // A block of gigabytes would be read and decrypted whole for every byte asked of it.
  checkBudget(budget, "maxCryptBlockBytes", blockSize, { offset: 0x34 });
  const blockCount = Math.ceil(dataSize / blockSize);
  // The IV derivation numbers blocks in 32 bits.
  if (blockCount > MAX_BLOCKS) {
    throw bad(`encrcdsa data of ${dataSize} bytes needs more than 2^32 blocks`, 0x38);
  }
  // Every block of the data must be in the file: a data size past the end is a truncated
  // file (or a lie that would make reads fail deep inside the UDIF reader).
  const end = dataOffset + blockCount * blockSize;
  if (dataOffset > fileSize || end > fileSize) {
    throw new DmgError(
      "TRUNCATED",
      `encrypted data: ${blockCount} blocks of ${blockSize} bytes at ${at(dataOffset)} run past the end of the ${fileSize}-byte file`,
      0x40,
    );
  }
  // A header without key blobs leaves nothing a password could unlock.
  if (keyCount === 0) throw bad("encrcdsa header lists no key blobs", 0x48);
  // Attack: a count of 4 billion pointers, each a blob to read and a PBKDF2 to run.
  checkBudget(budget, "maxKeyBlobs", keyCount, { offset: 0x48 });
  return {
    version,
    ivSize,
    mode,
    algorithm,
    keyBits,
    prngAlgorithm,
    hmacKeyBits,
    blockSize,
    dataSize,
    dataOffset,
    blockCount,
    keyCount,
  };
}

/**
 * The key blob pointers (`bytes`, `count` of them, at {@link ENCRCDSA_FIXED_SIZE}), each
 * checked to lie inside the file, outside the header and the ciphertext.
 */
export function parseKeyPointers(
  bytes: Uint8Array,
  count: number,
  fileSize: number,
  data: { offset: number; end: number },
  budget: Budget,
): KeyPointer[] {
  const c = new Cursor(bytes, ENCRCDSA_FIXED_SIZE, "encrcdsa key blob pointers");
  const headerEnd = ENCRCDSA_FIXED_SIZE + count * KEY_POINTER_SIZE;
  const keys: KeyPointer[] = [];
  for (let i = 0; i < count; i++) {
    const at0 = c.offset;
    const type = c.u32();
    const offset = c.u64(`key blob ${i} offset`);
    const size = c.u64(`key blob ${i} size`);
    // A blob of megabytes is read whole before anything is checked.
    checkBudget(budget, "maxKeyBlobBytes", size, {
      offset: at0,
      subject: `key blob ${i}`,
    });
    // Attack: a pointer into the header itself, past the end of the file, or into the
    // ciphertext (which would then be read as a key blob).
    const end = offset + size;
    if (offset < headerEnd || end > fileSize || (offset < data.end && end > data.offset)) {
      throw bad(
        `key blob ${i}: ${size} bytes at ${at(offset)} lie in the header (which ends at ${at(headerEnd)}), in the encrypted data (${at(data.offset)} to ${at(data.end)}) or past the end of the ${fileSize}-byte file`,
        at0,
      );
    }
    keys.push({ type, offset, size });
  }
  return keys;
}
