/**
 * Encrypted images: the "encrcdsa" (version 2) and "cdsaencr" (version 1) containers, opened
 * with a password, present the image they hold, decrypted block by block as it is read.
 */
import { DmgError } from "../../core/errors.js";
import { overBudget } from "../../core/limits.js";
import { type ByteSource, readExact } from "../../sources/source.js";
import type { Container, ContainerContext, OpenedContainer } from "../container.js";
import { decryptingSource } from "./block-source.js";
import { type CipherProvider, WEB_CIPHERS } from "./ciphers.js";
import {
  ENCRCDSA_FIXED_SIZE,
  type EncrcdsaHeader,
  isEncrcdsa,
  KEY_POINTER_SIZE,
  parseEncrcdsaFixed,
  parseKeyPointers,
} from "./header.js";
import { type PasswordBlob, parseKeyBlob } from "./key-blob.js";
import { type DataKeys, unwrapKeys } from "./unwrap.js";
import { CDSAENCR_BLOCK_SIZE, CDSAENCR_SIZE, isCdsaencr, parseCdsaencr } from "./v1-trailer.js";
import { unwrapV1Keys } from "./v1-unwrap.js";

/** The encrypted-image container. */
export const encryptedContainer: Container = {
  name: "encrypted image",
  detect: (head, tail) => isEncrcdsa(head) || isCdsaencr(tail),
  open: openEncrypted,
};

async function openEncrypted(src: ByteSource, ctx: ContainerContext): Promise<OpenedContainer> {
  const head = await readExact(src, 0, Math.min(src.size, 8), "file header");
  if (!isEncrcdsa(head)) return openV1(src, ctx);
  const { header, blobs } = await readHeader(src, ctx);
  requirePassword(ctx, "encrcdsa header", 0);
  const ciphers = ctx.ciphers ?? WEB_CIPHERS;
  const keys = await unlock(blobs, header, ctx, ciphers);
  const source = await decryptingSource(src, header, keys, ciphers);
  return {
    info: {
      kind: "encrypted",
      fields: {
        version: header.version,
        cipher: `AES-${header.keyBits}-CBC`,
        keyBits: header.keyBits,
        blockSize: header.blockSize,
        dataSize: header.dataSize,
        dataOffset: header.dataOffset,
        keyBlobs: header.keys.length,
        pbkdf2Iterations: blobs[0].iterations,
        keyWrap: blobs[0].cipher,
      },
    },
    source,
    warnings: [],
  };
}

/** Without a password the image is what it was before this layer: encrypted, and refused. */
function requirePassword(ctx: ContainerContext, what: string, offset: number): void {
  if (ctx.password !== undefined) return;
  throw new DmgError(
    "ENCRYPTED",
    `image is encrypted (${what}); give its password (the password option, or --password-file / --password-env on the command line)`,
    offset,
  );
}

/** A version 1 image: its trailer, its keys unwrapped, its blocks from offset 0. */
async function openV1(src: ByteSource, ctx: ContainerContext): Promise<OpenedContainer> {
  const start = Math.max(0, src.size - CDSAENCR_SIZE);
  const bytes = await readExact(src, start, src.size - start, "cdsaencr trailer");
  const trailer = parseCdsaencr(bytes, src.size, ctx.budget);
  requirePassword(ctx, "cdsaencr trailer", trailer.offset);
  ctx.work.check();
  const ciphers = ctx.ciphers ?? WEB_CIPHERS;
  const keys = await unwrapV1Keys(trailer, ctx.password as Uint8Array, ciphers);
  if (!keys) {
    throw new DmgError(
      "PASSWORD_WRONG",
      "the password does not unlock the image (its version 1 keys do not unwrap)",
      trailer.offset,
    );
  }
  const dataSize = trailer.blockCount * CDSAENCR_BLOCK_SIZE;
  const layout = { blockSize: CDSAENCR_BLOCK_SIZE, dataOffset: 0, dataSize };
  const source = await decryptingSource(src, layout, keys, ciphers);
  return {
    info: {
      kind: "encrypted",
      fields: {
        version: 1,
        cipher: `AES-${keys.aesKey.length * 8}-CBC`,
        keyBits: keys.aesKey.length * 8,
        blockSize: CDSAENCR_BLOCK_SIZE,
        dataSize,
        dataOffset: 0,
        trailerOffset: trailer.offset,
        unusedBytes: trailer.unusedBytes,
        pbkdf2Iterations: trailer.iterations,
        keyWrap: "3DES-EDE-CBC (RFC 3217)",
      },
    },
    source,
    warnings: [],
  };
}

