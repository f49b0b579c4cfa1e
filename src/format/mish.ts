/**
 * The mish block (BLKX table): a 204-byte header followed by 40-byte chunk entries.
 * Each partition table of the virtual disk is one mish block, carried base64 in the XML
 * property list or raw in the legacy resource fork.
 */
import { Cursor, Writer } from "../bytes/cursor.js";
import { DmgError, type ErrorLocation } from "../core/errors.js";
import { runSteps } from "../core/work.js";
import { type Checksum, readChecksum, writeChecksum } from "./checksum.js";
import { CHUNK_TYPE_NAMES, COMMENT, TERMINATOR } from "./types.js";

export const MISH_MAGIC = "mish";
export const MISH_VERSION = 1;
export const MISH_HEADER_SIZE = 0xcc;
export const MISH_ENTRY_SIZE = 40;

/** The chunk entries of one table, as stored (sectors relative to the table, offsets relative to its data offset). */
export interface MishEntries {
  type: Uint32Array;
  comment: Uint32Array;
  sector: Float64Array;
  sectorCount: Float64Array;
  offset: Float64Array;
  length: Float64Array;
}

/** One parsed mish block. */
export interface MishTable {
  version: number;
  firstSector: number;
  sectorCount: number;
  dataOffset: number;
  buffersNeeded: number;
  blockDescriptors: number;
  checksum: Checksum;
  /** Number of entries, terminator and comments included. */
  count: number;
  entries: MishEntries;
}

/** Allocate entry arrays for `n` entries (callers have bounded `n` by the blob length). */
export function allocEntries(n: number): MishEntries {
  return {
    type: new Uint32Array(n),
    comment: new Uint32Array(n),
    sector: new Float64Array(n),
    sectorCount: new Float64Array(n),
    offset: new Float64Array(n),
    length: new Float64Array(n),
  };
}

/**
 * Parse a mish blob. `fileOffset` is where the blob (or, for XML, its <data> element) lies
 * in the file, for error messages.
 */
export function parseMish(blob: Uint8Array, fileOffset: number, where: ErrorLocation): MishTable {
  return runSteps(parseMishSteps(blob, fileOffset, where));
}

/** Entries parsed between two steps of {@link parseMishSteps} (~2 ms of work). */
const ENTRIES_PER_STEP = 16_384;

/**
 * {@link parseMish} as steps, for a caller that gives the event loop a turn between them: a
 * table of two million entries (80 MB, within the budget) takes ~300 ms to parse.
 */
export function* parseMishSteps(
  blob: Uint8Array,
  fileOffset: number,
  where: ErrorLocation,
): Generator<void, MishTable, void> {
  const fail = (msg: string, off = fileOffset): never => {
    throw new DmgError("MISH_MALFORMED", `table ${where.table}: ${msg}`, off, where);
  };
  // Attack class C15: dmg2img read a 204-byte header out of a 185-byte blob.
  if (blob.length < MISH_HEADER_SIZE) {
    fail(`mish blob is ${blob.length} bytes, shorter than its ${MISH_HEADER_SIZE}-byte header`);
  }
  const c = new Cursor(blob, fileOffset, `mish table ${where.table}`, "MISH_MALFORMED");
  try {
    if (c.tag() !== MISH_MAGIC) fail("signature is not 'mish'");
    const version = c.u32();
    if (version !== MISH_VERSION) fail(`version ${version}, only 1 is known`, fileOffset + 4);
    const firstSector = c.u64("first sector");
    const sectorCount = c.u64("sector count");
    const dataOffset = c.u64("data offset");
    const buffersNeeded = c.u32();
    const blockDescriptors = c.u32();
    c.skip(24);
    const checksum = readChecksum(c, `table ${where.table}`);
    const count = c.u32();
    // Attack class C15: 204 + 40 * count must be the blob length exactly. In C the product
    // wraps at count = 0x06666668; here it is computed exactly (count < 2^32, product < 2^38).
    const expected = MISH_HEADER_SIZE + MISH_ENTRY_SIZE * count;
    if (expected !== blob.length) {
      fail(`declares ${count} chunks (${expected} bytes) but the blob is ${blob.length} bytes`);
    }
    const entries = allocEntries(count);
    for (let i = 0; i < count; i++) {
      if (i % ENTRIES_PER_STEP === ENTRIES_PER_STEP - 1) yield;
      entries.type[i] = c.u32();
      entries.comment[i] = c.u32();
      entries.sector[i] = c.u64("chunk sector");
      entries.sectorCount[i] = c.u64("chunk sector count");
      entries.offset[i] = c.u64("chunk offset");
      entries.length[i] = c.u64("chunk length");
    }
    return {
      version,
      firstSector,
      sectorCount,
      dataOffset,
      buffersNeeded,
      blockDescriptors,
      checksum,
      count,
      entries,
    };
  } catch (e) {
    if (e instanceof DmgError && e.table === undefined) throw e.locate(where);
    throw e;
  }
}

