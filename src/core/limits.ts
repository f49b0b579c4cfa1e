/**
 * Resource budgets. Each has a safe default (SECURITY.md gives the rationale), each can be
 * overridden, and each has its own error code when exceeded. {@link BUDGET_KEYS} is the one
 * table that drives the API, the CLI's flags and help, and the message of every budget error:
 * every check goes through {@link checkBudget} or {@link overBudget}.
 */
import { DmgError, type ErrorCode, type ErrorLocation, type WarningCode } from "./errors.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Limits on what opening, reading or validating one image may cost. */
export interface Budget {
  /** Largest XML property list read, in bytes. */
  maxPlistBytes: number;
  /** Largest legacy resource fork read, in bytes. */
  maxRsrcBytes: number;
  /** Most partition tables (blkx entries). */
  maxTables: number;
  /** Most chunks over all tables. */
  maxChunks: number;
  /** Largest compressed length of one chunk, in bytes. */
  maxChunkCompressedBytes: number;
  /** Most sectors in one chunk that needs decoding (zero and ignore chunks are exempt). */
  maxChunkSectors: number;
  /** Largest virtual disk, in bytes. */
  maxImageBytes: number;
  /** Most working memory (decoder state, buffers, caches) held at once, in bytes. */
  maxWorkingMemory: number;
  /**
   * Most bytes one operation (one read, one validation, one extract) may produce: bytes
   * decoded from compressed chunks, and zeros of zero and ignore chunks handed out as bytes
   * (not those written as holes or checksummed without being made).
   */
  maxDecompressedBytes: number;
  /**
   * Most bytes one operation may produce per byte of the image file, beyond
   * {@link Budget.expansionAllowance}: the output of any operation is then bounded by a linear
   * function of the input's size, whatever the payloads claim.
   */
  maxExpansionRatio: number;
  /** Bytes any operation may produce before {@link Budget.maxExpansionRatio} applies. */
  expansionAllowance: number;
  /** Most findings of each severity a report keeps (the rest are counted, not kept). */
  maxFindings: number;
  /** Longest name or other string of the property list or resource fork, in bytes. */
  maxNameBytes: number;
  /**
   * Most PBKDF2 iterations spent deriving the keys of an encrypted image (over all its
   * password key blobs tried).
   */
  maxKdfIterations: number;
  /** Most key blobs in an encrypted image's header. */
  maxKeyBlobs: number;
  /** Largest key blob of an encrypted image, in bytes. */
  maxKeyBlobBytes: number;
  /** Largest encryption block of an encrypted image, in bytes. */
  maxCryptBlockBytes: number;
  /** Most parts of a segmented set (each is a file to open). */
  maxSegments: number;
}

/** The defaults: generous for every honest image seen, small enough for an upload handler. */
export const DEFAULT_BUDGET: Readonly<Budget> = Object.freeze({
  maxPlistBytes: 128 * MiB,
  maxRsrcBytes: 128 * MiB,
  maxTables: 1024,
  maxChunks: 2_097_152,
  maxChunkCompressedBytes: 1 * GiB,
  maxChunkSectors: 2_097_152, // 1 GiB decoded; real images carry ~250 MB chunks
  maxImageBytes: 16 * 1024 * GiB,
  maxWorkingMemory: 32 * MiB,
  maxDecompressedBytes: 64 * GiB,
  // deflate cannot expand past 1032:1; the real images in corpus/ reach 118:1 over the file.
  maxExpansionRatio: 2048,
  expansionAllowance: 256 * MiB,
  maxFindings: 1000,
  // Real names are under 100 bytes ("Protective Master Boot Record (MBR : 0)").
  maxNameBytes: 1024,
  // hdiutil writes ~250,000 today (232,558 in corpus/real/), 1,000 in Mac OS X 10.4-era images.
  maxKdfIterations: 1_000_000,
  // Real images hold one password blob, sometimes a second (a recovery certificate).
  maxKeyBlobs: 16,
  // A password blob is 616 bytes; a certificate blob a few KB.
  maxKeyBlobBytes: 64 * KiB,
  // hdiutil writes 512 (v2) or 4096-byte blocks.
  maxCryptBlockBytes: 1 * MiB,
  // A 16 TiB disk on 4.7 GB DVDs is ~3,700 parts; each part costs an open file.
  maxSegments: 4096,
});

/** One budget: its key, the code it raises, its CLI flag, and words for messages and help. */
export interface BudgetSpec {
  key: keyof Budget;
  /** The error code it raises (a warning for maxFindings, which drops rather than fails). */
  code: ErrorCode | WarningCode;
  flag: string;
  /** What the value counts, for messages: "partition tables". */
  what: string;
  /** True when the value is a byte count (shown with units in help). */
  bytes: boolean;
}

