/**
 * The koly trailer: 512 bytes, normally the last of the file, that point at everything else.
 */
import { Cursor, Writer } from "../bytes/cursor.js";
import { at, DmgError } from "../core/errors.js";
import { type Checksum, readChecksum, writeChecksum } from "./checksum.js";

export const KOLY_SIZE = 512;
export const KOLY_MAGIC = "koly";
export const KOLY_VERSION = 4;

/**
 * Where each field of the trailer lies, from its start: the one table of these offsets, used
 * by the parser's error offsets, the writer, the tests and the fuzz harnesses.
 */
export const KOLY_FIELD = Object.freeze({
  signature: 0,
  version: 4,
  headerSize: 8,
  flags: 12,
  runningDataForkOffset: 16,
  dataForkOffset: 24,
  dataForkLength: 32,
  rsrcForkOffset: 40,
  rsrcForkLength: 48,
  segmentNumber: 56,
  segmentCount: 60,
  segmentId: 64,
  dataForkChecksum: 80,
  xmlOffset: 216,
  xmlLength: 224,
  codeSignatureOffset: 296,
  codeSignatureLength: 304,
  masterChecksum: 352,
  imageVariant: 488,
  sectorCount: 492,
});

/** How many bytes a declared XML length may run past the space before the trailer. */
export const XML_LENGTH_SLACK = 2;

/** Flags bits. */
export const KOLY_FLAG_FLATTENED = 1;
export const KOLY_FLAG_INTERNET_ENABLED = 4;

/** The fields of a koly trailer. Offsets are file offsets; 64-bit fields are checked to be <= 2^53-1. */
export interface Koly {
  /** Where the trailer was found in the file. */
  fileOffset: number;
  version: number;
  headerSize: number;
  flags: number;
  runningDataForkOffset: number;
  dataForkOffset: number;
  dataForkLength: number;
  rsrcForkOffset: number;
  rsrcForkLength: number;
  segmentNumber: number;
  segmentCount: number;
  /** Segment UUID as 32 hex digits. */
  segmentId: string;
  dataForkChecksum: Checksum;
  xmlOffset: number;
  xmlLength: number;
  codeSignatureOffset: number;
  codeSignatureLength: number;
  masterChecksum: Checksum;
  /** 1 = device image, 2 = partition image. */
  imageVariant: number;
  /** Virtual disk size in 512-byte sectors, as the trailer states it. */
  sectorCount: number;
}

