/**
 * Resource budgets. Each has a safe default (SECURITY.md gives the rationale), each can be
 * overridden, and each has its own error code when exceeded.
 */
import { DmgError, type ErrorCode } from "./errors.js";

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
  /** Most bytes decompressed by one operation (one read, one validation, one extract). */
  maxDecompressedBytes: number;
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
});

/** Each budget with the error code it raises and the flag the CLI gives it. */
export const BUDGET_KEYS: ReadonlyArray<{ key: keyof Budget; code: ErrorCode; flag: string }> = [
  { key: "maxPlistBytes", code: "BUDGET_PLIST_BYTES", flag: "--max-plist-bytes" },
  { key: "maxRsrcBytes", code: "BUDGET_RSRC_BYTES", flag: "--max-rsrc-bytes" },
  { key: "maxTables", code: "BUDGET_TABLES", flag: "--max-tables" },
  { key: "maxChunks", code: "BUDGET_CHUNKS", flag: "--max-chunks" },
  {
    key: "maxChunkCompressedBytes",
    code: "BUDGET_CHUNK_COMPRESSED",
    flag: "--max-chunk-compressed-bytes",
  },
  { key: "maxChunkSectors", code: "BUDGET_CHUNK_SECTORS", flag: "--max-chunk-sectors" },
  { key: "maxImageBytes", code: "BUDGET_IMAGE_SIZE", flag: "--max-image-bytes" },
  { key: "maxWorkingMemory", code: "BUDGET_WORKING_MEMORY", flag: "--max-working-memory" },
  { key: "maxDecompressedBytes", code: "BUDGET_DECOMPRESSED", flag: "--max-decompressed-bytes" },
];

/** Merge overrides into the defaults, refusing values that are not non-negative safe integers. */
export function resolveBudget(overrides: Partial<Budget> = {}): Budget {
  const out: Budget = { ...DEFAULT_BUDGET };
  for (const { key } of BUDGET_KEYS) {
    const v = overrides[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new DmgError("INVALID_ARGUMENT", `budget ${key} must be a non-negative integer`);
    }
    out[key] = v;
  }
  return out;
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
      throw new DmgError(
        "BUDGET_WORKING_MEMORY",
        `${what} needs ${bytes} bytes of working memory; ${this.used} of the ${this.limit}-byte budget are in use (raise maxWorkingMemory)`,
      );
    }
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }

  /** Return bytes acquired earlier. */
  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) this.used = 0;
  }
}

/** Counts bytes decompressed by one operation against maxDecompressedBytes. */
export class DecompressMeter {
  total = 0;
  constructor(readonly limit: number) {}

  /**
   * How much of `want` bytes the operation may still decode: callers ask a decoder for no more,
   * so the budget is never overshot by a piece. Throws when nothing is left (attack class F31).
   */
  allow(want: number, offset = -1): number {
    const room = this.limit - this.total;
    if (want > 0 && room <= 0) this.over(offset);
    return Math.min(want, room);
  }

  /** Account `bytes` of decoder output; throws when the operation's total passes the limit. */
  add(bytes: number, offset = -1): void {
    this.total += bytes;
    if (this.total > this.limit) this.over(offset);
  }

  private over(offset: number): never {
    throw new DmgError(
      "BUDGET_DECOMPRESSED",
      `operation would decompress more than ${this.limit} bytes (raise maxDecompressedBytes)`,
      offset,
    );
  }
}
