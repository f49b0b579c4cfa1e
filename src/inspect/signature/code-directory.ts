/**
 * The CodeDirectory blob (magic 0xfade0c02): what a code signature signs. It lists a hash of
 * each page of the signed bytes (code slots) and of the other blobs (special slots, at
 * negative indices), the identifier, and for later versions the team ID and a 64-bit limit.
 */
import { Cursor } from "../../bytes/cursor.js";
import { DmgError } from "../../core/errors.js";
import { CSMAGIC } from "./superblob.js";

/** Hash types, with the size of each hash. */
export const HASH_TYPES: Readonly<Record<number, { name: string; size: number }>> = Object.freeze({
  1: { name: "SHA-1", size: 20 },
  2: { name: "SHA-256", size: 32 },
  3: { name: "SHA-256 (truncated)", size: 20 },
  4: { name: "SHA-384", size: 48 },
});

/** Versions that add fields. */
export const CD_VERSION_SCATTER = 0x20100;
export const CD_VERSION_TEAM = 0x20200;
export const CD_VERSION_CODELIMIT64 = 0x20300;
/** The oldest version known (earlier ones lack fields the layout depends on). */
export const CD_VERSION_EARLIEST = 0x20001;

/** CodeDirectory flag: signed without an identity (ad hoc). */
export const CS_ADHOC = 0x2;

/**
 * Most special slots. Apple defines seven (through DER entitlements); a count of millions
 * would read the hashes before the directory from outside it.
 */
export const MAX_SPECIAL_SLOTS = 64;

/** Largest identifier or team ID read, in bytes. */
export const MAX_IDENT_BYTES = 1024;

/** A parsed CodeDirectory. */
export interface CodeDirectory {
  version: number;
  flags: number;
  hashOffset: number;
  identOffset: number;
  nSpecialSlots: number;
  nCodeSlots: number;
  /** The limit of the signed bytes (codeLimit64 when the version has it and it is set). */
  codeLimit: number;
  hashSize: number;
  hashType: number;
  platform: number;
  /** log2 of the page size; 0: the signed bytes are one page. */
  pageSizeLog2: number;
  identifier: string;
  teamId?: string;
  /** The whole blob, header included (its hash is the cdhash). */
  bytes: Uint8Array;
}

function malformed(message: string, offset: number): DmgError {
  return new DmgError("CODESIGN_MALFORMED", message, offset);
}

/** A NUL-terminated string at `offset` of `bytes`, at most MAX_IDENT_BYTES long. */
function cString(bytes: Uint8Array, offset: number, base: number, what: string): string {
  // A string without its NUL would run to the end of the blob, or past it.
  const end = Math.min(bytes.length, offset + MAX_IDENT_BYTES + 1);
  let i = offset;
  while (i < end && bytes[i] !== 0) i++;
  if (i >= end) {
    throw malformed(`code directory ${what} at ${offset} has no terminating NUL`, base + offset);
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(offset, i));
}

/**
 * Parse the CodeDirectory blob `bytes` (found at file offset `base`). Every offset is checked
 * to lie inside the blob and the hash table to fit in it.
 *
 * @throws DmgError CODESIGN_MALFORMED
 */
