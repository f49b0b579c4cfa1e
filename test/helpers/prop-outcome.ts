/**
 * The outcome rule of the hostile-input properties (ATTACKS.md): open, read everything and
 * validate a mutated image under a small budget; the only acceptable results are a correct read
 * or DmgErrors whose codes the mutation's class allows, within the budget, never another
 * exception.
 */
import { expect } from "vitest";
import type { Budget } from "../../src/core/limits.js";
import { DmgError, type DmgImage, type ErrorCode, openDmg, validateDmg } from "../../src/index.js";
import type { RangeRecipe } from "./arbitraries.js";
import { type Built, expectedRange, placeRange } from "./prop-build.js";

const MiB = 1024 * 1024;

/** The budget hostile inputs are opened with. */
export const SMALL_BUDGET: Partial<Budget> = {
  maxWorkingMemory: 8 * MiB,
  maxDecompressedBytes: 32 * MiB,
  maxImageBytes: 128 * MiB,
};

/** A mutated image and what a correct reader may make of it. */
export interface Mutation {
  bytes: Uint8Array;
  /** The image whose disk a successful read must give (exact) or is compared with (not exact). */
  reference: Built;
  /** A successful read must equal the reference's disk. */
  exact: boolean;
  /** A successful read that differs from the reference must fail validation (a checksum covers it). */
  detect?: boolean;
  /** Opening or reading must fail, with one of these codes. */
  fails?: readonly ErrorCode[];
  /** Opening and reading must succeed (an honest quirk, or a change the reader ignores). */
  reads?: boolean;
  /** When reading succeeds, validation must report each of these codes. */
  reports?: readonly ErrorCode[];
}

/** What happened to a mutated image. */
export interface Exercised {
  openError?: DmgError;
  streamError?: DmgError;
  /** The read (when it completed) differs from the reference's disk. */
  differs: boolean;
  errors: ErrorCode[];
}

function asDmgError(e: unknown, what: string): DmgError {
  if (e instanceof DmgError && e.code !== "INVALID_ARGUMENT") return e;
  // Any other exception escaping the library is a bug: fail with what it was.
  const detail = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e);
  throw new Error(`${what} threw a non-DmgError: ${detail}`);
}

/** Largest disk whose streamed bytes are kept to compare ranged reads with. */
const KEEP_LIMIT = 16 * MiB;

/**
 * Reads of `ranges` through read() (one shared reader, so decoders are continued, restarted
 * and abandoned on errors): each gives the bytes the stream gave (`streamed`, its prefix when
 * the stream failed) or a DmgError of the class; when the whole stream succeeded, none fails.
 */
async function rangedReads(
  img: DmgImage,
  streamed: Uint8Array,
  ranges: readonly RangeRecipe[],
  codes: ReadonlySet<ErrorCode>,
  streamError: DmgError | undefined,
): Promise<void> {
  const edges = [...img.chunks()].map((c) => c.sector * 512);
  for (const r of ranges) {
    const [offset, n] = placeRange(img.size, edges, r);
    const length = Math.min(n, MiB);
    let got: Uint8Array;
    try {
      got = await img.read(offset, length);
    } catch (e) {
      const err = asDmgError(e, `read(${offset}, ${length})`);
      expect(streamError, `read(${offset}, ${length}) failed after a full stream`).toBeDefined();
      expect(codes, `code ${err.code} outside the expected set`).toContain(err.code);
      continue;
    }
    const known = Math.max(0, Math.min(offset + length, streamed.length) - offset);
    const same = Buffer.compare(got.subarray(0, known), streamed.subarray(offset, offset + known));
    expect(same, `read(${offset}, ${length}) differs from the stream`).toBe(0);
  }
}

/**
 * Open `m.bytes`, stream the whole disk comparing it with the reference, read `ranges`, then
 * validate, all under `budget`; assert the outcome rule for the codes in `codes`.
 */
export async function checkMutation(
  m: Mutation,
  codes: ReadonlySet<ErrorCode>,
  budget: Partial<Budget> = SMALL_BUDGET,
  ranges: readonly RangeRecipe[] = [],
): Promise<Exercised> {
  const out: Exercised = { differs: false, errors: [] };
  const ref = m.reference;
  let img: DmgImage | undefined;
  try {
    img = await openDmg(m.bytes, { budget });
  } catch (e) {
    out.openError = asDmgError(e, "openDmg()");
  }
  if (img) {
    if (img.size !== ref.size) out.differs = true;
    // The streamed disk is kept (when small) to check the ranged reads against.
    const kept = img.size <= KEEP_LIMIT ? new Uint8Array(img.size) : undefined;
    let pos = 0;
    try {
      for await (const piece of img.stream()) {
        if (!out.differs) {
          out.differs = Buffer.compare(piece, expectedRange(ref, pos, piece.length)) !== 0;
        }
        kept?.set(piece, pos);
        pos += piece.length;
      }
    } catch (e) {
      out.streamError = asDmgError(e, "stream()");
    }
    if (!out.streamError) expect(pos, "stream() yields exactly size bytes").toBe(img.size);
    const s = img.stats();
    expect(s.peakWorkingMemory).toBeLessThanOrEqual(budget.maxWorkingMemory!);
    expect(s.bytesDecompressed).toBeLessThanOrEqual(budget.maxDecompressedBytes!);
    try {
      if (kept) await rangedReads(img, kept.subarray(0, pos), ranges, codes, out.streamError);
    } finally {
      await img.close();
    }
  }
  let report: Awaited<ReturnType<typeof validateDmg>>;
  try {
    report = await validateDmg(m.bytes, { budget });
  } catch (e) {
    throw asDmgError(e, "validateDmg()");
  }
  out.errors = report.errors.map((f) => f.code as ErrorCode);
  expect(report.cost.peakWorkingMemory).toBeLessThanOrEqual(budget.maxWorkingMemory!);
  expect(report.cost.bytesDecompressed).toBeLessThanOrEqual(budget.maxDecompressedBytes!);

  const failed = out.openError ?? out.streamError;
  // Every code raised belongs to the mutation's class.
  for (const code of [failed?.code, ...out.errors]) {
    if (code !== undefined) expect(codes, `code ${code} outside the expected set`).toContain(code);
  }
  if (out.openError) {
    // Validation opens the same way and reports the same first error.
    expect(out.errors[0]).toBe(out.openError.code);
  } else if (out.streamError) {
    // Validation decodes every chunk, so it meets the error the stream stopped at.
    expect(out.errors).toContain(out.streamError.code);
  } else {
    // A complete read leaves validation nothing to find but checksum mismatches, and a code
    // signature the trailer's mutated fields point at.
    for (const code of out.errors) expect(code).toMatch(/^(CRC_|CODESIGN_)/);
    if (m.exact) expect(out.differs, "read differs from the model").toBe(false);
    if (out.differs && m.detect) expect(out.errors.length, "silent corruption").toBeGreaterThan(0);
    for (const code of m.reports ?? []) expect(out.errors).toContain(code);
  }
  if (m.fails) expect(m.fails, "must fail").toContain(failed?.code ?? "(read succeeded)");
  if (m.reads) expect(failed?.code, "must be read").toBeUndefined();
  return out;
}

/** A set of error codes from lists of them. */
export function codeSet(...lists: ReadonlyArray<readonly ErrorCode[]>): ReadonlySet<ErrorCode> {
  return new Set(lists.flat());
}