/** True when a chunk type code is one the format defines. */
export function isKnownChunkType(type: number): boolean {
  return CHUNK_TYPE_NAMES.has(type);
}

/**
 * Check the entries' own layout (attack classes D18, D19, D23): known types, comments without
 * sectors, chunks contiguous and in order from sector 0 to the table's sector count, sector
 * arithmetic exact, and one terminator, last.
 */
export function checkMishLayout(t: MishTable, fileOffset: number, tableIndex: number): void {
  const e = t.entries;
  const where = (chunk: number) => ({ table: tableIndex, chunk });
  let next = 0;
  let terminated = false;
  for (let i = 0; i < t.count; i++) {
    const type = e.type[i];
    const sector = e.sector[i];
    const count = e.sectorCount[i];
    if (terminated) {
      throw new DmgError(
        "CHUNK_TERMINATOR",
        `table ${tableIndex} chunk ${i} follows the terminator`,
        fileOffset,
        where(i),
      );
    }
    if (!isKnownChunkType(type)) {
      throw new DmgError(
        "CHUNK_TYPE_UNKNOWN",
        `table ${tableIndex} chunk ${i} has unknown type 0x${type.toString(16).padStart(8, "0")}`,
        fileOffset,
        where(i),
      );
    }
    if (type === TERMINATOR) {
      terminated = true;
      continue;
    }
    if (type === COMMENT) {
      if (count !== 0) {
        throw new DmgError(
          "CHUNK_TERMINATOR",
          `table ${tableIndex} chunk ${i} is a comment claiming ${count} sectors`,
          fileOffset,
          where(i),
        );
      }
      continue;
    }
    // Attack class D18: sector + count must stay exact and its byte offset (x512) below 2^53.
    const end = sector + count;
    if (end > MAX_SECTOR) {
      throw new DmgError(
        "CHUNK_LAYOUT",
        `table ${tableIndex} chunk ${i} ends at sector ${end}, beyond the 2^44 sectors a byte offset can address exactly`,
        fileOffset,
        where(i),
      );
    }
    // Attack class D19: out of order, overlapping or gapped chunks.
    if (sector !== next) {
      throw new DmgError(
        "CHUNK_LAYOUT",
        `table ${tableIndex} chunk ${i} starts at sector ${sector}; the previous chunk ended at ${next}`,
        fileOffset,
        where(i),
      );
    }
    next = end;
  }
  if (!terminated) {
    throw new DmgError(
      "CHUNK_TERMINATOR",
      `table ${tableIndex} has no terminator chunk (type 0xffffffff)`,
      fileOffset,
      { table: tableIndex },
    );
  }
  if (next !== t.sectorCount) {
    throw new DmgError(
      "CHUNK_LAYOUT",
      `table ${tableIndex} chunks cover ${next} sectors but the table declares ${t.sectorCount}`,
      fileOffset,
      { table: tableIndex },
    );
  }
}

/** Largest sector number whose byte offset (x512) is still a safe integer. */
export const MAX_SECTOR = 2 ** 44;

/** Serialize a mish block (the writer's side). */
export function serializeMish(t: Omit<MishTable, "version"> & { version?: number }): Uint8Array {
  const w = new Writer(MISH_HEADER_SIZE + MISH_ENTRY_SIZE * t.count);
  w.tag(MISH_MAGIC).u32(t.version ?? MISH_VERSION);
  w.u64(t.firstSector).u64(t.sectorCount).u64(t.dataOffset);
  w.u32(t.buffersNeeded).u32(t.blockDescriptors).zeros(24);
  writeChecksum(w, t.checksum);
  w.u32(t.count);
  const e = t.entries;
  for (let i = 0; i < t.count; i++) {
    w.u32(e.type[i]).u32(e.comment[i]);
    w.u64(e.sector[i]).u64(e.sectorCount[i]).u64(e.offset[i]).u64(e.length[i]);
  }
  return w.finish();
}
