/**
 * What a mutator is: an arbitrary of (valid image, mutation parameters), a function turning a
 * built image and the parameters into hostile bytes with the outcome a correct reader must
 * have, and the error codes its class of attack (ATTACKS.md) may raise.
 */
import type fc from "fast-check";
import type { Budget } from "../../src/core/limits.js";
import type { ErrorCode } from "../../src/index.js";
import { type ImageArbOptions, type ImageRecipe, imageArb } from "./arbitraries.js";
import type { Built } from "./prop-build.js";
import { codeSet, type Mutation } from "./prop-outcome.js";

/** One mutator, ready for a property. */
export interface Mutator {
  name: string;
  /** ATTACKS.md classes it covers ("A4, A9"). */
  attacks: string;
  codes: ReadonlySet<ErrorCode>;
  arb: fc.Arbitrary<[ImageRecipe, unknown]>;
  apply(b: Built, params: unknown): Mutation;
  /** Budget override for checkMutation (default: SMALL_BUDGET). */
  budget?: Partial<Budget>;
}

/** What {@link defineMutator} takes: typed parameters. */
export interface MutatorDef<P> {
  name: string;
  attacks: string;
  codes: ReadonlyArray<readonly ErrorCode[]>;
  images?: ImageArbOptions;
  params: fc.Arbitrary<P>;
  apply(b: Built, p: P): Mutation;
  budget?: Partial<Budget>;
}

/** A mutator from its typed definition. */
export function defineMutator<P>(d: MutatorDef<P>): Mutator {
  const arb: fc.Arbitrary<[ImageRecipe, unknown]> = imageArb(d.images).chain((r) =>
    d.params.map((p): [ImageRecipe, unknown] => [r, p]),
  );
  return {
    name: d.name,
    attacks: d.attacks,
    codes: codeSet(...d.codes),
    arb,
    apply: (b, p) => d.apply(b, p as P),
    budget: d.budget,
  };
}

// Error code groups, by the structure a mutation reaches.

export const TRAILER: readonly ErrorCode[] = [
  "NOT_UDIF",
  "TRUNCATED",
  "KOLY_VERSION",
  "KOLY_RANGE",
  "KOLY_SEGMENTED",
  "CHECKSUM_TYPE",
  "FIELD_TOO_LARGE",
  "NO_PARTITION_MAP",
];
export const MAP: readonly ErrorCode[] = [
  "PLIST_MALFORMED",
  "PLIST_DOCTYPE",
  "PLIST_STRUCTURE",
  "PLIST_BASE64",
  "RSRC_MALFORMED",
];
export const TABLE: readonly ErrorCode[] = [
  "MISH_MALFORMED",
  // A table changed in the XML or the resource fork, not in both (layout "both").
  "MAP_MISMATCH",
  "TABLE_LAYOUT",
  "FIELD_TOO_LARGE",
  "CHECKSUM_TYPE",
];
export const CHUNK: readonly ErrorCode[] = [
  "CHUNK_LAYOUT",
  "CHUNK_RANGE",
  "CHUNK_LENGTH",
  "CHUNK_TYPE_UNKNOWN",
  "CHUNK_TYPE_UNSUPPORTED",
  "CHUNK_TERMINATOR",
];
export const DECODE: readonly ErrorCode[] = [
  "DECODE_CORRUPT",
  "DECODE_OVERRUN",
  "DECODE_SHORT",
  "DECODE_TRAILING",
];
export const CRC: readonly ErrorCode[] = ["CRC_DATA_FORK", "CRC_TABLE", "CRC_MASTER"];
/** Budgets a field of the file can exceed on its own (sizes declared in the tables). */
export const BUDGET_DECLARED: readonly ErrorCode[] = [
  "BUDGET_CHUNK_SECTORS",
  "BUDGET_CHUNK_COMPRESSED",
  "BUDGET_IMAGE_SIZE",
];
/** Budgets that decoding work can exceed. */
export const BUDGET_WORK: readonly ErrorCode[] = ["BUDGET_WORKING_MEMORY", "BUDGET_DECOMPRESSED"];
