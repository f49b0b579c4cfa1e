/**
 * Builders of embedded code signatures for tests: blobs, superblobs, a CodeDirectory with one
 * page, and `sign()`, which inserts a signature (ad hoc, or with a CMS blob made over the
 * CodeDirectory by a callback) before an image's trailer, with the trailer's hash as Apple's
 * codesign makes it (codeSignatureLength zeroed).
 */
import { createHash } from "node:crypto";
import { openDmg, type SignatureOptions } from "../../src/index.js";

export function sha256(b: Uint8Array): Buffer {
  return createHash("sha256").update(b).digest();
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function blob(magic: number, payload: Uint8Array): Buffer {
  return Buffer.concat([u32(magic), u32(8 + payload.length), Buffer.from(payload)]);
}

export function superblob(slots: Array<[number, Uint8Array]>): Buffer {
  let off = 12 + slots.length * 8;
  const index: Buffer[] = [];
  for (const [type, b] of slots) {
    index.push(u32(type), u32(off));
    off += b.length;
  }
  return Buffer.concat([
    u32(0xfade0cc0),
    u32(off),
    u32(slots.length),
    ...index,
    ...slots.map((s) => Buffer.from(s[1])),
  ]);
}

export interface CdOptions {
  codeLimit: number;
  codeHash: Uint8Array;
  special: Map<number, Uint8Array>;
  ident?: string;
  flags?: number;
  hashType?: number;
  nCodeSlots?: number;
}

/** A version 0x20100 CodeDirectory, SHA-256, one page. */
export function codeDirectory(o: CdOptions): Buffer {
  const nSpecial = Math.max(0, ...o.special.keys());
  const ident = Buffer.from(`${o.ident ?? "test"}\0`);
  const header = 52;
  const identOffset = header;
  const hashOffset = identOffset + ident.length + nSpecial * 32;
  const specials: Buffer[] = [];
  for (let n = nSpecial; n >= 1; n--)
    specials.push(Buffer.from(o.special.get(n) ?? Buffer.alloc(32)));
  const h = Buffer.alloc(header);
  const len = hashOffset + 32;
  h.writeUInt32BE(0xfade0c02, 0);
  h.writeUInt32BE(len, 4);
  h.writeUInt32BE(0x20100, 8);
  h.writeUInt32BE(o.flags ?? 2, 12);
  h.writeUInt32BE(hashOffset, 16);
  h.writeUInt32BE(identOffset, 20);
  h.writeUInt32BE(nSpecial, 24);
  h.writeUInt32BE(o.nCodeSlots ?? 1, 28);
  h.writeUInt32BE(o.codeLimit, 32);
  h[36] = 32;
  h[37] = o.hashType ?? 2;
  return Buffer.concat([h, ident, ...specials, Buffer.from(o.codeHash)]);
}

/** The CMS blob's payload: bytes, or made from the CodeDirectory it signs. */
export type CmsMaker = Uint8Array | ((cd: Uint8Array) => Uint8Array);

/**
 * `image` with a signature of `cms` (empty: ad hoc) inserted before its trailer; `extra`
 * blobs (a stapled ticket) are added after the CMS blob; `tweak` changes the CodeDirectory's
 * options before it is built.
 */
export function sign(
  image: Uint8Array,
  cms: CmsMaker = new Uint8Array(0),
  ident = "test",
  extra: Array<[number, Uint8Array]> = [],
  tweak: (o: CdOptions) => void = () => {},
): Uint8Array {
  const kolyAt = image.length - 512;
  const data = image.subarray(0, kolyAt);
  const req = blob(0xfade0c01, u32(0));
  const trailer = Buffer.from(image.subarray(kolyAt));
  trailer.writeBigUInt64BE(BigInt(kolyAt), 296);
  trailer.writeBigUInt64BE(0n, 304);
  const adHoc = typeof cms !== "function" && cms.length === 0;
  const options: CdOptions = {
    codeLimit: kolyAt,
    codeHash: sha256(data),
    special: new Map([
      [2, sha256(req)],
      [6, sha256(trailer)],
    ]),
    ident,
    flags: adHoc ? 2 : 0,
  };
  tweak(options);
  const cd = codeDirectory(options);
  const payload = typeof cms === "function" ? cms(cd) : cms;
  const sb = superblob([[0, cd], [2, req], [0x10000, blob(0xfade0b01, payload)], ...extra]);
  trailer.writeBigUInt64BE(BigInt(sb.length), 304);
  return Buffer.concat([data, sb, trailer]);
}

/** The signature report of `file`. */
export async function report(file: Uint8Array, options?: SignatureOptions) {
  const img = await openDmg(file);
  try {
    return await img.signature(options);
  } finally {
    await img.close();
  }
}

export const codes = (r: { findings: { code: string }[] }) => r.findings.map((f) => f.code);
