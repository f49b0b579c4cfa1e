/**
 * The trailer of a version 1 encrypted image (Mac OS X 10.3 and 10.4): 1276 bytes ending the
 * file with the signature "cdsaencr". The ciphertext runs from offset 0 in blocks of 4096
 * bytes; the password unwraps the AES and HMAC keys with PBKDF2 and Triple DES (RFC 3217 style).
 *
 *   0x000  (48 bytes, not read)          0x1b4  wrapped HMAC key length (u32)
 *   0x030  PBKDF2 iteration count (u32)  0x1b8  wrapped HMAC key (300-byte field)
 *   0x034  salt length (u32)             0x2e4  integrity key length (u32)
 *   0x038  salt (48-byte field)          0x2e8  integrity key (48-byte field)
 *   0x068  unwrap IV (32-byte field)     0x318  (not read) ... "cdsaencr" in the last 8 bytes
 *   0x088  wrapped AES key length (u32)
 *   0x08c  wrapped AES key (296-byte field)
 */
import { Cursor } from "../../bytes/cursor.js";
import { DmgError } from "../../core/errors.js";
import { type Budget, checkBudget } from "../../core/limits.js";
import { bad } from "./header.js";

export const CDSAENCR = "cdsaencr";
/** Bytes of the trailer, at the end of the file. */
export const CDSAENCR_SIZE = 1276;
/** Bytes of one ciphertext block: fixed in version 1 (version 2 names its own). */
export const CDSAENCR_BLOCK_SIZE = 4096;
/** Offsets of the trailer's fields, from its start. */
export const CDSAENCR_FIELD = {
  iterations: 0x30,
  saltLength: 0x34,
  salt: 0x38,
  wrappedAesKeyLength: 0x88,
  wrappedAesKey: 0x8c,
  wrappedHmacKeyLength: 0x1b4,
  wrappedHmacKey: 0x1b8,
  integrityKeyLength: 0x2e4,
} as const;
const SALT_FIELD = 48;
const AES_KEY_FIELD = 296;
const HMAC_KEY_FIELD = 300;
const INTEGRITY_KEY_FIELD = 48;
/** Triple DES block: a wrapped key is whole blocks, at least the IV and one more. */
const DES_BLOCK = 8;

/** A version 1 trailer, checked against the file it ends. */
export interface CdsaencrTrailer {
  /** File offset of the trailer. */
  offset: number;
  iterations: number;
  salt: Uint8Array;
  wrappedAesKey: Uint8Array;
  wrappedHmacKey: Uint8Array;
  /** Whole ciphertext blocks before the trailer, from offset 0. */
  blockCount: number;
  /** Bytes between the last whole block and the trailer, not read. */
  unusedBytes: number;
}

export { isCdsaencr } from "../magic.js";

/**
 * The trailer of a `fileSize`-byte file, from `bytes` (its last {@link CDSAENCR_SIZE} bytes,
 * or fewer when the file is shorter).
 */
export function parseCdsaencr(
  bytes: Uint8Array,
  fileSize: number,
  budget: Budget,
): CdsaencrTrailer {
  const offset = fileSize - CDSAENCR_SIZE;
  // A file that ends in the signature but is shorter than the trailer (a cut download).
  if (offset < 0 || bytes.length < CDSAENCR_SIZE) {
    throw new DmgError(
      "TRUNCATED",
      `a version 1 encrypted image ends in a ${CDSAENCR_SIZE}-byte trailer; the file has ${fileSize} bytes`,
      0,
    );
  }
  const f = CDSAENCR_FIELD;
  const c = new Cursor(bytes, offset, "cdsaencr trailer", "ENCRYPTED_HEADER");
  c.skip(f.iterations);
  const iterations = c.u32();
  const saltLength = c.u32();
  const saltField = c.bytesN(SALT_FIELD);
  // PBKDF2 with no iteration derives nothing; WebCrypto and node:crypto refuse it too.
  if (iterations === 0) throw bad("cdsaencr PBKDF2 iteration count is 0", offset + f.iterations);
  // Attack: an iteration count of 4 billion is hours of CPU before the first byte is read
  // (real version 1 images: 1,000).
  checkBudget(budget, "maxKdfIterations", iterations, {
    offset: offset + f.iterations,
    subject: "cdsaencr trailer",
  });
  // Lengths are checked against the fixed fields they index before any slice.
  if (saltLength === 0 || saltLength > SALT_FIELD) {
    throw bad(
      `cdsaencr salt length ${saltLength} is not 1..${SALT_FIELD} (its field)`,
      offset + f.saltLength,
    );
  }
  c.skip(f.wrappedAesKeyLength - f.salt - SALT_FIELD); // unwrap IV: unused, the wrap carries its own
  const wrappedAesKey = wrappedKey(c, AES_KEY_FIELD, "AES", offset + f.wrappedAesKeyLength);
  const wrappedHmacKey = wrappedKey(c, HMAC_KEY_FIELD, "HMAC", offset + f.wrappedHmacKeyLength);
  const integrityLength = c.u32();
  // Not used to decrypt, but a length past its field is a header that lies.
  if (integrityLength > INTEGRITY_KEY_FIELD) {
    throw bad(
      `cdsaencr integrity key length ${integrityLength} exceeds its ${INTEGRITY_KEY_FIELD}-byte field`,
      offset + f.integrityKeyLength,
    );
  }
  // The ciphertext is the whole blocks before the trailer; a file with none holds no image.
  const blockCount = Math.floor(offset / CDSAENCR_BLOCK_SIZE);
  if (blockCount === 0) {
    throw new DmgError(
      "TRUNCATED",
      `version 1 encrypted image: no whole ${CDSAENCR_BLOCK_SIZE}-byte block before its trailer at ${offset}`,
      0,
    );
  }
  return {
    offset,
    iterations,
    salt: saltField.slice(0, saltLength),
    wrappedAesKey,
    wrappedHmacKey,
    blockCount,
    unusedBytes: offset - blockCount * CDSAENCR_BLOCK_SIZE,
  };
}

/** A length (u32) and the wrapped key of that length in its `field`-byte field. */
function wrappedKey(c: Cursor, field: number, what: string, at: number): Uint8Array {
  const length = c.u32();
  const bytes = c.bytesN(field);
  // Attack: a length of 4 billion sliced from a 296-byte field; a length that is not whole
  // Triple DES blocks, or has no room for the wrap's IV and a block of key, cannot unwrap.
  if (length < 2 * DES_BLOCK || length > field || length % DES_BLOCK !== 0) {
    throw bad(
      `cdsaencr wrapped ${what} key length ${length} is not whole ${DES_BLOCK}-byte blocks from ${2 * DES_BLOCK} to ${field} (its field)`,
      at,
    );
  }
  return bytes.slice(0, length);
}