/** True when `bytes` at `pos` spell `koly`. */
export function isKolyAt(bytes: Uint8Array, pos: number): boolean {
  return (
    pos >= 0 &&
    pos + 4 <= bytes.length &&
    bytes[pos] === 0x6b &&
    bytes[pos + 1] === 0x6f &&
    bytes[pos + 2] === 0x6c &&
    bytes[pos + 3] === 0x79
  );
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Parse the 512 trailer bytes found at `fileOffset`. Checks the fields on their own; {@link checkKolyRanges} checks them against the file. */
export function parseKoly(bytes: Uint8Array, fileOffset: number): Koly {
  const c = new Cursor(bytes, fileOffset, "koly trailer");
  if (c.tag() !== KOLY_MAGIC) {
    throw new DmgError("NOT_UDIF", `no koly signature at ${at(fileOffset)}`, fileOffset);
  }
  const version = c.u32();
  const headerSize = c.u32();
  // Attack class A3: other versions or sizes describe a layout this parser does not know.
  if (version !== KOLY_VERSION || headerSize !== KOLY_SIZE) {
    throw new DmgError(
      "KOLY_VERSION",
      `koly at ${at(fileOffset)} has version ${version} and header size ${headerSize}; only version 4 with 512 bytes is known`,
      fileOffset + 4,
    );
  }
  const k: Koly = {
    fileOffset,
    version,
    headerSize,
    flags: c.u32(),
    runningDataForkOffset: c.u64("running data fork offset"),
    dataForkOffset: c.u64("data fork offset"),
    dataForkLength: c.u64("data fork length"),
    rsrcForkOffset: c.u64("resource fork offset"),
    rsrcForkLength: c.u64("resource fork length"),
    segmentNumber: c.u32(),
    segmentCount: c.u32(),
    segmentId: hex(c.bytesN(16)),
    dataForkChecksum: readChecksum(c, "data fork"),
    xmlOffset: c.u64("XML offset"),
    xmlLength: c.u64("XML length"),
    codeSignatureOffset: 0,
    codeSignatureLength: 0,
    masterChecksum: { type: 0, bits: 0, value: new Uint8Array(0) },
    imageVariant: 0,
    sectorCount: 0,
  };
  c.skip(64);
  // The code signature fields are not used to read the disk; an out-of-range value there
  // must not make an otherwise readable image unreadable, so they are read as bigints.
  k.codeSignatureOffset = safeOrZero(c.u64big());
  k.codeSignatureLength = safeOrZero(c.u64big());
  c.skip(40);
  k.masterChecksum = readChecksum(c, "master");
  k.imageVariant = c.u32();
  k.sectorCount = c.u64("sector count");
  return k;
}

function safeOrZero(v: bigint): number {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : 0;
}

/**
 * Check the trailer's ranges against the file: every fork inside the file and before the
 * trailer, and the forks not overlapping each other (attack class A4).
 */
export function checkKolyRanges(k: Koly, fileSize: number): void {
  const trailerStart = k.fileOffset;
  const end = k.fileOffset === 0 ? fileSize : trailerStart;
  const begin = k.fileOffset === 0 ? KOLY_SIZE : 0;
  const ranges: Array<[string, number, number, number]> = [
    ["data fork", k.dataForkOffset, k.dataForkLength, trailerStart + KOLY_FIELD.dataForkOffset],
    ["resource fork", k.rsrcForkOffset, k.rsrcForkLength, trailerStart + KOLY_FIELD.rsrcForkOffset],
    ["XML property list", k.xmlOffset, k.xmlLength, trailerStart + KOLY_FIELD.xmlOffset],
  ];
  for (const [name, off, len, fieldAt] of ranges) {
    if (len === 0) continue;
    // Real files declare an XML length a byte or two long; the reader stops at </plist>.
    const slack = name === "XML property list" ? XML_LENGTH_SLACK : 0;
    // Sums stay exact: both terms are <= 2^53-1 and compared, not used as offsets, when large.
    if (off < begin || off + len > end + slack) {
      throw new DmgError(
        "KOLY_RANGE",
        `${name} range [${off}, ${off + len}) in the trailer lies outside the file's ${begin}..${end} (file size ${fileSize})${off + len > end ? "; the file may be truncated (an incomplete download or copy)" : ""}`,
        fieldAt,
      );
    }
  }
  // Forks must not overlap each other: a plist inside the data fork is how hostile files alias
  // one structure as another.
  const present = ranges.filter((r) => r[2] > 0);
  const xml = present.find((r) => r[0] === "XML property list");
  if (xml) xml[2] = Math.min(xml[2], end - xml[1]);
  for (let i = 0; i < present.length; i++) {
    for (let j = i + 1; j < present.length; j++) {
      const [an, ao, al] = present[i];
      const [bn, bo, bl, bat] = present[j];
      if (ao < bo + bl && bo < ao + al) {
        throw new DmgError(
          "KOLY_RANGE",
          `${an} [${ao}, ${ao + al}) overlaps ${bn} [${bo}, ${bo + bl})`,
          bat,
        );
      }
    }
  }
  // Attack class A6: one segment of a .dmgpart set holds only part of the data fork.
  if (k.segmentCount > 1) {
    throw new DmgError(
      "KOLY_SEGMENTED",
      `image is segment ${k.segmentNumber} of ${k.segmentCount}; multi-segment sets are not supported`,
      trailerStart + KOLY_FIELD.segmentNumber,
    );
  }
}

/** Serialize a trailer (the writer's side). `fileOffset` is ignored. */
export function serializeKoly(k: Omit<Koly, "fileOffset">): Uint8Array {
  const w = new Writer(KOLY_SIZE);
  w.tag(KOLY_MAGIC).u32(k.version).u32(k.headerSize).u32(k.flags);
  w.u64(k.runningDataForkOffset).u64(k.dataForkOffset).u64(k.dataForkLength);
  w.u64(k.rsrcForkOffset).u64(k.rsrcForkLength);
  w.u32(k.segmentNumber).u32(k.segmentCount);
  const id = new Uint8Array(16);
  for (let i = 0; i < 16; i++)
    id[i] = Number.parseInt(k.segmentId.slice(i * 2, i * 2 + 2), 16) || 0;
  w.bytes(id);
  writeChecksum(w, k.dataForkChecksum);
  w.u64(k.xmlOffset).u64(k.xmlLength).zeros(64);
  w.u64(k.codeSignatureOffset).u64(k.codeSignatureLength).zeros(40);
  writeChecksum(w, k.masterChecksum);
  w.u32(k.imageVariant).u64(k.sectorCount).zeros(12);
  return w.finish();
}