/** Each budget with the error code it raises and the flag the CLI gives it. */
export const BUDGET_KEYS: ReadonlyArray<BudgetSpec> = [
  {
    key: "maxPlistBytes",
    code: "BUDGET_PLIST_BYTES",
    flag: "--max-plist-bytes",
    what: "bytes of XML property list",
    bytes: true,
  },
  {
    key: "maxRsrcBytes",
    code: "BUDGET_RSRC_BYTES",
    flag: "--max-rsrc-bytes",
    what: "bytes of resource fork",
    bytes: true,
  },
  {
    key: "maxTables",
    code: "BUDGET_TABLES",
    flag: "--max-tables",
    what: "partition tables",
    bytes: false,
  },
  { key: "maxChunks", code: "BUDGET_CHUNKS", flag: "--max-chunks", what: "chunks", bytes: false },
  {
    key: "maxChunkCompressedBytes",
    code: "BUDGET_CHUNK_COMPRESSED",
    flag: "--max-chunk-compressed-bytes",
    what: "compressed bytes in one chunk",
    bytes: true,
  },
  {
    key: "maxChunkSectors",
    code: "BUDGET_CHUNK_SECTORS",
    flag: "--max-chunk-sectors",
    what: "sectors in one chunk",
    bytes: false,
  },
  {
    key: "maxImageBytes",
    code: "BUDGET_IMAGE_SIZE",
    flag: "--max-image-bytes",
    what: "bytes of virtual disk",
    bytes: true,
  },
  {
    key: "maxWorkingMemory",
    code: "BUDGET_WORKING_MEMORY",
    flag: "--max-working-memory",
    what: "bytes of working memory",
    bytes: true,
  },
  {
    key: "maxDecompressedBytes",
    code: "BUDGET_DECOMPRESSED",
    flag: "--max-decompressed-bytes",
    what: "bytes produced by one operation",
    bytes: true,
  },
  {
    key: "maxExpansionRatio",
    code: "BUDGET_EXPANSION",
    flag: "--max-expansion-ratio",
    what: "bytes produced per byte of the image file",
    bytes: false,
  },
  {
    key: "expansionAllowance",
    code: "BUDGET_EXPANSION",
    flag: "--expansion-allowance",
    what: "bytes produced before the expansion ratio applies",
    bytes: true,
  },
  {
    key: "maxFindings",
    code: "FINDINGS_DROPPED",
    flag: "--max-findings",
    what: "findings of one severity kept in a report",
    bytes: false,
  },
  {
    key: "maxNameBytes",
    code: "BUDGET_NAME_BYTES",
    flag: "--max-name-bytes",
    what: "bytes in one name or string",
    bytes: true,
  },
  {
    key: "maxKdfIterations",
    code: "BUDGET_KDF_ITERATIONS",
    flag: "--max-kdf-iterations",
    what: "PBKDF2 iterations",
    bytes: false,
  },
  {
    key: "maxKeyBlobs",
    code: "BUDGET_KEY_BLOBS",
    flag: "--max-key-blobs",
    what: "key blobs",
    bytes: false,
  },
  {
    key: "maxKeyBlobBytes",
    code: "BUDGET_KEY_BLOB_BYTES",
    flag: "--max-key-blob-bytes",
    what: "bytes in one key blob",
    bytes: true,
  },
  {
    key: "maxCryptBlockBytes",
    code: "BUDGET_CRYPT_BLOCK",
    flag: "--max-crypt-block-bytes",
    what: "bytes in one encryption block",
    bytes: true,
  },
  {
    key: "maxSegments",
    code: "BUDGET_SEGMENTS",
    flag: "--max-segments",
    what: "parts of a segmented set",
    bytes: false,
  },
];

const SPECS = new Map(BUDGET_KEYS.map((s) => [s.key, s]));

/** The spec of budget `key`. */
export function budgetSpec(key: keyof Budget): BudgetSpec {
  return SPECS.get(key) as BudgetSpec;
}

/** Where a budget error applies, and what exceeded it (default: the spec's words). */
export interface BudgetSite extends ErrorLocation {
  offset?: number;
  /** What the value measures, when more precise than the spec's words: "table 3 chunk 7". */
  subject?: string;
}

/**
 * The error for `value` exceeding budget `key` (whose limit is `limit`): its code, and a
 * message naming the value, the limit and how to raise it, the same for every site.
 */
export function overBudget(
  key: keyof Budget,
  value: number | string,
  limit: number,
  site: BudgetSite = {},
): DmgError {
  const spec = budgetSpec(key);
  const code = spec.code as ErrorCode; // every budget but maxFindings, which never throws
  const subject = site.subject ? `${site.subject}: ` : "";
  return new DmgError(
    code,
    `${subject}${value} ${spec.what}; the budget allows ${limit} (raise ${key}, or ${spec.flag} on the command line)`,
    site.offset ?? -1,
    site,
  );
}

