/**
 * Byte-level editing of built images for the mutators: trailer fields, mish blobs re-serialized
 * into the map (XML and/or resource fork) with everything else kept, the XML's <data> elements,
 * and the boundary values written into 64-bit fields.
 */
import { DEFAULT_BUDGET } from "../../src/core/limits.js";
import { CHECKSUM_CRC32, checksumCrc32 } from "../../src/format/checksum.js";
import { KOLY_FIELD, type Koly, parseKoly } from "../../src/format/koly.js";
import { parseMish } from "../../src/format/mish.js";
import { parsePlist } from "../../src/format/plist.js";
import { parseResourceFork } from "../../src/format/rsrc.js";
import { imageTail } from "../../src/write/layout.js";
import type { Built } from "./prop-build.js";

/** Offsets of the trailer's fields (UDIF-FORMAT.md). */
export const KOLY = KOLY_FIELD;

/** The trailer's 64-bit fields, by name. */
export const KOLY_U64 = [
  "runningDataForkOffset",
  "dataForkOffset",
  "dataForkLength",
  "rsrcForkOffset",
  "rsrcForkLength",
  "xmlOffset",
  "xmlLength",
  "codeSignatureOffset",
  "codeSignatureLength",
  "sectorCount",
] as const;

/** Offsets inside a mish blob: header fields, the checksum struct, and fields of an entry. */
export const MISH = { firstSector: 8, sectorCount: 16, dataOffset: 24, checksum: 64 } as const;
export const MISH_ENTRY = { sector: 8, sectorCount: 16, offset: 24, length: 32 } as const;
export const MISH_HEADER = 204;
export const MISH_ENTRY_SIZE = 40;

/** The trailer of a built image (the last 512 bytes). */
export function kolyOf(image: Uint8Array): Koly {
  return parseKoly(image.subarray(image.length - 512), image.length - 512);
}

/** Big-endian u64 at `at`. */
export function getU64(bytes: Uint8Array, at: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(at);
}

/** Write a big-endian u64 (taken modulo 2^64) at `at`, in place. */
export function setU64(bytes: Uint8Array, at: number, v: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setBigUint64(
    at,
    BigInt.asUintN(64, v),
  );
}

/** Write a big-endian u32 at `at`, in place. */
export function setU32(bytes: Uint8Array, at: number, v: number): void {
  new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setUint32(at, v >>> 0);
}

const TWO = 2n;

/**
 * The boundary values of a 64-bit field whose natural bound is `size` and whose value is `orig`:
 * 0, size, size+1, 2^53-1, 2^53+1, 2^63, 2^64-1, and the value itself and its neighbours.
 */
export function boundaryValues(size: number, orig: bigint): bigint[] {
  const s = BigInt(size);
  return [
    0n,
    s,
    s + 1n,
    TWO ** 53n - 1n,
    TWO ** 53n + 1n,
    TWO ** 63n,
    TWO ** 64n - 1n,
    orig > 0n ? orig - 1n : 0n,
    orig + 1n,
    orig,
  ];
}

/** A copy of the image with the u64 at `at` (from the trailer start) set to `v`. */
export function withKolyU64(image: Uint8Array, at: number, v: bigint): Uint8Array {
  const out = image.slice();
  setU64(out, out.length - 512 + at, v);
  return out;
}

/**
 * A copy of the image with its mish blobs edited by `patch` and the map re-serialized in the
 * image's layout. Names, IDs, attributes, the data fork, its checksum, the sector count and the
 * segment ID are kept, and so is the master checksum: it is computed over the tables' checksums
 * as they were before the patch (a hostile file would not fix it up either).
 */
export function rewriteTables(b: Built, patch: (mish: Uint8Array[]) => void): Uint8Array {
  const image = b.image;
  const koly = kolyOf(image);
  const map =
    b.spec.layout === "rsrc"
      ? parseResourceFork(
          image.subarray(koly.rsrcForkOffset, koly.rsrcForkOffset + koly.rsrcForkLength),
          koly.rsrcForkOffset,
          DEFAULT_BUDGET,
        )
      : parsePlist(
          image.subarray(koly.xmlOffset, koly.xmlOffset + koly.xmlLength),
          koly.xmlOffset,
          DEFAULT_BUDGET,
        );
  const blobs = map.blkx.map((r) => r.data.slice());
  const checksums = blobs.map((d, i) => parseMish(d, 0, { table: i }).checksum);
  patch(blobs);
  const tail = imageTail({
    tables: map.blkx.map((r, i) => ({
      name: r.name,
      id: r.id,
      attributes: r.attributes,
      cfName: r.cfName,
      mish: blobs[i],
      checksum: checksums[i],
    })),
    otherResources: map.other,
    layout: b.spec.layout,
    dataForkLength: koly.dataForkLength,
    dataForkCrc: checksumCrc32(koly.dataForkChecksum),
    masterChecksum: koly.masterChecksum.type === CHECKSUM_CRC32,
    sectorCount: koly.sectorCount,
    segmentId: koly.segmentId,
  });
  const out = new Uint8Array(koly.dataForkLength + tail.length);
  out.set(image.subarray(0, koly.dataForkLength));
  out.set(tail, koly.dataForkLength);
  return out;
}

/** The [start, end) string indexes of the text of each <data> element of an XML text. */
export function dataElements(xml: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let from = 0;
  for (;;) {
    const open = xml.indexOf("<data>", from);
    if (open < 0) return out;
    const close = xml.indexOf("</data>", open);
    out.push([open + 6, close]);
    from = close;
  }
}

/** The indexes of the base64 digits (not whitespace) in `xml[start, end)`. */
export function digitIndexes(xml: string, [start, end]: [number, number]): number[] {
  const out: number[] = [];
  for (let i = start; i < end; i++) if (!/\s/.test(xml[i])) out.push(i);
  return out;
}

/** Pick an element of a non-empty list by a generated natural number. */
export function pick<T>(list: readonly T[], n: number): T {
  return list[n % list.length];
}
