/**
 * Segmented sets for tests and fuzzing: a normal image (the repository's writer) cut into
 * parts as src/containers/segments/set.ts describes them. Each part is its slice of the data
 * fork followed by its own trailer (number, count, shared segment ID, running data fork
 * offset, the CRC32 of its slice); the first part also holds the resource fork and the XML.
 */
import { crc32 } from "../../src/bytes/crc32.js";
import { crc32Checksum } from "../../src/format/checksum.js";
import { KOLY_FIELD, KOLY_SIZE, parseKoly, serializeKoly } from "../../src/format/koly.js";

/** Options for {@link splitImage}. */
export interface SplitOptions {
  /** Segment ID of every part (32 hex digits); default: the image's own. */
  segmentId?: string;
}

/** Cut `image` (a single-file UDIF) into `count` parts; their data forks differ by <= 1 byte. */
export function splitImage(
  image: Uint8Array,
  count: number,
  options: SplitOptions = {},
): Uint8Array[] {
  const k = parseKoly(image.subarray(image.length - KOLY_SIZE), image.length - KOLY_SIZE);
  const { fileOffset: _, ...fields } = k;
  const data = image.subarray(k.dataForkOffset, k.dataForkOffset + k.dataForkLength);
  const segmentId = options.segmentId ?? k.segmentId;
  const parts: Uint8Array[] = [];
  let running = 0;
  for (let i = 0; i < count; i++) {
    const end = Math.round(((i + 1) * data.length) / count);
    const slice = data.subarray(running, end);
    let rsrc = new Uint8Array(0);
    let xml = new Uint8Array(0);
    if (i === 0) {
      rsrc = image.slice(k.rsrcForkOffset, k.rsrcForkOffset + k.rsrcForkLength);
      xml = image.slice(k.xmlOffset, Math.min(k.xmlOffset + k.xmlLength, image.length - KOLY_SIZE));
    }
    const trailer = serializeKoly({
      ...fields,
      runningDataForkOffset: running,
      dataForkOffset: 0,
      dataForkLength: slice.length,
      rsrcForkOffset: rsrc.length > 0 ? slice.length : 0,
      rsrcForkLength: rsrc.length,
      xmlOffset: xml.length > 0 ? slice.length + rsrc.length : 0,
      xmlLength: xml.length,
      segmentNumber: i + 1,
      segmentCount: count,
      segmentId,
      dataForkChecksum: crc32Checksum(crc32(slice)),
    });
    parts.push(concat([slice, rsrc, xml, trailer]));
    running = end;
  }
  return parts;
}

/** `part` with the u32 trailer field at `field` (a KOLY_FIELD offset) set to `value`. */
export function setTrailerU32(part: Uint8Array, field: number, value: number): Uint8Array {
  const out = part.slice();
  new DataView(out.buffer).setUint32(out.length - KOLY_SIZE + field, value >>> 0);
  return out;
}

/** `part` with the u64 trailer field at `field` set to `value`. */
export function setTrailerU64(part: Uint8Array, field: number, value: number): Uint8Array {
  const out = part.slice();
  new DataView(out.buffer).setBigUint64(out.length - KOLY_SIZE + field, BigInt(value));
  return out;
}

/** The file names of a set whose first part is `stem.dmg`. */
export function partNames(stem: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    i === 0 ? `${stem}.dmg` : `${stem}.${String(i + 1).padStart(3, "0")}.dmgpart`,
  );
}

export { KOLY_FIELD };

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
