/**
 * Validation: structure (quick mode), then every chunk decoded and the three CRC32 levels
 * checked (data fork, each table, master), collected into a report instead of thrown.
 */
import { type Crc32, crc32, crc32Combine, crc32Zeros } from "../bytes/crc32.js";
import type { CodecDefaults } from "../codecs/registry.js";
import { CORE_CODECS } from "../codecs/registry.js";
import { DmgError, errorFinding, type Finding, warning } from "../core/errors.js";
import { droppedWarning, FindingList } from "../core/findings.js";
import { booleanOption, bytesListOption, optionsObject, progressOption } from "../core/options.js";
import { Work } from "../core/work.js";
import { CHECKSUM_CRC32, CHECKSUM_NONE, type Checksum, checksumCrc32 } from "../format/checksum.js";
import { KOLY_FIELD } from "../format/koly.js";
import { SECTOR_SIZE, UDIG, UDZE } from "../format/types.js";
import { collectPartitionFindings } from "../inspect/partitions.js";
import { collectSignatureFindings } from "../inspect/signature/verify.js";
import type { SourceLike } from "../sources/source.js";
import { ForkCrc } from "./fork-crc.js";
import { type DmgImage, sessionOf } from "./image.js";
import { type OpenOptions, openWith, resolveOpenOptions } from "./open.js";
import { ImageReader } from "./reader.js";
import { operationMeter, type Session } from "./session.js";

/** Options for {@link validateDmg}. */
export interface ValidateOptions extends OpenOptions {
  /** Structure only: decode no chunk, verify no checksum. */
  quick?: boolean;
  /** Called as decoding proceeds, with virtual bytes done and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Report an image without an embedded code signature as an error (CODESIGN_UNSIGNED). */
  requireSignature?: boolean;
  /**
   * Certificates (DER or PEM, one array per file) the code signature's chain must reach: an
   * unreached root is CODESIGN_UNTRUSTED. Without them the chain's trust is not checked.
   */
  trustRoots?: readonly Uint8Array[];
}

/**
 * Chunk CRC32s computed ahead, elsewhere (worker threads on Node), taken in disk order: for a
 * chunk it has, its CRC32 from byte 0, its decoded length and its error; `done: false` when
 * the caller must decode the chunk itself.
 *
 * @internal
 */
export interface ChunkPrefetch {
  /**
   * Chunk `i` decoded ahead: the CRC32 of its bytes, the bytes decompression cost, its error,
   * and the CRC32 of its payload as stored when that was read whole (`done: false`: decode it
   * here).
   */
  take(
    i: number,
  ): Promise<
    { done: true; crc: number; bytes: number; error?: DmgError; stored?: number } | { done: false }
  >;
  close(): Promise<void>;
}

/** @internal What a platform entry point adds to {@link ValidateOptions}. */
export interface ValidateHooks {
  /** Called once the image is open, before full validation; may start decoding ahead. */
  prefetch?: (image: DmgImage) => ChunkPrefetch | undefined;
  /** The platform's default codecs (the core's when absent). */
  defaults?: CodecDefaults;
  /** The platform's fastest CRC32 (node:zlib's is ten times the portable one). */
  crc32?: Crc32;
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
  /** The first `maxFindings` errors (see `dropped`). */
  errors: Finding[];
  /** The first `maxFindings` warnings, and a FINDINGS_DROPPED warning when some were dropped. */
  warnings: Finding[];
  /** Findings found but not kept, past `maxFindings` of their severity. */
  dropped: { errors: number; warnings: number };
  summary?: ImageSummary;
  checksums: { dataFork: ChecksumOutcome; tables: ChecksumOutcome[]; master: ChecksumOutcome };
  cost: { bytesDecompressed: number; peakWorkingMemory: number; chunksDecoded: number };
}

/** A report with nothing in it yet. */
export function emptyReport(quick: boolean): ValidationReport {
  return {
    ok: false,
    overBudget: false,
    mode: quick ? "quick" : "full",
    errors: [],
    warnings: [],
    dropped: { errors: 0, warnings: 0 },
    checksums: { dataFork: "not-checked", tables: [], master: "not-checked" },
    cost: { bytesDecompressed: 0, peakWorkingMemory: 0, chunksDecoded: 0 },
  };
}

/** A report of one error found before the image could be opened (a path that cannot be). */
export function failedReport(quick: boolean, e: DmgError): ValidationReport {
  const r = emptyReport(quick);
  r.errors.push(errorFinding(e));
  r.overBudget = e.overBudget;
  return r;
}

/** What a validation collects while it runs. */
interface Collect {
  errors: FindingList;
  warnings: FindingList;
}

/** Thrown out of validation rather than reported: misuse of the API, and cancellation. */
function thrownOut(e: unknown): boolean {
  return !(e instanceof DmgError) || e.code === "INVALID_ARGUMENT" || e.code === "ABORTED";
}

