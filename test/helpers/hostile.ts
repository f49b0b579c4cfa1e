/** Building blocks for hostile images: patch a valid image's trailer, swap its XML. */
import { deflateSync } from "node:zlib";
import { KOLY_FIELD } from "../../src/format/koly.js";
import { UDZE, UDZO } from "../../src/format/types.js";
import { buildDmg, type ChunkModel, type ImageModel } from "../../src/write/model.js";

/** Deterministic bytes: text-like, compressible, never all zero. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 0x61 + ((x >>> 16) % 26);
  }
  return out;
}

/** A zlib chunk model of `sectors` sectors of pattern data (its decoded bytes alongside). */
export function zlibChunk(sectors: number, seed = 1): { chunk: ChunkModel; data: Uint8Array } {
  const data = pattern(sectors * 512, seed);
  return { chunk: { type: UDZO, sectors, payload: new Uint8Array(deflateSync(data)) }, data };
}

/** A small valid image model: one table, two zlib chunks and a zero chunk. */
export function smallModel(): ImageModel {
  const a = zlibChunk(4, 1);
  const b = zlibChunk(3, 2);
  const decoded = new Uint8Array(9 * 512);
  decoded.set(a.data, 0);
  decoded.set(b.data, 4 * 512);
  return {
    tables: [
      {
        name: "whole disk (Apple_HFS : 0)",
        chunks: [a.chunk, b.chunk, { type: UDZE, sectors: 2 }],
        decoded,
      },
    ],
  };
}

/** The bytes of smallModel() and its decoded disk. */
export function smallImage(): { image: Uint8Array; disk: Uint8Array } {
  const model = smallModel();
  return { image: buildDmg(model), disk: model.tables[0].decoded! };
}

/** Offset of the trailer in an image built with the trailer last. */
export function kolyOffset(image: Uint8Array): number {
  return image.length - 512;
}

/** Copy of `image` with a big-endian field of the trailer replaced. */
export function patchKoly(
  image: Uint8Array,
  field: number,
  value: number | bigint,
  size: 4 | 8 = 8,
): Uint8Array {
  const out = image.slice();
  const view = new DataView(out.buffer);
  const at = kolyOffset(out) + field;
  if (size === 8) view.setBigUint64(at, BigInt(value));
  else view.setUint32(at, Number(value));
  return out;
}

/** Read a big-endian u64 field of the trailer. */
export function kolyField(image: Uint8Array, field: number): number {
  return Number(
    new DataView(image.buffer, image.byteOffset).getBigUint64(kolyOffset(image) + field),
  );
}

/** Copy of an image (XML layout, XML right before the trailer) with its XML replaced. */
export function withXml(image: Uint8Array, xml: Uint8Array | string): Uint8Array {
  const bytes = typeof xml === "string" ? new TextEncoder().encode(xml) : xml;
  const xmlOffset = kolyField(image, KOLY_FIELD.xmlOffset);
  const koly = image.slice(kolyOffset(image));
  const out = new Uint8Array(xmlOffset + bytes.length + 512);
  out.set(image.subarray(0, xmlOffset), 0);
  out.set(bytes, xmlOffset);
  out.set(koly, xmlOffset + bytes.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(xmlOffset + bytes.length + KOLY_FIELD.xmlLength, BigInt(bytes.length));
  return out;
}

/** The XML of an image, as text. */
export function xmlOf(image: Uint8Array): string {
  const off = kolyField(image, KOLY_FIELD.xmlOffset);
  const len = kolyField(image, KOLY_FIELD.xmlLength);
  return new TextDecoder().decode(image.subarray(off, off + len));
}
