/**
 * What every fuzz target shares: the small budgets the targets run under, and the rule for a
 * finding. A target throws (a finding) only for an exception that is not a DmgError, or for a
 * broken invariant of the library's contract (a budget overrun, working memory not released,
 * a decoder handing out more or fewer bytes than declared); a DmgError is the library doing
 * its job on hostile input.
 *
 * Targets import the compiled library from dist/ (`npm run build` first): jazzer.js instruments
 * it there.
 */

import { DmgError } from "../dist/core/errors.js";
import { resolveBudget } from "../dist/core/limits.js";
import { PIECE } from "../dist/image/reader.js";

/** Budget overrides for the targets: small enough that one input costs milliseconds. */
export const FUZZ_BUDGET = Object.freeze({
  maxWorkingMemory: 8 << 20,
  maxDecompressedBytes: 64 << 20,
  maxChunks: 100_000,
  maxImageBytes: 64 << 20,
  maxPlistBytes: 4 << 20,
  maxRsrcBytes: 4 << 20,
  maxFindings: 64,
  maxNameBytes: 256,
});

/** Tight limits, which one input in eight gets so that every budget check is reached too. */
export const TIGHT_BUDGET = Object.freeze({
  maxPlistBytes: 4096,
  maxRsrcBytes: 4096,
  maxTables: 4,
  maxChunks: 16,
  maxChunkCompressedBytes: 8192,
  maxChunkSectors: 64,
  maxImageBytes: 1 << 20,
  maxWorkingMemory: 1 << 20,
  maxDecompressedBytes: 256 << 10,
  expansionAllowance: 64 << 10,
  maxFindings: 2,
  maxNameBytes: 16,
});

const RESOLVED = resolveBudget(FUZZ_BUDGET);
const RESOLVED_TIGHT = resolveBudget(TIGHT_BUDGET);

/** The budget overrides for input `data`: {@link TIGHT_BUDGET} when its length is 7 mod 8. */
export function budgetFor(data) {
  return data.length % 8 === 7 ? TIGHT_BUDGET : FUZZ_BUDGET;
}

/** The full budget object the layer functions take, for input `data` (see {@link budgetFor}). */
export function layerBudget(data) {
  return data.length % 8 === 7 ? RESOLVED_TIGHT : RESOLVED;
}

/** The full budget object of {@link FUZZ_BUDGET}. */
export const BUDGET = RESOLVED;

/**
 * How far an operation's decompressed-byte count may pass maxDecompressedBytes: the meter
 * counts a piece after the decoder produced it, so the piece that crosses the limit (at most
 * one read piece) is counted before the error stops the operation.
 */
export const DECOMPRESSED_SLACK = PIECE;

/** A broken invariant: the finding a target raises besides unexpected exceptions. */
export class InvariantError extends Error {
  name = "InvariantError";
}

/** Throw an {@link InvariantError} unless `ok`. */
export function invariant(ok, message) {
  if (!ok) throw new InvariantError(message);
}

/**
 * Check that what the writer side makes of a parsed structure parses back to the same thing:
 * `parsed` as the reader returned it, `reparsed` after serializing and parsing it again.
 */
export function sameAfterRoundTrip(what, parsed, reparsed) {
  const diff = difference(parsed, reparsed, what);
  invariant(diff === undefined, `write-read round trip changed ${diff}`);
}

/**
 * Where `a` and `b` differ first, as "path: a became b", or undefined. Contents count, not
 * classes (jazzer passes Buffers, whose slice() gives Buffers) or the sign of zero.
 */
function difference(a, b, path) {
  if (a === b || Object.is(a, b)) return undefined;
  const show = (x) => (ArrayBuffer.isView(x) ? `${x.length} elements` : JSON.stringify(x));
  if (ArrayBuffer.isView(a) && ArrayBuffer.isView(b)) {
    if (a.length !== b.length) return `${path}: ${show(a)} became ${show(b)}`;
    const i = a.findIndex((x, k) => x !== b[k]);
    return i < 0 ? undefined : `${path}[${i}]: ${a[i]} became ${b[i]}`;
  }
  if (a !== null && b !== null && typeof a === "object" && typeof b === "object") {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = difference(a[k], b[k], Array.isArray(a) ? `${path}[${k}]` : `${path}.${k}`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return `${path}: ${show(a)} became ${show(b)}`;
}

/** A resource map as the writers keep it: without file offsets, other resources grouped by type. */
export function mapContent(map) {
  // The writers store each type's resources together, in order of the type's first
  // appearance; a resource fork whose type list names a type twice is read in list order.
  const types = [...new Set(map.other.map((o) => o.type))];
  const other = types.flatMap((t) => map.other.filter((o) => o.type === t));
  return { blkx: map.blkx.map(({ fileOffset, ...r }) => r), other };
}

/**
 * Parse `data` with a resource map parser (parsePlist, parseResourceFork) under the input's
 * budget: the map, or undefined when refused with a DmgError.
 */
export function parseMap(data, parse) {
  const budget = layerBudget(data);
  let map;
  tolerateSync(() => {
    map = parse(data, 0, budget);
  });
  if (map !== undefined) {
    invariant(map.blkx.length <= budget.maxTables, `${map.blkx.length} tables accepted`);
  }
  return map;
}

/**
 * Check that `map` written with `serialize` reads back the same with `parse`. The writer may
 * refuse what it cannot store (a DmgError), never change it.
 */
export function checkMapRoundTrip(what, map, serialize, parse) {
  tolerateSync(() => {
    const again = parse(serialize(map), 0, BUDGET);
    sameAfterRoundTrip(what, mapContent(map), mapContent(again));
  });
}

/** Run `fn`; a DmgError is an expected outcome (returned), anything else propagates. */
export async function tolerate(fn) {
  try {
    await fn();
    return undefined;
  } catch (e) {
    if (e instanceof DmgError) return e;
    throw e;
  }
}

/** {@link tolerate} for synchronous layer functions (targets run with jazzer's --sync). */
export function tolerateSync(fn) {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (e instanceof DmgError) return e;
    throw e;
  }
}