/**
 * Validate an image. Problems with the image become findings in the report, budgets exceeded
 * included (a deadline too: BUDGET_TIME); only misuse of the API (INVALID_ARGUMENT) and
 * cancellation (ABORTED) are thrown. An exception that is not a {@link DmgError} is a bug.
 */
export function validateDmg(
  source: SourceLike,
  options: ValidateOptions = {},
): Promise<ValidationReport> {
  return validateWith(source, options, {});
}

/**
 * {@link validateDmg} with a platform's hooks (the Node entry point's lanes and codecs).
 *
 * @internal
 */
export async function validateWith(
  source: SourceLike,
  options: ValidateOptions,
  hooks: ValidateHooks,
): Promise<ValidationReport> {
  const open = resolveOpenOptions(options);
  const o = optionsObject(options);
  const quick = booleanOption(o, "quick", false);
  const trustRoots = bytesListOption(o, "trustRoots");
  const onProgress = progressOption(o, "onProgress");
  const report = emptyReport(quick);
  const found: Collect = {
    errors: new FindingList(open.budget.maxFindings),
    warnings: new FindingList(open.budget.maxFindings),
  };
  let image: DmgImage;
  try {
    image = await openWith(source, open, hooks.defaults ?? CORE_CODECS);
  } catch (e) {
    if (thrownOut(e)) throw e;
    found.errors.add(errorFinding(e as DmgError));
    return finish(report, found);
  }
  try {
    const s = sessionOf(image);
    found.warnings.addAll(s.warnings);
    report.summary = summarize(s);
    report.checksums.tables = s.tables.map(() => "not-checked");
    if (!quick) {
      // What is inside and who signed it, first: the partition map and superblocks lie in the
      // disk's first chunks, which a remote source still holds in its first read-ahead
      // windows when the decode pass starts (after the pass they would be fetched again).
      const add = (f: Finding) => (f.severity === "error" ? found.errors : found.warnings).add(f);
      const required = booleanOption(o, "requireSignature", false);
      try {
        await collectSignatureFindings(
          () => image.signature({ signal: open.signal, ...(trustRoots ? { trustRoots } : {}) }),
          add,
          required,
        );
        await collectPartitionFindings(() => image.partitions({ signal: open.signal }), add);
        await fullCheck(image, s, report, found, new Work(open.signal), onProgress, hooks);
      } catch (e) {
        // Whatever stops the full check is a finding of the report, never a throw.
        if (thrownOut(e)) throw e;
        found.errors.add(errorFinding(e as DmgError));
      }
    }
    report.cost.peakWorkingMemory = s.memory.peak;
    return finish(report, found);
  } finally {
    await image.close();
  }
}

function finish(report: ValidationReport, found: Collect): ValidationReport {
  report.errors = found.errors.kept;
  report.warnings = found.warnings.kept;
  report.dropped = { errors: found.errors.dropped, warnings: found.warnings.dropped };
  const note = droppedWarning(found.errors, found.warnings);
  if (note) report.warnings.push(note);
  report.ok = found.errors.total === 0;
  report.overBudget = found.errors.overBudget;
  return report;
}

