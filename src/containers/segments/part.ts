/**
 * One part of a segmented set: a file ending in its own koly trailer, which numbers the part
 * and places its slice of the set's data fork.
 */
import { DmgError } from "../../core/errors.js";
import { KOLY_FIELD, KOLY_SIZE, type Koly, parseKoly } from "../../format/koly.js";
import { type ByteSource, readExact } from "../../sources/source.js";

/** A part read: its source, its name for messages, and its trailer. */
export interface Part {
  source: ByteSource;
  name: string;
  koly: Koly;
}

/**
 * Read the trailer in the last 512 bytes of `source` and check that the part's data fork lies
 * inside the part, before its trailer.
 */
export async function readPart(source: ByteSource, name: string): Promise<Part> {
  // Real-world case: a part whose copy or download stopped early has lost the trailer at its
  // end, so a missing trailer is reported as truncation (the likeliest cause), naming the part.
  if (source.size < KOLY_SIZE) {
    throw new DmgError(
      "SEGMENT_TRUNCATED",
      `${name} is ${source.size} bytes, too short for a part of a segmented set (a 512-byte trailer at least); it may be truncated`,
      0,
    );
  }
  const start = source.size - KOLY_SIZE;
  const tail = await readExact(source, start, KOLY_SIZE, `trailer of ${name}`);
  let koly: Koly;
  try {
    koly = parseKoly(tail, start);
  } catch (e) {
    if (e instanceof DmgError && e.code === "NOT_UDIF") {
      throw new DmgError(
        "SEGMENT_TRUNCATED",
        `${name} does not end in a koly trailer: it is truncated (an incomplete download or copy) or not a part of this set`,
        start,
      );
    }
    if (e instanceof DmgError) throw new DmgError(e.code, `${name}: ${e.message}`, e.offset);
    throw e;
  }
  // Attack class A6: a part whose trailer claims more data fork than the part holds would make
  // reads of the set run past the part (or into its own trailer).
  const end = koly.dataForkOffset + koly.dataForkLength;
  if (end > start) {
    throw new DmgError(
      "SEGMENT_TRUNCATED",
      `${name} holds ${start} bytes before its trailer, but its trailer places its data fork at [${koly.dataForkOffset}, ${end}); the part is truncated or its trailer is wrong`,
      start + KOLY_FIELD.dataForkLength,
    );
  }
  return { source, name, koly };
}
