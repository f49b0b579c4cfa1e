/**
 * Builds version 2 encrypted images ("encrcdsa") around any bytes, with node:crypto, from the
 * format's description: header, one password key blob (3DES- or AES-wrapped), blocks
 * encrypted with AES-CBC under IVs of HMAC-SHA1(hmacKey, uint32be(block number)).
 */
import { createCipheriv, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";

export interface EncryptOptions {
  password?: string;
  keyBits?: 128 | 256;
  blockSize?: number;
  iterations?: number;
  wrap?: "3des" | "aes";
}

/** Field offsets of the header and of the key blob (at {@link KEY_BLOB_AT}). */
export const HEADER_FIELDS = {
  version: 0x08,
  ivSize: 0x0c,
  algorithm: 0x14,
  keyBits: 0x18,
  hmacKeyBits: 0x20,
  blockSize: 0x34,
  dataSize: 0x38,
  dataOffset: 0x40,
  keyCount: 0x48,
  keyType: 0x4c,
  keyOffset: 0x50,
  keySize: 0x58,
} as const;
export const KEY_BLOB_AT = 0x60;
export const BLOB_FIELDS = {
  kdf: 0x00,
  iterations: 0x08,
  saltLen: 0x0c,
  ivSize: 0x30,
  wrapKeyBits: 0x54,
  wrapAlgorithm: 0x58,
  padding: 0x5c,
  mode: 0x60,
  wrappedSize: 0x64,
} as const;

/** `inner` encrypted as hdiutil does, under `password`. */
export function encryptImage(inner: Uint8Array, o: EncryptOptions = {}): Uint8Array {
  const password = o.password ?? "secret";
  const keyBits = o.keyBits ?? 256;
  const blockSize = o.blockSize ?? 4096;
  const iterations = o.iterations ?? 1000;
  const wrap = o.wrap ?? "3des";
  const aesKey = randomBytes(keyBits / 8);
  const hmacKey = randomBytes(20);
  const salt = randomBytes(20);
  const iv = randomBytes(8);
  const wrapKeyBytes = 24;
  const derived = pbkdf2Sync(password, salt, iterations, wrapKeyBytes, "sha1");
  const material = Buffer.concat([aesKey, hmacKey, Buffer.from("CKIE\0", "latin1")]);
  const wrapper =
    wrap === "3des"
      ? createCipheriv("des-ede3-cbc", derived, iv)
      : createCipheriv("aes-192-cbc", derived, Buffer.concat([iv, Buffer.alloc(8)]));
  const wrapped = Buffer.concat([wrapper.update(material), wrapper.final()]);
  const blobSize = 0x68 + 512;
  const headerEnd = KEY_BLOB_AT + blobSize;
  const dataOffset = Math.ceil(headerEnd / 512) * 512;
  const blocks = Math.ceil(inner.length / blockSize);
  const out = Buffer.alloc(dataOffset + blocks * blockSize);
  out.write("encrcdsa", 0, "latin1");
  out.writeUInt32BE(2, 0x08);
  out.writeUInt32BE(16, 0x0c);
  out.writeUInt32BE(5, 0x10);
  out.writeUInt32BE(0x80000001, 0x14);
  out.writeUInt32BE(keyBits, 0x18);
  out.writeUInt32BE(0x5b, 0x1c);
  out.writeUInt32BE(160, 0x20);
  randomBytes(16).copy(out, 0x24);
  out.writeUInt32BE(blockSize, 0x34);
  out.writeBigUInt64BE(BigInt(inner.length), 0x38);
  out.writeBigUInt64BE(BigInt(dataOffset), 0x40);
  out.writeUInt32BE(1, 0x48);
  out.writeUInt32BE(1, 0x4c);
  out.writeBigUInt64BE(BigInt(KEY_BLOB_AT), 0x50);
  out.writeBigUInt64BE(BigInt(blobSize), 0x58);
  const b = KEY_BLOB_AT;
  out.writeUInt32BE(103, b);
  out.writeUInt32BE(iterations, b + 0x08);
  out.writeUInt32BE(salt.length, b + 0x0c);
  salt.copy(out, b + 0x10);
  out.writeUInt32BE(iv.length, b + 0x30);
  iv.copy(out, b + 0x34);
  out.writeUInt32BE(wrap === "3des" ? 192 : 192, b + 0x54);
  out.writeUInt32BE(wrap === "3des" ? 17 : 0x80000001, b + 0x58);
  out.writeUInt32BE(7, b + 0x5c);
  out.writeUInt32BE(6, b + 0x60);
  out.writeUInt32BE(wrapped.length, b + 0x64);
  wrapped.copy(out, b + 0x68);
  for (let n = 0; n < blocks; n++) {
    const plain = Buffer.alloc(blockSize);
    plain.set(inner.subarray(n * blockSize, (n + 1) * blockSize));
    const num = Buffer.alloc(4);
    num.writeUInt32BE(n);
    const blockIv = createHmac("sha1", hmacKey).update(num).digest().subarray(0, 16);
    const c = createCipheriv(`aes-${keyBits}-cbc`, aesKey, blockIv);
    c.setAutoPadding(false);
    Buffer.concat([c.update(plain), c.final()]).copy(out, dataOffset + n * blockSize);
  }
  return new Uint8Array(out);
}

/** Offsets of the version 1 trailer's fields, from the trailer's start. */
export const V1_FIELDS = {
  iterations: 0x30,
  saltLen: 0x34,
  salt: 0x38,
  aesKeyLen: 0x88,
  aesKey: 0x8c,
  hmacKeyLen: 0x1b4,
  hmacKey: 0x1b8,
  integrityKeyLen: 0x2e4,
} as const;
export const V1_TRAILER_SIZE = 1276;
const V1_BLOCK = 4096;
const RFC3217_IV = Buffer.from("4adda22c79e82105", "hex");

/**
 * `image` (a UDIF file) padded to whole 4096-byte blocks by zeros before its koly trailer,
 * which stays last: a version 1 image holds whole blocks, and UDIF finds koly at the end.
 */
export function padUdifToBlocks(image: Uint8Array): Uint8Array {
  const size = Math.ceil(image.length / V1_BLOCK) * V1_BLOCK;
  const out = new Uint8Array(size);
  out.set(image.subarray(0, image.length - 512));
  out.set(image.subarray(image.length - 512), size - 512);
  return out;
}

/** RFC 3217-style wrap as version 1 images use it: four bytes, the key, two 3DES layers. */
function wrapV1(kek: Buffer, key: Buffer): Buffer {
  const iv = randomBytes(8);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(key.length * 8);
  const c1 = createCipheriv("des-ede3-cbc", kek, iv);
  const temp1 = Buffer.concat([c1.update(Buffer.concat([prefix, key])), c1.final()]);
  const temp2 = Buffer.concat([iv, temp1]).reverse();
  const c2 = createCipheriv("des-ede3-cbc", kek, RFC3217_IV);
  return Buffer.concat([c2.update(temp2), c2.final()]);
}

/**
 * `inner` (whole 4096-byte blocks) encrypted as a version 1 image: the blocks from offset 0,
 * then the 1276-byte "cdsaencr" trailer with the wrapped keys.
 */
export function encryptImageV1(
  inner: Uint8Array,
  o: { password?: string; iterations?: number; keyBits?: 128 | 256 } = {},
): Uint8Array {
  if (inner.length % V1_BLOCK !== 0) throw new Error("version 1 data is whole 4096-byte blocks");
  const aesKey = randomBytes((o.keyBits ?? 128) / 8);
  const hmacKey = randomBytes(20);
  const salt = randomBytes(20);
  const iterations = o.iterations ?? 1000;
  const kek = pbkdf2Sync(o.password ?? "secret", salt, iterations, 24, "sha1");
  const out = Buffer.alloc(inner.length + V1_TRAILER_SIZE);
  for (let n = 0; n < inner.length / V1_BLOCK; n++) {
    const num = Buffer.alloc(4);
    num.writeUInt32BE(n);
    const blockIv = createHmac("sha1", hmacKey).update(num).digest().subarray(0, 16);
    const c = createCipheriv(`aes-${aesKey.length * 8}-cbc`, aesKey, blockIv);
    c.setAutoPadding(false);
    const plain = inner.subarray(n * V1_BLOCK, (n + 1) * V1_BLOCK);
    Buffer.concat([c.update(plain), c.final()]).copy(out, n * V1_BLOCK);
  }
  const t = inner.length;
  out.writeUInt32BE(iterations, t + V1_FIELDS.iterations);
  out.writeUInt32BE(salt.length, t + V1_FIELDS.saltLen);
  salt.copy(out, t + V1_FIELDS.salt);
  const wa = wrapV1(kek, aesKey);
  out.writeUInt32BE(wa.length, t + V1_FIELDS.aesKeyLen);
  wa.copy(out, t + V1_FIELDS.aesKey);
  const wh = wrapV1(kek, hmacKey);
  out.writeUInt32BE(wh.length, t + V1_FIELDS.hmacKeyLen);
  wh.copy(out, t + V1_FIELDS.hmacKey);
  out.write("cdsaencr", out.length - 8, "latin1");
  return new Uint8Array(out);
}