function summarize(s: Session): ImageSummary {
  const histogram: Record<string, number> = {};
  for (const t of s.tables) {
    for (const [k, v] of Object.entries(t.histogram)) histogram[k] = (histogram[k] ?? 0) + v;
  }
  return {
    size: s.size,
    sectorCount: s.index.totalSectors,
    layout: s.layout,
    imageVariant: s.koly.imageVariant,
    tables: s.tables.map((t) => ({
      name: t.name,
      firstSector: t.firstSector,
      sectorCount: t.sectorCount,
      histogram: t.histogram,
    })),
    chunkCount: s.index.count,
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

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

async function fullCheck(
  image: DmgImage,
  s: Session,
  report: ValidationReport,
  found: Collect,
  work: Work,
  onProgress: ((done: number, total: number) => void) | undefined,
  hooks: ValidateHooks,
): Promise<void> {
  // Lanes decode ahead while the data fork is read for its checksum.
  const pool = hooks.prefetch?.(image);
  try {
    await checkLevels(s, report, found, work, onProgress, pool, hooks.crc32 ?? crc32);
  } finally {
    await pool?.close();
  }
}

async function checkLevels(
  s: Session,
  report: ValidationReport,
  found: Collect,
  work: Work,
  onProgress: ((done: number, total: number) => void) | undefined,
  pool: ChunkPrefetch | undefined,
  crc32Of: Crc32,
): Promise<void> {
  const { index, memory } = s;
  // A reader of its own, recording no index points: a validation decodes each chunk once, front
  // to back, and the image is closed after it, so points would only cost time.
  const reader = new ImageReader(s);
  const meter = operationMeter(s);
  const k = s.koly;
  /**
   * Compare a stored checksum with the CRC32 computed (undefined: not computed), note an absent
   * or unknown checksum as a warning and a mismatch as an error `code` whose message `says`
   * both values.
   */
  const settle = (
    stored: Checksum,
    got: number | undefined,
    what: string,
    offset: number,
    code: "CRC_DATA_FORK" | "CRC_TABLE" | "CRC_MASTER",
    says: (got: string, want: string) => string,
    { table, at }: { table?: number; at?: number } = {},
  ): ChecksumOutcome => {
    const outcome = compare(stored, got);
    const where = table === undefined ? {} : { table };
    if (outcome === "absent")
      found.warnings.add(warning("CHECKSUM_ABSENT", `${what} has no checksum`, offset, where));
    if (outcome === "unknown-type") {
      found.warnings.add(
        warning(
          "CHECKSUM_UNKNOWN",
          `${what} checksum has an unknown type and was not verified`,
          offset,
          where,
        ),
      );
    }
    if (outcome === "mismatch") {
      const message = says(hex32(got!), hex32(checksumCrc32(stored)!));
      found.errors.insert(at ?? Number.POSITIVE_INFINITY, {
        severity: "error",
        code,
        message,
        offset,
        ...where,
      });
    }
    return outcome;
  };

  // Level 1, the data fork as stored, is checksummed from the reads of level 2 (one pass over
  // the file, not two); level 2's lanes hand over the CRC32 of each payload they read.
  const fork =
    k.dataForkChecksum.type === CHECKSUM_CRC32
      ? new ForkCrc(k.dataForkOffset, k.dataForkOffset + k.dataForkLength, crc32Of)
      : undefined;
  const source = s.source;
  if (fork) s.source = fork.tap(source);
  const forkAt = k.fileOffset + KOLY_FIELD.dataForkChecksum;
  const settleFork = (got: number | undefined, at: number) =>
    settle(
      k.dataForkChecksum,
      got,
      "data fork",
      forkAt,
      "CRC_DATA_FORK",
      (got, want) => `data fork CRC32 is ${got}, the trailer says ${want}`,
      { at },
    );
  // Where level 1's findings go in the report: before level 2's.
  const level1At = found.errors.kept.length;
  if (!fork) report.checksums.dataFork = settleFork(undefined, level1At);

  // Level 2: every chunk decoded, each table's CRC32 over its decoded sectors (ignore chunks
  // left out, zero chunks counted as zeros through the CRC's zeros operator, in O(log n): a
  // terabyte of zero chunks costs nothing), as 7-Zip verifies it.
  const tableCrc = s.tables.map(() => 0 as number | undefined);
  let done = 0;
  try {
    for (let i = 0; i < index.count; i++) {
      await work.pace(index.offset[i]);
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
            if (got.stored !== undefined) {
              fork?.segment(index.offset[i], index.offset[i] + index.length[i], got.stored);
            }
          } else {
            crc = tableCrc[t] ?? 0;
            for await (const piece of reader.chunkPieces(i, 0, bytes, meter, work)) {
              crc = crc32Of(piece, crc);
            }
          }
          if (tableCrc[t] !== undefined) tableCrc[t] = crc;
          report.cost.chunksDecoded++;
        }
      } catch (e) {
        if (thrownOut(e)) throw e;
        const err = e as DmgError;
        const f = errorFinding(err);
        f.table ??= t;
        f.chunk ??= index.tableChunk[i];
        found.errors.add(f);
        tableCrc[t] = undefined;
        // A budget covers the whole operation: once exceeded, stop; the tables not decoded to
        // their end cannot be checked.
        if (err.overBudget || err.code === "IO_ERROR") {
          for (let j = i; j < index.count; j++) tableCrc[index.table[j]] = undefined;
          break;
        }
      }
      done += bytes;
      onProgress?.(done, s.size);
    }
  } finally {
    reader.close();
    s.source = source;
    report.cost.bytesDecompressed = meter.total;
    s.produced += meter.total;
  }
  // Past the deadline nothing more is read: the finding that stopped level 2 says it all.
  if (fork && !work.aborted) {
    let forkCrc: number | undefined;
    try {
      forkCrc = await fork.finish(source, work, memory);
    } catch (e) {
      if (thrownOut(e) || (e as DmgError).code === "BUDGET_TIME") throw e;
      found.errors.insert(level1At, errorFinding(e as DmgError));
    }
    report.checksums.dataFork = settleFork(forkCrc, level1At);
  }
  s.tables.forEach((table, t) => {
    report.checksums.tables[t] = settle(
      table.checksum,
      tableCrc[t],
      `table ${t}`,
      table.fileOffset,
      "CRC_TABLE",
      (got, want) => `table ${t} decodes to CRC32 ${got}, the table says ${want}`,
      { table: t },
    );
  });

  // Level 3: the master checksum, over the tables' stored checksum values in blkx order.
  let master = 0;
  for (const table of s.tables) master = crc32(table.checksum.value, master);
  report.checksums.master = settle(
    k.masterChecksum,
    master,
    "master",
    k.fileOffset + KOLY_FIELD.masterChecksum,
    "CRC_MASTER",
    (got, want) => `master CRC32 over the tables' checksums is ${got}, the trailer says ${want}`,
  );
}