/** Throw {@link overBudget} when `value` is above `budget[key]`. */
export function checkBudget(
  budget: Readonly<Budget>,
  key: keyof Budget,
  value: number,
  site?: BudgetSite,
): void {
  if (value > budget[key]) throw overBudget(key, value, budget[key], site);
}

/**
 * Merge overrides into the defaults, refusing values that are not non-negative safe integers.
 * The overrides are read once, here: a getter that throws, or a value of the wrong type, is
 * INVALID_ARGUMENT, never the caller's own exception.
 */
export function resolveBudget(overrides: Partial<Budget> | undefined = {}): Budget {
  const out: Budget = { ...DEFAULT_BUDGET };
  if (overrides === undefined || overrides === null) return out;
  if (typeof overrides !== "object") {
    throw new DmgError("INVALID_ARGUMENT", "budget must be an object of numbers");
  }
  for (const { key } of BUDGET_KEYS) {
    let v: unknown;
    try {
      v = overrides[key];
    } catch (e) {
      throw new DmgError(
        "INVALID_ARGUMENT",
        `budget ${key} could not be read: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
      throw new DmgError("INVALID_ARGUMENT", `budget ${key} must be a non-negative integer`);
    }
    out[key] = v;
  }
  return Object.freeze(out) as Budget;
}

/**
 * Working-memory accounting. Decoders, caches and buffers acquire what they hold and release
 * it when done; acquiring past the limit raises BUDGET_WORKING_MEMORY before the allocation.
 */
export class MemoryMeter {
  used = 0;
  peak = 0;
  constructor(readonly limit: number) {}

  /** Account `bytes` about to be allocated for `what`; throws when over the limit. */
  acquire(bytes: number, what: string): void {
    if (this.used + bytes > this.limit) {
      throw overBudget("maxWorkingMemory", this.used + bytes, this.limit, {
        subject: `${what} needs ${bytes} bytes with ${this.used} in use`,
      });
    }
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }

  /**
   * Return bytes acquired earlier. Returning more than is held is a bug (a double release
   * would let later allocations pass the budget), so it throws a plain Error: an internal
   * error, never a DmgError.
   */
  release(bytes: number): void {
    if (!(bytes >= 0) || bytes > this.used) {
      throw new Error(
        `internal error: released ${bytes} bytes of working memory with ${this.used} held`,
      );
    }
    this.used -= bytes;
  }
}

/**
 * The most bytes one operation on an image of `sourceSize` bytes may produce: the absolute
 * budget, or the expansion allowance plus the ratio times the file size if that is less.
 */
export function outputLimit(budget: Readonly<Budget>, sourceSize: number): number {
  const scaled = budget.expansionAllowance + budget.maxExpansionRatio * sourceSize;
  return Math.min(budget.maxDecompressedBytes, Number.isSafeInteger(scaled) ? scaled : Infinity);
}

/**
 * Counts the bytes one operation produces (decoded, or zeros made) against
 * {@link outputLimit}: BUDGET_DECOMPRESSED when the absolute budget binds, BUDGET_EXPANSION
 * when the ratio to the file size does (attack class F31: a few KB of payloads describing
 * terabytes).
 */
export class DecompressMeter {
  total = 0;
  readonly limit: number;

  /**
   * @param budget the image's budget
   * @param sourceSize the image file's size (the ratio's base); omit for the absolute budget only
   */
  constructor(
    private readonly budget: Readonly<Budget>,
    private readonly sourceSize = Number.POSITIVE_INFINITY,
  ) {
    this.limit =
      sourceSize === Number.POSITIVE_INFINITY
        ? budget.maxDecompressedBytes
        : outputLimit(budget, sourceSize);
  }

  /**
   * How much of `want` bytes the operation may still produce: callers ask a decoder for no
   * more, so the budget is never overshot by a piece. Throws when nothing is left.
   */
  allow(want: number, offset = -1): number {
    const room = this.limit - this.total;
    if (want > 0 && room <= 0) this.over(offset);
    return Math.min(want, room);
  }

  /** Account `bytes` produced; throws when the operation's total passes the limit. */
  add(bytes: number, offset = -1): void {
    this.total += bytes;
    if (this.total > this.limit) this.over(offset);
  }

  private over(offset: number): never {
    const b = this.budget;
    if (this.limit === b.maxDecompressedBytes) {
      throw overBudget("maxDecompressedBytes", `more than ${this.limit}`, this.limit, { offset });
    }
    throw new DmgError(
      "BUDGET_EXPANSION",
      `operation would produce more than ${this.limit} bytes from a ${this.sourceSize}-byte image: the budget allows ${b.expansionAllowance} bytes plus ${b.maxExpansionRatio} per byte of the file (raise maxExpansionRatio or expansionAllowance, or --max-expansion-ratio / --expansion-allowance on the command line)`,
      offset,
    );
  }
}
