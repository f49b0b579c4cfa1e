/**
 * The one error type the library raises, and the stable list of its codes.
 *
 * Every failure that reaches a caller is a {@link DmgError}. Any other exception escaping the
 * library is a bug: the CLI reports it as an internal error.
 */

/**
 * Stable error codes. Codes never change meaning once released; new ones may be added.
 * SECURITY.md lists each with the attack or real-world file it exists for.
 */
export const ErrorCodes = {
  // The file as a whole.
  NOT_UDIF: "Not a UDIF image (no koly trailer)",
  ENCRYPTED: "Encrypted image (encrcdsa)",
  SPARSE_MALFORMED: "A sparse image (sprs) header, band table or header chain is malformed",
  BUNDLE_MALFORMED: "A sparse bundle's Info.plist or bands folder is malformed or unsafe",
  PASSWORD_WRONG: "The password does not unlock the encrypted image",
  ENCRYPTED_HEADER: "The encrypted image's header or a key blob is malformed",
  ENCRYPTED_UNSUPPORTED:
    "The encrypted image uses a version, cipher or key derivation not supported",
  CIPHER_UNAVAILABLE: "A cipher the encrypted image needs is not available on this platform",
  TRUNCATED: "File or structure shorter than its format requires",
  IO_ERROR: "The source could not be read",
  // koly trailer.
  KOLY_VERSION: "koly version or header size not supported",
  KOLY_RANGE: "A fork range in the trailer lies outside the file or overlaps another",
  KOLY_SEGMENTED: "Image is one segment of a multi-segment set",
  SEGMENT_MISSING: "A part of a segmented set is missing",
  SEGMENT_DUPLICATE: "Two parts of a segmented set carry the same segment number",
  SEGMENT_ORDER:
    "A part of a segmented set is not at the position its number (or data fork offset) says",
  SEGMENT_FOREIGN: "A part belongs to another segmented set (another segment ID)",
  SEGMENT_TRUNCATED:
    "A part of a segmented set is shorter than its trailer says, or has lost its trailer",
  SEGMENT_COUNT: "Parts of a segmented set disagree on the number of parts, or there are more",
  CHECKSUM_TYPE: "Checksum struct with an unknown type or impossible bit count",
  FIELD_TOO_LARGE: "A 64-bit field is above 2^53-1 and cannot be used exactly",
  NO_PARTITION_MAP: "Neither an XML property list nor a resource fork describes the tables",
  // Property list and resource fork.
  PLIST_MALFORMED: "The XML property list is not well-formed",
  PLIST_DOCTYPE: "The XML property list declares entities (refused: entity expansion attack)",
  PLIST_STRUCTURE: "The property list lacks a required key or has a value of the wrong type",
  PLIST_BASE64: "A <data> element holds invalid base64",
  RSRC_MALFORMED: "The legacy resource fork is malformed",
  MAP_MISMATCH: "The XML property list and the resource fork describe different tables",
  // mish tables.
  MISH_MALFORMED: "A mish (blkx) table is malformed",
  TABLE_LAYOUT: "Partition tables overlap, leave gaps, or exceed the image",
  // Chunks.
  CHUNK_LAYOUT: "Chunks of a table are out of order, overlap, leave gaps, or overflow",
  CHUNK_RANGE: "A chunk's compressed range lies outside the data fork",
  CHUNK_LENGTH: "A chunk's compressed length is impossible for its type and sector count",
  CHUNK_TYPE_UNKNOWN: "Unknown chunk type code",
  CHUNK_TYPE_UNSUPPORTED: "Chunk type known but not yet decodable",
  CHUNK_TERMINATOR: "A table's terminator chunk is missing or not last, or a comment has sectors",
  // Payload decoding.
  DECODE_CORRUPT: "Compressed data is corrupt",
  DECODE_OVERRUN: "A chunk decodes to more bytes than its sector count declares",
  DECODE_SHORT: "A chunk decodes to fewer bytes than its sector count declares",
  DECODE_TRAILING: "Compressed data continues after the end of its stream",
  // Checksums (validation findings).
  CRC_DATA_FORK: "Data fork CRC32 does not match the trailer",
  CRC_TABLE: "A table's CRC32 does not match its decoded sectors",
  CRC_MASTER: "Master CRC32 does not match the tables' checksums",
  // Reads through the API.
  READ_RANGE: "Requested range lies outside the virtual disk",
  INVALID_ARGUMENT: "An argument passed to the library is invalid",
  ABORTED: "The operation was cancelled through its AbortSignal",
  // HTTP sources.
  HTTP_NO_RANGES: "The HTTP server ignores Range requests and the file is too large to buffer",
  HTTP_BAD_RESPONSE: "The HTTP server answered a range request with the wrong bytes or headers",
  HTTP_REDIRECTS: "Too many HTTP redirects, a redirect loop, or a redirect to a non-HTTP URL",
  SOURCE_CHANGED: "The remote file changed while it was being read",
  // Budgets: a distinct outcome from malformed input.
  BUDGET_PLIST_BYTES: "XML property list larger than the budget",
  BUDGET_RSRC_BYTES: "Resource fork larger than the budget",
  BUDGET_TABLES: "More partition tables than the budget",
  BUDGET_CHUNKS: "More chunks than the budget",
  BUDGET_CHUNK_COMPRESSED: "A chunk's compressed length exceeds the budget",
  BUDGET_CHUNK_SECTORS: "A chunk's sector count exceeds the budget",
  BUDGET_IMAGE_SIZE: "Virtual disk larger than the budget",
  BUDGET_WORKING_MEMORY: "Operation would exceed the working-memory budget",
  BUDGET_DECOMPRESSED: "Operation would produce more bytes than the budget",
  BUDGET_EXPANSION: "Operation would produce more bytes per byte of the image file than the budget",
  BUDGET_NAME_BYTES: "A name or string of the partition map is longer than the budget",
  BUDGET_SEGMENTS: "A segmented set has more parts than the budget",
  BUDGET_KDF_ITERATIONS: "An encrypted image asks for more PBKDF2 iterations than the budget",
  BUDGET_KEY_BLOBS: "An encrypted image has more key blobs than the budget",
  BUDGET_KEY_BLOB_BYTES: "A key blob of an encrypted image is larger than the budget",
  BUDGET_CRYPT_BLOCK: "An encrypted image's block size is larger than the budget",
  BUDGET_TIME: "Operation ran past its deadline (a timeout signal fired)",
  BUDGET_STDIN_BYTES: "Standard input is larger than the command line's --max-stdin-bytes",
  BUDGET_HTTP_REQUESTS: "An HTTP source made more requests than its maxRequests",
  BUDGET_HTTP_BYTES: "An HTTP source received more bytes than its maxBytes",
  // Partition map of the virtual disk.
  PARTMAP_MALFORMED: "The disk's partition map (GPT, APM or MBR) is malformed",
  GPT_CRC: "A GPT header's or partition entry array's CRC32 does not match",
  // Embedded code signature.
  CODESIGN_MALFORMED: "The embedded code signature (superblob or CodeDirectory) is malformed",
  CODESIGN_HASH: "A code signature hash does not match the bytes it covers",
  CODESIGN_TRAILER: "The code signature's hash of the koly trailer does not match it",
  CODESIGN_CMS: "The code signature's CMS blob is malformed or cannot be checked",
  CODESIGN_CMS_INVALID: "The code signature's CMS signature does not verify over its CodeDirectory",
  CODESIGN_UNTRUSTED: "The code signature's certificate chain reaches no trusted root",
  CODESIGN_EXPIRED: "A certificate of the code signature was not valid at the time checked",
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ErrorCodes;

/** Where in the image an error applies, beyond the file offset. */
export interface ErrorLocation {
  /** Index of the partition table (blkx entry), when the error belongs to one. */
  table?: number;
  /** Index of the chunk inside its table, when the error belongs to one. */
  chunk?: number;
}

/** True when `code` names a budget being exceeded rather than malformed input. */
export function isBudgetCode(code: ErrorCode | WarningCode): boolean {
  return code.startsWith("BUDGET_");
}

/**
 * The error the library raises for every failure.
 *
 * `code` is stable and listed in {@link ErrorCodes}; `offset` is the file offset the error
 * applies to (or -1 when it applies to no single place, such as a budget on a whole operation).
 */
export class DmgError extends Error {
  override readonly name = "DmgError";
  readonly code: ErrorCode;
  readonly offset: number;
  readonly table: number | undefined;
  readonly chunk: number | undefined;

  constructor(code: ErrorCode, message: string, offset = -1, where: ErrorLocation = {}) {
    super(message);
    this.code = code;
    this.offset = offset;
    this.table = where.table;
    this.chunk = where.chunk;
  }

  /** True when this error is a budget being exceeded. */
  get overBudget(): boolean {
    return isBudgetCode(this.code);
  }

  /** A copy located in a table and chunk (for errors raised below the layer that knows them). */
  locate(where: ErrorLocation, offset = this.offset): DmgError {
    const e = new DmgError(this.code, this.message, offset, {
      table: where.table ?? this.table,
      chunk: where.chunk ?? this.chunk,
    });
    return e;
  }
}

/** Shorthand used by parsers: throw a {@link DmgError}. */
export function fail(
  code: ErrorCode,
  message: string,
  offset = -1,
  where: ErrorLocation = {},
): never {
  throw new DmgError(code, message, offset, where);
}

/** Format a file offset for messages: decimal and hex. */
export function at(offset: number): string {
  return `${offset} (0x${offset.toString(16)})`;
}

/**
 * Stable warning codes: honest quirks of real files that are read, not refused, and reported.
 */
export const WarningCodes = {
  KOLY_AT_START: "koly trailer found at offset 0 instead of the end of the file",
  KOLY_IN_TAIL: "koly trailer found inside the last 515 bytes, not in the last 512",
  PLIST_LENGTH_OFF: "Declared XML length is a byte or two off the end of the property list",
  SECTOR_COUNT_MISMATCH: "Trailer sector count differs from the sum of the tables' sector counts",
  RSRC_XML_DISAGREE: "The resource fork and the XML property list describe different tables",
  CHECKSUM_UNKNOWN: "A checksum of an unknown type was not verified",
  CHECKSUM_ABSENT: "A checksum is absent (type 0) and was not verified",
  FINDINGS_DROPPED: "More findings than maxFindings: the rest were counted, not kept",
  NAME_MISLEADING: "The file's name says .dmg but it holds another kind of image (a sparse image)",
  // File systems inside the disk (src/inspect/fs): described, not refused.
  FS_MALFORMED: "A file system's superblock is inconsistent with itself or its partition",
  FS_CHECKSUM: "An APFS container superblock's Fletcher-64 checksum does not match",
  // Partition map of the virtual disk.
  PARTITION_OVERLAP: "Two partitions of the disk's partition map overlap",
  PARTITION_OUT_OF_RANGE:
    "A partition lies past the end of the disk or outside the map's usable area",
  GPT_BACKUP_MISMATCH: "The backup GPT header is missing, misplaced or disagrees with the primary",
  TABLE_PARTITION_MISMATCH:
    "A UDIF table named for a partition does not cover that partition of the disk's map",
  // Embedded code signature.
  CODESIGN_UNSIGNED: "The image has no embedded code signature",
} as const;

/** A stable warning code. */
export type WarningCode = keyof typeof WarningCodes;

/** One finding of a parse or a validation. */
export interface Finding {
  severity: "error" | "warning";
  code: ErrorCode | WarningCode;
  message: string;
  /** File offset the finding applies to, or -1. */
  offset: number;
  table?: number;
  chunk?: number;
}

/** A finding from a {@link DmgError}. */
export function errorFinding(e: DmgError): Finding {
  const f: Finding = { severity: "error", code: e.code, message: e.message, offset: e.offset };
  if (e.table !== undefined) f.table = e.table;
  if (e.chunk !== undefined) f.chunk = e.chunk;
  return f;
}

/** A warning finding. */
export function warning(
  code: WarningCode,
  message: string,
  offset = -1,
  where: ErrorLocation = {},
): Finding {
  const f: Finding = { severity: "warning", code, message, offset };
  if (where.table !== undefined) f.table = where.table;
  if (where.chunk !== undefined) f.chunk = where.chunk;
  return f;
}
