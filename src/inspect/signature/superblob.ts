/**
 * The embedded code signature of a DMG: a superblob (magic 0xfade0cc0) that the koly fields
 * codeSignatureOffset/codeSignatureLength point at, holding an index of (slot type, offset)
 * pairs, each pointing at a blob (magic, length, payload) inside the superblob.
 */
import { Cursor } from "../../bytes/cursor.js";
import { at, DmgError } from "../../core/errors.js";

/** Blob magics (big-endian). */
export const CSMAGIC = Object.freeze({
  embeddedSignature: 0xfade0cc0,
  codeDirectory: 0xfade0c02,
  requirements: 0xfade0c01,
  entitlements: 0xfade7171,
  entitlementsDer: 0xfade7172,
  blobWrapper: 0xfade0b01,
});

/** Slot types of the superblob's index. */
export const CSSLOT = Object.freeze({
  codeDirectory: 0,
  info: 1,
  requirements: 2,
  resourceDir: 3,
  application: 4,
  entitlements: 5,
  repSpecific: 6,
  entitlementsDer: 7,
  alternateCodeDirectoryFirst: 0x1000,
  alternateCodeDirectoryLast: 0x1004,
  signature: 0x10000,
  ticket: 0x10002,
});

/** Size of the superblob header (magic, length, count) and of one index entry. */
export const SUPERBLOB_HEADER = 12;
export const SUPERBLOB_ENTRY = 8;
/** Size of a blob header (magic, length). */
export const BLOB_HEADER = 8;

/**
 * The largest superblob read. Apple's codesign writes a few hundred bytes ad hoc and a few
 * tens of KiB with a certificate chain and a stapled ticket; a declared length of gigabytes is
 * an allocation attack, refused before any read.
 */
export const MAX_SUPERBLOB_BYTES = 4 * 1024 * 1024;
/**
 * The most index entries. Real signatures hold three to seven; a count of 2^32-1 would make
 * the parser walk billions of entries (a CPU attack) even if their bytes were absent.
 */
export const MAX_SUPERBLOB_SLOTS = 64;

/** One blob of the superblob. */
export interface Blob {
  /** Slot type from the index. */
  type: number;
  /** Offset from the start of the superblob. */
  offset: number;
  magic: number;
  /** Length of the blob, header included. */
  length: number;
  /** The whole blob, header included (a view into the superblob's bytes). */
  bytes: Uint8Array;
}

/** A parsed superblob. */
export interface Superblob {
  /** File offset of the superblob. */
  fileOffset: number;
  length: number;
  blobs: Blob[];
}

function malformed(message: string, offset: number): DmgError {
  return new DmgError("CODESIGN_MALFORMED", message, offset);
}

/**
 * Parse the superblob held by `bytes` (found at file offset `fileOffset`). Checks the
 * header, the index and each blob's bounds; the caller checks where it lies in the file.
 *
 * @throws DmgError CODESIGN_MALFORMED for any field that does not hold
 */
export function parseSuperblob(bytes: Uint8Array, fileOffset: number): Superblob {
  const c = new Cursor(bytes, fileOffset, "code signature superblob", "CODESIGN_MALFORMED");
  const magic = c.u32();
  if (magic !== CSMAGIC.embeddedSignature) {
    throw malformed(
      `code signature at ${at(fileOffset)} has magic 0x${magic.toString(16)}, not 0xfade0cc0 (an embedded signature)`,
      fileOffset,
    );
  }
  const length = c.u32();
  const count = c.u32();
  // A length longer than the bytes the trailer gives would read past them (into the trailer).
  if (length < SUPERBLOB_HEADER || length > bytes.length) {
    throw malformed(
      `code signature superblob declares ${length} bytes; the trailer gives it ${bytes.length}`,
      fileOffset + 4,
    );
  }
  // A huge count is a CPU attack; an index longer than the blob reads past it.
  if (count > MAX_SUPERBLOB_SLOTS || SUPERBLOB_HEADER + count * SUPERBLOB_ENTRY > length) {
    throw malformed(
      `code signature superblob declares ${count} slots in ${length} bytes (at most ${MAX_SUPERBLOB_SLOTS}, 8 bytes each)`,
      fileOffset + 8,
    );
  }
  const indexEnd = SUPERBLOB_HEADER + count * SUPERBLOB_ENTRY;
  const blobs: Blob[] = [];
  for (let i = 0; i < count; i++) {
    const entryAt = fileOffset + c.pos;
    const type = c.u32();
    const offset = c.u32();
    blobs.push(readBlob(bytes, fileOffset, length, indexEnd, type, offset, entryAt));
  }
  checkSlots(blobs, fileOffset);
  return { fileOffset, length, blobs };
}

function readBlob(
  bytes: Uint8Array,
  fileOffset: number,
  length: number,
  indexEnd: number,
  type: number,
  offset: number,
  entryAt: number,
): Blob {
  // A blob pointing into the header or index, or past the end, would be read from the wrong
  // bytes (or none): slot offsets must land after the index and leave room for a header.
  if (offset < indexEnd || offset + BLOB_HEADER > length) {
    throw malformed(
      `code signature slot 0x${type.toString(16)} points at ${offset}, outside the blobs (${indexEnd} to ${length})`,
      entryAt + 4,
    );
  }
  const c = new Cursor(bytes, fileOffset, "code signature blob", "CODESIGN_MALFORMED");
  c.pos = offset;
  const magic = c.u32();
  const blobLength = c.u32();
  // A blob running past its superblob would take its bytes from the trailer or beyond.
  if (blobLength < BLOB_HEADER || offset + blobLength > length) {
    throw malformed(
      `code signature blob at ${at(fileOffset + offset)} declares ${blobLength} bytes; ${length - offset} remain in the superblob`,
      fileOffset + offset + 4,
    );
  }
  return {
    type,
    offset,
    magic,
    length: blobLength,
    bytes: bytes.subarray(offset, offset + blobLength),
  };
}

/**
 * Two slots of one type would let a checker and a verifier read different blobs; two blobs
 * sharing bytes let one edit change both (a confusion attack on parsers that check one).
 */
function checkSlots(blobs: Blob[], fileOffset: number): void {
  const types = new Set<number>();
  for (const b of blobs) {
    if (types.has(b.type)) {
      throw malformed(
        `code signature has two slots of type 0x${b.type.toString(16)}`,
        fileOffset + b.offset,
      );
    }
    types.add(b.type);
  }
  const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].offset < prev.offset + prev.length) {
      throw malformed(
        `code signature blobs of slots 0x${prev.type.toString(16)} and 0x${sorted[i].type.toString(16)} overlap`,
        fileOffset + sorted[i].offset,
      );
    }
  }
}

/** The blob of slot `type`, if present. */
export function blobOf(sb: Superblob, type: number): Blob | undefined {
  return sb.blobs.find((b) => b.type === type);
}
