/**
 * How each container is told from the first and last bytes of a file: signatures only, so
 * that the registry tells them apart without loading any container's parser.
 */
import { isKolyAt, KOLY_FIELD, KOLY_SIZE } from "../format/koly.js";

function startsWith(b: Uint8Array, at: number, tag: string): boolean {
  if (at < 0 || b.length < at + tag.length) return false;
  for (let i = 0; i < tag.length; i++) if (b[at + i] !== tag.charCodeAt(i)) return false;
  return true;
}

/** An encrypted image of version 2: "encrcdsa" at offset 0. */
export function isEncrcdsa(head: Uint8Array): boolean {
  return startsWith(head, 0, "encrcdsa");
}

/** An encrypted image of version 1: "cdsaencr" in its last 8 bytes. */
export function isCdsaencr(tail: Uint8Array): boolean {
  return startsWith(tail, tail.length - 8, "cdsaencr");
}

/** A sparse image: "sprs" at offset 0. */
export function isSparseImage(head: Uint8Array): boolean {
  return startsWith(head, 0, "sprs");
}

/** One part of several of a segmented set: a koly trailer at the end with a count above 1. */
export function isSegmentPart(tail: Uint8Array): boolean {
  const at = tail.length - KOLY_SIZE;
  if (!isKolyAt(tail, at)) return false;
  const count = new DataView(tail.buffer, tail.byteOffset + at + KOLY_FIELD.segmentCount, 4);
  return count.getUint32(0) > 1;
}
