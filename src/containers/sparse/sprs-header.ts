/**
 * The sparse image (UDSP, `.sparseimage`) header: 4096-byte nodes, big-endian. The first node
 * starts the file ("sprs", version 3, sectors per band, total sectors, the offset of the next
 * node, a table of 1008 band numbers); further nodes ("sprs", node number, next offset, a table
 * of 1010 band numbers) are appended when the first table is full. Entry k of a node's table
 * describes the band stored at (node offset + 4096 + k x band size); its value is the disk band
 * it holds, counted from 1 (0: slot unused). Disk bands stored nowhere read as zeros.
 */
import { Cursor } from "../../bytes/cursor.js";
import { at, DmgError } from "../../core/errors.js";

export const SPRS_MAGIC = "sprs";
/** The only version hdiutil writes, and the only layout known. */
export const SPRS_VERSION = 3;
/** Bytes of each node (header or index node); its bands follow it. */
export const SPRS_NODE_SIZE = 4096;
/** Band table entries of the first node (from offset 64 to the end of the node). */
export const SPRS_HEADER_BANDS = 1008;
/** Band table entries of a further index node (from offset 56). */
export const SPRS_INDEX_BANDS = 1010;
export const SPRS_SECTOR_SIZE = 512;
/**
 * Largest band, in sectors: 2 GiB, far above the 1 MiB hdiutil writes by default, small enough
 * that every band offset of a file stays an exact integer.
 */
export const SPRS_MAX_SECTORS_PER_BAND = 1 << 22;
/** Largest disk, in sectors: byte offsets of every sector stay exact (as for UDIF tables). */
export const SPRS_MAX_SECTORS = 2 ** 44;

/** Where each field of the first node lies. */
export const SPRS_FIELD = Object.freeze({
  signature: 0,
  version: 4,
  sectorsPerBand: 8,
  flags: 12,
  totalSectorsLow: 16,
  nextNodeOffset: 20,
  totalSectors: 28,
  bandTable: 64,
});

/** Where each field of a further index node lies. */
export const SPRS_INDEX_FIELD = Object.freeze({
  signature: 0,
  nodeNumber: 4,
  flags: 8,
  nextNodeOffset: 12,
  bandTable: 56,
});

/** The first node of a sparse image. */
export interface SparseHeader {
  version: number;
  sectorsPerBand: number;
  flags: number;
  /** The low 32 bits of the disk size, as a field of its own. */
  totalSectorsLow: number;
  /** Disk size in sectors (the 64-bit field). */
  totalSectors: number;
  /** File offset of the next index node, 0 for none. */
  nextNodeOffset: number;
  /** Disk band numbers (from 1) of the band slots after this node; 0 = unused. */
  bands: Uint32Array;
}

/** A further index node. */
export interface SparseIndexNode {
  nodeNumber: number;
  flags: number;
  nextNodeOffset: number;
  bands: Uint32Array;
}

function malformed(message: string, offset: number): DmgError {
  return new DmgError("SPARSE_MALFORMED", message, offset);
}

function readBands(c: Cursor, count: number): Uint32Array {
  const bands = new Uint32Array(count);
  for (let i = 0; i < count; i++) bands[i] = c.u32();
  return bands;
}

export { isSparseImage } from "../magic.js";

/**
 * Parse the first node (the 4096 bytes at the start of the file). Checks the fields on their
 * own; the band table is checked against the file by the container.
 *
 * @throws DmgError SPARSE_MALFORMED, TRUNCATED, FIELD_TOO_LARGE
 */
export function parseSparseHeader(bytes: Uint8Array): SparseHeader {
  const c = new Cursor(bytes, 0, "sparse image header");
  if (bytes.length < SPRS_NODE_SIZE) {
    throw new DmgError(
      "TRUNCATED",
      `sparse image header is ${bytes.length} bytes; the format's first node is ${SPRS_NODE_SIZE}`,
      0,
    );
  }
  if (c.tag() !== SPRS_MAGIC) throw malformed("no 'sprs' signature at offset 0", 0);
  const version = c.u32();
  // A version other than 3 may lay its node out otherwise: nothing of it would be read right.
  if (version !== SPRS_VERSION) {
    throw malformed(
      `sparse image version ${version}; only version ${SPRS_VERSION} is known`,
      SPRS_FIELD.version,
    );
  }
  const sectorsPerBand = c.u32();
  // A zero band size would put every band at one offset (and divide by zero); a huge one
  // would make band offsets inexact.
  if (sectorsPerBand === 0 || sectorsPerBand > SPRS_MAX_SECTORS_PER_BAND) {
    throw malformed(
      `sectors per band is ${sectorsPerBand}; it must be 1..${SPRS_MAX_SECTORS_PER_BAND}`,
      SPRS_FIELD.sectorsPerBand,
    );
  }
  const flags = c.u32();
  const totalSectorsLow = c.u32();
  const nextNodeOffset = c.u64("next node offset");
  const totalSectors = c.u64("total sectors");
  // A disk past 2^44 sectors has byte offsets a double cannot hold exactly.
  if (totalSectors > SPRS_MAX_SECTORS) {
    throw malformed(
      `disk size ${totalSectors} sectors is beyond the 2^44 sectors a byte offset can address exactly`,
      SPRS_FIELD.totalSectors,
    );
  }
  // The two size fields of one header must agree while the size fits the 32-bit one: a file
  // whose low word says another size is damaged, or built to be read differently by readers
  // that use one field or the other. (Above 2^32 sectors what the short field holds is not
  // documented, so it is not judged.)
  if (totalSectors < 2 ** 32 && totalSectorsLow !== totalSectors) {
    throw malformed(
      `the header's two disk sizes disagree: ${totalSectors} sectors (64-bit field) and ${totalSectorsLow} (32-bit field at ${at(SPRS_FIELD.totalSectorsLow)})`,
      SPRS_FIELD.totalSectorsLow,
    );
  }
  c.pos = SPRS_FIELD.bandTable;
  const bands = readBands(c, SPRS_HEADER_BANDS);
  return { version, sectorsPerBand, flags, totalSectorsLow, totalSectors, nextNodeOffset, bands };
}

/**
 * Parse a further index node read at `fileOffset`.
 *
 * @throws DmgError SPARSE_MALFORMED, FIELD_TOO_LARGE
 */
export function parseSparseIndexNode(bytes: Uint8Array, fileOffset: number): SparseIndexNode {
  const c = new Cursor(bytes, fileOffset, "sparse image index node");
  // A next-node offset that lands anywhere but on a node would read band data as a table.
  if (c.tag() !== SPRS_MAGIC) {
    throw malformed(`no 'sprs' signature at the index node at ${at(fileOffset)}`, fileOffset);
  }
  const nodeNumber = c.u32();
  const flags = c.u32();
  const nextNodeOffset = c.u64("next node offset");
  c.pos = SPRS_INDEX_FIELD.bandTable;
  const bands = readBands(c, SPRS_INDEX_BANDS);
  return { nodeNumber, flags, nextNodeOffset, bands };
}
