/**
 * Validation: structure (quick mode), then every chunk decoded and the three CRC32 levels
 * checked (data fork, each table, master), collected into a report instead of thrown.
 */

import { crc32, crc32Combine, crc32Zeros } from "../bytes/crc32.js";
import { DmgError, errorFinding, type Finding, warning } from "../core/errors.js";
import { DecompressMeter } from "../core/limits.js";
import { CHECKSUM_CRC32, CHECKSUM_NONE, type Checksum, checksumCrc32 } from "../format/checksum.js";
import { SECTOR_SIZE, UDIG, UDZE } from "../format/types.js";
import { readExact, type SourceLike } from "../sources/source.js";
import { type DmgImage, type OpenOptions, openDmg } from "./open.js";
import { ImageReader } from "./reader.js";

/** Options for {@link validateDmg}. */
export interface ValidateOptions extends OpenOptions {
  /** Structure only: decode no chunk, verify no checksum. */
  quick?: boolean;
  /** Called as decoding proceeds, with virtual bytes done and the total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Chunk CRC32s computed ahead, elsewhere (worker threads on Node), taken in disk order: for a
 * chunk it has, its CRC32 from byte 0, its decoded length and its error; `done: false` when
 * the caller must decode the chunk itself.
 *
 * @internal
 */
export interface ChunkPrefetch {
  take(
    i: number,
  ): Promise<{ done: true; crc: number; bytes: number; error?: DmgError } | { done: false }>;
  close(): Promise<void>;
}

/** @internal What a platform entry point adds to {@link ValidateOptions}. */
export interface ValidateHooks {
  /** Called once the image is open, before full validation; may start decoding ahead. */
  prefetch?: (image: DmgImage) => ChunkPrefetch | undefined;
}

/** A short description of the image, for reports. */
export interface ImageSummary {
  size: number;
  sectorCount: number;
  layout: string;
  imageVariant: number;
  tables: Array<{
    name: string;
    firstSector: number;
    sectorCount: number;
    histogram: Record<string, number>;
  }>;
  chunkCount: number;
  /** Chunks per type name over the whole image. */
  histogram: Record<string, number>;
}

/** Outcome of each checksum level. */
export type ChecksumOutcome = "ok" | "mismatch" | "absent" | "unknown-type" | "not-checked";

/** The result of {@link validateDmg}. */
export interface ValidationReport {
  /** True when there is no error finding. */
  ok: boolean;
  /** True when the failure was a budget being exceeded rather than malformed input. */
  overBudget: boolean;
  mode: "quick" | "full";
  errors: Finding[];
  warnings: Finding[];
  summary?: ImageSummary;
  checksums: { dataFork: ChecksumOutcome; tables: ChecksumOutcome[]; master: ChecksumOutcome };
  cost: { bytesDecompressed: number; peakWorkingMemory: number; chunksDecoded: number };
}

/**
 * Validate an image. Problems with the image become findings in the report; only misuse of
 * the API (INVALID_ARGUMENT) is thrown. An exception that is not a {@link DmgError} is a bug.
 */
export async function validateDmg(
  source: SourceLike,
  options: ValidateOptions & ValidateHooks = {},
): Promise<ValidationReport> {
  const report: ValidationReport = {
    ok: false,
    overBudget: false,
    mode: options.quick ? "quick" : "full",
    errors: [],
    warnings: [],
    checksums: { dataFork: "not-checked", tables: [], master: "not-checked" },
    cost: { bytesDecompressed: 0, peakWorkingMemory: 0, chunksDecoded: 0 },
  };
  let image: DmgImage;
  try {
    image = await openDmg(source, options);
  } catch (e) {
    if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
    return finish(report, [errorFinding(e)]);
  }
  try {
    report.warnings.push(...image.warnings);
    report.summary = summarize(image);
    report.checksums.tables = image.tables.map(() => "not-checked");
    const errors: Finding[] = [];
    if (!options.quick) {
      try {
        await fullCheck(image, report, errors, options);
      } catch (e) {
        // Whatever stops the full check is a finding of the report, never a throw.
        if (!(e instanceof DmgError) || e.code === "INVALID_ARGUMENT") throw e;
        errors.push(errorFinding(e));
      }
    }
    // fullCheck counted its own decoding; reads through the image (none today) add to it.
    const s = image.stats();
    report.cost.bytesDecompressed += s.bytesDecompressed;
    report.cost.peakWorkingMemory = s.peakWorkingMemory;
    return finish(report, errors);
  } finally {
    await image.close();
  }
}

function finish(report: ValidationReport, errors: Finding[]): ValidationReport {
  report.errors.push(...errors);
  report.ok = report.errors.length === 0;
  report.overBudget = report.errors.some((f) => f.code.startsWith("BUDGET_"));
  return report;
}

function summarize(image: DmgImage): ImageSummary {
  const histogram: Record<string, number> = {};
  for (const t of image.tables) {
    for (const [k, v] of Object.entries(t.histogram)) histogram[k] = (histogram[k] ?? 0) + v;
  }
  return {
    size: image.size,
    sectorCount: image.sectorCount,
    layout: image.layout,
    imageVariant: image.koly.imageVariant,
    tables: image.tables.map((t) => ({
      name: t.name,
      firstSector: t.firstSector,
      sectorCount: t.sectorCount,
      histogram: t.histogram,
    })),
    chunkCount: image.chunkCount,
    histogram,
  };
}

/** Outcome of comparing a stored checksum with a computed CRC32 (undefined: not computable). */
function compare(stored: Checksum, computed: number | undefined): ChecksumOutcome {
  if (stored.type === CHECKSUM_NONE) return "absent";
  if (stored.type !== CHECKSUM_CRC32) return "unknown-type";
  if (computed === undefined) return "not-checked";
  return checksumCrc32(stored) === computed ? "ok" : "mismatch";
}

async function fullCheck(
  image: DmgImage,
  report: ValidationReport,
  errors: Finding[],
  options: ValidateOptions & ValidateHooks,
): Promise<void> {
  // Lanes decode ahead while the data fork is read for its checksum.
  const pool = options.prefetch?.(image);
  try {
    await checkLevels(image, report, errors, options.onProgress, pool);
  } finally {
    await pool?.close();
  }
}

async function checkLevels(
  image: DmgImage,
  report: ValidationReport,
  errors: Finding[],
  onProgress: ((done: number, total: number) => void) | undefined,
  pool: ChunkPrefetch | undefined,
): Promise<void> {
  const { index, source, memory } = image.internals;
  // A reader of its own, recording no index points: a validation decodes each chunk once, front
  // to back, and the image is closed after it, so points would only cost time.
  const reader = new ImageReader(source, index, memory);
  const meter = new DecompressMeter(image.budget.maxDecompressedBytes);
  const k = image.koly;
  const warnings = report.warnings;
  const noteChecksum = (outcome: ChecksumOutcome, what: string, offset: number, table?: number) => {
    const where = table === undefined ? {} : { table };
    if (outcome === "absent")
      warnings.push(warning("CHECKSUM_ABSENT", `${what} has no checksum`, offset, where));
    if (outcome === "unknown-type") {
      warnings.push(
        warning(
          "CHECKSUM_UNKNOWN",
          `${what} checksum has an unknown type and was not verified`,
          offset,
          where,
        ),
      );
    }
  };

  // Level 1: the data fork, as stored.
  let forkCrc: number | undefined;
  if (k.dataForkChecksum.type === CHECKSUM_CRC32) {
    forkCrc = 0;
    const piece = Math.max(1, Math.min(1024 * 1024, k.dataForkLength));
    let held = 0;
    try {
      memory.acquire(piece, "data fork checksum buffer");
      held = piece;
      // One buffer for every piece (the source may fill it instead of allocating).
      const buffer = new Uint8Array(piece);
      for (let p = 0; p < k.dataForkLength; p += piece) {
        const n = Math.min(piece, k.dataForkLength - p);
        const bytes = await readExact(source, k.dataForkOffset + p, n, "data fork", buffer);
        forkCrc = crc32(bytes, forkCrc);
      }
    } catch (e) {
      if (!(e instanceof DmgError)) throw e;
      errors.push(errorFinding(e));
      forkCrc = undefined;
    } finally {
      memory.release(held);
    }
  }
  report.checksums.dataFork = compare(k.dataForkChecksum, forkCrc);
  noteChecksum(report.checksums.dataFork, "data fork", k.fileOffset + 80);
  if (report.checksums.dataFork === "mismatch") {
    errors.push({
      severity: "error",
      code: "CRC_DATA_FORK",
      message: `data fork CRC32 is 0x${forkCrc!.toString(16).padStart(8, "0")}, the trailer says 0x${checksumCrc32(k.dataForkChecksum)!.toString(16).padStart(8, "0")}`,
      offset: k.fileOffset + 80,
    });
  }

  // Level 2: every chunk decoded, each table's CRC32 over its decoded sectors (ignore chunks
  // left out, zero chunks counted as zeros), as 7-Zip verifies it.
  const tableCrc = image.tables.map(() => 0 as number | undefined);
  let done = 0;
  for (let i = 0; i < index.count; i++) {
    const t = index.table[i];
    const type = index.type[i];
    const bytes = index.sectorCount[i] * SECTOR_SIZE;
    try {
      if (type === UDZE)
        tableCrc[t] = tableCrc[t] === undefined ? undefined : crc32Zeros(bytes, tableCrc[t]);
      else if (type !== UDIG) {
        const got = pool ? await pool.take(i) : { done: false as const };
        let crc: number;
        if (got.done) {
          // Counted as if decoded here (`got.bytes` is what decompression cost), so that the
          // budget and the cost read the same.
          meter.add(got.bytes, index.offset[i]);
          if (got.error) throw got.error;
          // A chunk that ended without error decoded to exactly its declared size.
          crc = crc32Combine(tableCrc[t] ?? 0, got.crc, bytes);
        } else {
          crc = tableCrc[t] ?? 0;
          for await (const piece of reader.chunkPieces(i, 0, bytes, meter)) crc = crc32(piece, crc);
        }
        if (tableCrc[t] !== undefined) tableCrc[t] = crc;
        report.cost.chunksDecoded++;
      }
    } catch (e) {
      if (!(e instanceof DmgError)) throw e;
      const f = errorFinding(e);
      f.table ??= t;
      f.chunk ??= index.tableChunk[i];
      errors.push(f);
      tableCrc[t] = undefined;
      // A budget covers the whole operation: once exceeded, stop; the tables not decoded to
      // their end cannot be checked.
      if (e.overBudget || e.code === "IO_ERROR") {
        for (let j = i; j < index.count; j++) tableCrc[index.table[j]] = undefined;
        break;
      }
    }
    done += bytes;
    onProgress?.(done, image.size);
  }
  report.cost.bytesDecompressed = meter.total;
  image.tables.forEach((table, t) => {
    const outcome = compare(table.checksum, tableCrc[t]);
    report.checksums.tables[t] = outcome;
    noteChecksum(outcome, `table ${t} (${table.name})`, table.fileOffset, t);
    if (outcome === "mismatch") {
      errors.push({
        severity: "error",
        code: "CRC_TABLE",
        message: `table ${t} (${table.name}) decodes to CRC32 0x${tableCrc[t]!.toString(16).padStart(8, "0")}, the table says 0x${checksumCrc32(table.checksum)!.toString(16).padStart(8, "0")}`,
        offset: table.fileOffset,
        table: t,
      });
    }
  });

  // Level 3: the master checksum, over the tables' stored checksum values in blkx order.
  let master = 0;
  for (const table of image.tables) master = crc32(table.checksum.value, master);
  report.checksums.master = compare(k.masterChecksum, master);
  noteChecksum(report.checksums.master, "master", k.fileOffset + 352);
  if (report.checksums.master === "mismatch") {
    errors.push({
      severity: "error",
      code: "CRC_MASTER",
      message: `master CRC32 over the tables' checksums is 0x${master.toString(16).padStart(8, "0")}, the trailer says 0x${checksumCrc32(k.masterChecksum)!.toString(16).padStart(8, "0")}`,
      offset: k.fileOffset + 352,
    });
  }
}