/** The header, its pointers and its password blobs, every field checked. */
async function readHeader(
  src: ByteSource,
  ctx: ContainerContext,
): Promise<{ header: EncrcdsaHeader; blobs: PasswordBlob[] }> {
  const { budget } = ctx;
  const fixed = parseEncrcdsaFixed(
    await readExact(src, 0, Math.min(src.size, ENCRCDSA_FIXED_SIZE), "encrcdsa header"),
    src.size,
    budget,
  );
  const headerSize = ENCRCDSA_FIXED_SIZE + fixed.keyCount * KEY_POINTER_SIZE;
  const ptrBytes = await readExact(
    src,
    ENCRCDSA_FIXED_SIZE,
    Math.min(src.size, headerSize) - ENCRCDSA_FIXED_SIZE,
    "encrcdsa key blob pointers",
  );
  const dataEnd = fixed.dataOffset + fixed.blockCount * fixed.blockSize;
  const keys = parseKeyPointers(
    ptrBytes,
    fixed.keyCount,
    src.size,
    { offset: fixed.dataOffset, end: dataEnd },
    budget,
  );
  const blobs: PasswordBlob[] = [];
  for (let i = 0; i < keys.length; i++) {
    ctx.work.check();
    const bytes = await readExact(src, keys[i].offset, keys[i].size, `key blob ${i}`);
    const blob = parseKeyBlob(bytes, keys[i], i);
    if (blob) blobs.push(blob);
  }
  // Only certificate blobs: a password can unlock nothing here.
  if (blobs.length === 0) {
    throw new DmgError(
      "ENCRYPTED_UNSUPPORTED",
      "encrypted image has no password key blob (it is unlocked by a certificate or key only)",
      ENCRCDSA_FIXED_SIZE,
    );
  }
  return { header: { ...fixed, keys, headerSize }, blobs };
}

/** The data keys of the first password blob the password unwraps, or PASSWORD_WRONG. */
async function unlock(
  blobs: PasswordBlob[],
  header: EncrcdsaHeader,
  ctx: ContainerContext,
  ciphers: CipherProvider,
): Promise<DataKeys> {
  const sizes = { aesBytes: header.keyBits / 8, hmacBytes: header.hmacKeyBits / 8 };
  const limit = ctx.budget.maxKdfIterations;
  let spent = 0;
  for (const blob of blobs) {
    // Attack: an iteration count of 4 billion is hours of CPU before the first byte is read;
    // counted over every blob tried, so 16 blobs of a million each do not pass either.
    if (spent + blob.iterations > limit) {
      throw overBudget("maxKdfIterations", spent + blob.iterations, limit, {
        offset: blob.fileOffset + 8,
        subject: `key blob ${blob.index}`,
      });
    }
    spent += blob.iterations;
    ctx.work.check();
    const keys = await unwrapKeys(blob, ctx.password as Uint8Array, sizes, ciphers);
    if (keys) return keys;
  }
  throw new DmgError(
    "PASSWORD_WRONG",
    `the password does not unlock the image (tried ${blobs.length} password key blob${blobs.length === 1 ? "" : "s"})`,
    blobs[0].fileOffset,
  );
}
