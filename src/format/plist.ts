/**
 * The XML property list that carries the partition tables of a UDIF image:
 * `plist > dict > resource-fork > dict > blkx > array of dicts`, each dict with `Attributes`,
 * `CFName`, `Data` (base64 mish block), `ID` and `Name`.
 *
 * Parsing is strict XML (saxes) with no DTD processing: a DOCTYPE with an internal subset is
 * refused outright, and only the five predefined entities and numeric character references
 * are expanded. The value tree is built without recursion, with a depth limit and an element
 * limit, so neither deep nesting nor a flood of tiny elements can exhaust the stack or memory.
 *
 * The plist is handed to saxes in pieces decoded one at a time, so the whole text never sits in
 * memory beside its bytes. The text of a `<data>` element that holds only base64 and
 * whitespace is decoded straight from the bytes; once such an element is open when a piece
 * ends, the rest of its text is not handed to saxes at all (a million-chunk table is a 50 MB
 * base64 text that saxes would build into a string).
 *
 * File offsets: saxes reports positions as indexes into the strings written to it. They are
 * turned into exact byte offsets (for pure-ASCII pieces, which real property lists are, the
 * two differ by a constant; otherwise the UTF-8 lengths of the characters before are summed).
 * The offset of a base64 error inside `<data>` counts from the text after `<data>` and is exact
 * unless the element's text holds comments, CDATA sections or character references.
 *
 * This module checks the input and is the public face; the work is done in plist-bytes.ts
 * (byte-level helpers), plist-elements.ts (the plist vocabulary and leaf values),
 * plist-tree.ts (the tree builder over saxes), plist-map.ts (the resource map from the tree)
 * and plist-write.ts (serializing a resource map, imported by the writer alone).
 */

import { at, DmgError } from "../core/errors.js";
import { type Budget, checkBudget } from "../core/limits.js";
import { runPaced, runSteps, type Work } from "../core/work.js";
import { firstInvalidUtf8, isAscii } from "./plist-bytes.js";
import { resourceMap } from "./plist-map.js";
import { buildTreeSteps } from "./plist-tree.js";
import type { ResourceMap } from "./resources.js";

export { PLIST_MAX_DEPTH } from "./plist-elements.js";

/** A value of the property list, with the file offset of its element. */
export type PlistValue =
  | { type: "dict"; entries: Map<string, PlistValue>; offset: number }
  | { type: "array"; items: PlistValue[]; offset: number }
  | { type: "string"; value: string; offset: number }
  | { type: "data"; value: Uint8Array; offset: number }
  | { type: "integer"; value: bigint; offset: number }
  | { type: "real"; value: number; offset: number }
  | { type: "boolean"; value: boolean; offset: number }
  | { type: "date"; value: string; offset: number };

/** Bytes of the plist decoded and handed to saxes at a time. */
const PIECE_BYTES = 256 * 1024;
/** Bytes of the plist scanned for NUL bytes and non-ASCII bytes in one step. */
const SCAN_BYTES = 4 * 1024 * 1024;

/**
 * Parse an XML property list into its value tree.
 *
 * @param xml the property list bytes (UTF-8)
 * @param fileOffset file offset of `xml[0]`, for element offsets and error offsets
 * @param budget `maxPlistBytes` bounds the input; `maxTables` bounds the blkx entries and,
 *   scaled, the number of elements; `maxNameBytes` each string
 * @param pieceBytes bytes handed to the XML parser at a time (tests make it small to put
 *   piece boundaries everywhere; the result does not depend on it)
 * @returns the value held by `<plist>`
 * @throws DmgError BUDGET_PLIST_BYTES, BUDGET_TABLES, BUDGET_NAME_BYTES, PLIST_MALFORMED,
 *   PLIST_DOCTYPE, PLIST_STRUCTURE, PLIST_BASE64
 */
export function parsePlistValue(
  xml: Uint8Array,
  fileOffset: number,
  budget: Budget,
  pieceBytes = PIECE_BYTES,
): PlistValue {
  return runSteps(plistValueSteps(xml, fileOffset, budget, pieceBytes));
}

/** {@link parsePlistValue} as steps, one per piece handed to the XML parser. */
function* plistValueSteps(
  xml: Uint8Array,
  fileOffset: number,
  budget: Budget,
  pieceBytes: number,
): Generator<void, PlistValue, void> {
  // Attack class A5 / B11: the plist is held whole, so its size is bounded before anything else.
  checkBudget(budget, "maxPlistBytes", xml.length, { offset: fileOffset });
  // Attack class B14: a NUL byte is never XML; saying so here gives its exact offset. Checked
  // a slice at a time, with a step between slices: a 128 MiB plist takes ~200 ms to scan.
  let ascii = true;
  for (let from = 0; from < xml.length; from += SCAN_BYTES) {
    const slice = xml.subarray(from, from + SCAN_BYTES);
    const nul = slice.indexOf(0);
    if (nul >= 0) {
      throw new DmgError(
        "PLIST_MALFORMED",
        `XML property list holds a NUL byte at ${at(fileOffset + from + nul)}`,
        fileOffset + from + nul,
      );
    }
    ascii &&= isAscii(slice);
    yield;
  }
  // Attack class B14: invalid UTF-8, refused before parsing so that where it lies does not
  // depend on which piece it falls in.
  const bad = ascii ? -1 : firstInvalidUtf8(xml);
  if (bad >= 0) {
    throw new DmgError(
      "PLIST_MALFORMED",
      `XML property list is not valid UTF-8 at ${at(fileOffset + bad)}`,
      fileOffset + bad,
    );
  }
  yield;
  return yield* buildTreeSteps(xml, fileOffset, budget, Math.max(1, Math.floor(pieceBytes)));
}

/**
 * Parse the XML property list of a UDIF image into its resource map.
 *
 * `resource-fork` (a dict) and its `blkx` (an array of dicts) are required; each blkx dict
 * needs a `Data` element; `ID` defaults to the entry's index, `Attributes` to 0, `Name` to "",
 * `CFName` to absent. Other resource types (plst, cSum, nsiz, size, ...) must have the same
 * shape and are kept in `other`. Other top-level keys are ignored.
 *
 * @param xml the property list bytes (UTF-8)
 * @param fileOffset file offset of `xml[0]`; each blkx `fileOffset` is the offset of its `<data>` element
 * @param budget `maxPlistBytes`, `maxTables` and `maxNameBytes` apply
 * @param pieceBytes as for {@link parsePlistValue}
 * @throws DmgError BUDGET_PLIST_BYTES, BUDGET_TABLES, BUDGET_NAME_BYTES, PLIST_MALFORMED,
 *   PLIST_DOCTYPE, PLIST_STRUCTURE, PLIST_BASE64
 */
export function parsePlist(
  xml: Uint8Array,
  fileOffset: number,
  budget: Budget,
  pieceBytes = PIECE_BYTES,
): ResourceMap {
  const root = parsePlistValue(xml, fileOffset, budget, pieceBytes);
  return resourceMap(root, budget);
}

/**
 * {@link parsePlist} that gives the event loop a turn between pieces and stops when `work`'s
 * signal fires (a 128 MiB property list takes seconds to parse).
 */
export async function parsePlistPaced(
  xml: Uint8Array,
  fileOffset: number,
  budget: Budget,
  work: Work,
): Promise<ResourceMap> {
  const root = await runPaced(plistValueSteps(xml, fileOffset, budget, PIECE_BYTES), work);
  return resourceMap(root, budget);
}