export function parseCodeDirectory(bytes: Uint8Array, base: number): CodeDirectory {
  const c = new Cursor(bytes, base, "code directory", "CODESIGN_MALFORMED");
  const magic = c.u32();
  if (magic !== CSMAGIC.codeDirectory) {
    throw malformed(
      `code directory slot holds magic 0x${magic.toString(16)}, not 0xfade0c02`,
      base,
    );
  }
  const length = c.u32();
  if (length !== bytes.length) {
    throw malformed(
      `code directory declares ${length} bytes, its blob has ${bytes.length}`,
      base + 4,
    );
  }
  const version = c.u32();
  const flags = c.u32();
  const hashOffset = c.u32();
  const identOffset = c.u32();
  const nSpecialSlots = c.u32();
  const nCodeSlots = c.u32();
  let codeLimit = c.u32();
  const hashSize = c.u8();
  const hashType = c.u8();
  const platform = c.u8();
  const pageSizeLog2 = c.u8();
  c.u32(); // spare2
  // Versions before 0x20001 have another layout; later major versions are unknown.
  if (version < CD_VERSION_EARLIEST || version >= 0x30000) {
    throw malformed(`code directory version 0x${version.toString(16)} is not known`, base + 8);
  }
  let teamOffset = 0;
  if (version >= CD_VERSION_SCATTER) c.u32(); // scatterOffset: unused by disk images
  if (version >= CD_VERSION_TEAM) teamOffset = c.u32();
  if (version >= CD_VERSION_CODELIMIT64) {
    c.u32(); // spare3
    const limitAt = c.offset;
    const limit64 = c.u64big();
    // A limit past 2^53 cannot be a byte count of this file; it is the signature's fault, a
    // finding like every other (the cursor's FIELD_TOO_LARGE left signature() as an error).
    if (limit64 > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw malformed(
        `code directory code limit 0x${limit64.toString(16)} is above 2^53-1`,
        limitAt,
      );
    }
    if (limit64 !== 0n) codeLimit = Number(limit64);
  }
  const headerEnd = c.pos;
  // An unknown hash type cannot be checked; a size that is not the type's would read hashes
  // of the wrong width (and a verifier comparing prefixes would accept truncated ones).
  const known = HASH_TYPES[hashType];
  if (!known || known.size !== hashSize) {
    throw malformed(
      `code directory hash type ${hashType} with ${hashSize}-byte hashes is not known`,
      base + 37,
    );
  }
  // Page sizes past 2^31 cannot be real; shifts by them overflow.
  if (pageSizeLog2 > 31) {
    throw malformed(`code directory page size 2^${pageSizeLog2} is not possible`, base + 39);
  }
  if (nSpecialSlots > MAX_SPECIAL_SLOTS) {
    throw malformed(
      `code directory declares ${nSpecialSlots} special slots (at most ${MAX_SPECIAL_SLOTS})`,
      base + 24,
    );
  }
  // The hash table (special slots before hashOffset, code slots after) must lie in the blob,
  // after the fixed fields: else hashes are read from the header or past the blob.
  const specialBytes = nSpecialSlots * hashSize;
  if (hashOffset < headerEnd + specialBytes || hashOffset + nCodeSlots * hashSize > length) {
    throw malformed(
      `code directory hashes (${nSpecialSlots} special and ${nCodeSlots} code slots of ${hashSize} bytes at ${hashOffset}) do not fit in its ${length} bytes`,
      base + 16,
    );
  }
  if (identOffset < headerEnd || identOffset >= length) {
    throw malformed(`code directory identifier offset ${identOffset} lies outside it`, base + 20);
  }
  const identifier = cString(bytes, identOffset, base, "identifier");
  let teamId: string | undefined;
  if (teamOffset !== 0) {
    if (teamOffset < headerEnd || teamOffset >= length) {
      throw malformed(`code directory team ID offset ${teamOffset} lies outside it`, base + 48);
    }
    teamId = cString(bytes, teamOffset, base, "team ID");
  }
  const cd: CodeDirectory = {
    version,
    flags,
    hashOffset,
    identOffset,
    nSpecialSlots,
    nCodeSlots,
    codeLimit,
    hashSize,
    hashType,
    platform,
    pageSizeLog2,
    identifier,
    bytes,
  };
  if (teamId !== undefined) cd.teamId = teamId;
  return cd;
}

/** The stored hash of code slot `i` (0-based) or special slot `-n` (negative). */
export function slotHash(cd: CodeDirectory, slot: number): Uint8Array {
  const start = cd.hashOffset + slot * cd.hashSize;
  return cd.bytes.subarray(start, start + cd.hashSize);
}

/** True when special slot `n` (1-based) holds a hash that is not all zero. */
export function hasSpecial(cd: CodeDirectory, n: number): boolean {
  if (n > cd.nSpecialSlots) return false;
  return slotHash(cd, -n).some((b) => b !== 0);
}
