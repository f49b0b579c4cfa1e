/**
 * The model-level builder: an image described chunk by chunk, with payloads made elsewhere
 * (bzip2, ADC, LZFSE, LZMA) or fields overridden to make deliberately odd or hostile layouts.
 * Tests and fuzzers use it; it shares the table, fork and trailer layout with the writer.
 */
import { crc32 } from "../bytes/crc32.js";
import { DmgError } from "../core/errors.js";
import { type Checksum, crc32Checksum } from "../format/checksum.js";
import type { ResourceMap } from "../format/resources.js";
import { COMMENT, SECTOR_SIZE, TERMINATOR } from "../format/types.js";
import {
  EntryList,
  type ForkLayout,
  imageTail,
  type TableBlob,
  tableBlob,
  tableCrcUpdate,
} from "./layout.js";

/** One chunk entry of a {@link TableModel}. */
export interface ChunkModel {
  /** Chunk type code (UDZO, UDBZ, UDZE, COMMENT, ...; any 32-bit value). */
  type: number;
  /** Sectors the chunk decodes to (0 for comments and terminators). */
  sectors: number;
  /** Compressed bytes as stored; omitted for zero, ignore, comment and terminator chunks. */
  payload?: Uint8Array;
  /** The entry's comment field (`+beg` / `+end` tags for comment chunks). Default 0. */
  comment?: number;
  /** Override: stored compressed offset (default: where the payload lands, relative to the table's data offset). */
  offset?: number;
  /** Override: stored compressed length (default: the payload's length). */
  length?: number;
  /** Override: stored sector, relative to the table (default: the sum of the chunks before). */
  sector?: number;
}

/** One partition table (blkx entry) of an {@link ImageModel}. */
export interface TableModel {
  /** blkx Name. */
  name: string;
  /** blkx ID. Default: 0 for a lone table, else -1, 0, 1, ... in order. */
  id?: number;
  /** blkx Attributes. Default 0x0050. */
  attributes?: number;
  /** blkx CFName. Default: none. */
  cfName?: string;
  chunks: ChunkModel[];
  /** mish data offset; chunk offsets are stored relative to it. Default 0. */
  dataOffset?: number;
  /** The table's checksum; null or omitted = CRC32 of `decoded` when given, else a type-0 checksum. */
  checksum?: Checksum | null;
  /** The table's decoded bytes (from its first sector), used to compute its CRC32. */
  decoded?: Uint8Array;
  /** Override: first sector on the disk (default: where the previous table ended). */
  firstSector?: number;
  /** Override: sector count (default: the sum of the chunks' sectors). */
  sectorCount?: number;
  /** Append a terminator entry after the chunks. Default true. */
  terminator?: boolean;
  /** Override: mish buffers needed (default: the largest chunk's sectors plus 8). */
  buffersNeeded?: number;
  /** Override: mish block descriptors (default: 0xFFFFFFFE for a lone table, else the table index). */
  blockDescriptors?: number;
}

/** A whole image for {@link buildDmg}. */
export interface ImageModel {
  tables: TableModel[];
  /** Where the tables are described. Default "xml". */
  layout?: ForkLayout;
  /** Store the data fork's CRC32 in the trailer (default true) or a type-0 checksum. */
  dataForkChecksum?: boolean;
  /** Store the master CRC32 in the trailer (default true) or a type-0 checksum. */
  masterChecksum?: boolean;
  /** Override: the trailer's sector count (default: the end of the last-ending table). */
  sectorCount?: number;
  /** Bytes appended after the koly trailer (so it is no longer the file's last 512 bytes). */
  extraTrailingBytes?: Uint8Array;
  /** Resources besides blkx (plst, cSum, nsiz, ...) to store in the forks. Default none. */
  otherResources?: ResourceMap["other"];
  /** Override: the segment UUID as 32 hex digits (default: derived from the content). */
  segmentId?: string;
}

function checkField(what: string, v: number | undefined): void {
  // Entries are stored as u64 and u32 fields: a fraction or NaN cannot be written.
  if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) {
    throw new DmgError("INVALID_ARGUMENT", `${what} is ${v}; give a non-negative integer`);
  }
}

/** Lay out one table's chunks from data fork position `pos`; returns the blob and the new position. */
function layTable(
  t: TableModel,
  index: number,
  count: number,
  firstSector: number,
  pos: number,
  payloads: Uint8Array[],
): { blob: TableBlob; pos: number; sectorCount: number } {
  const dataOffset = t.dataOffset ?? 0;
  checkField(`table ${index} data offset`, dataOffset);
  const list = new EntryList(t.chunks.length + 1);
  let sector = 0;
  let crc = 0;
  for (const [i, c] of t.chunks.entries()) {
    const where = `table ${index} chunk ${i}`;
    checkField(`${where} sectors`, c.sectors);
    checkField(`${where} offset`, c.offset);
    checkField(`${where} length`, c.length);
    checkField(`${where} sector`, c.sector);
    const payload = c.payload ?? new Uint8Array(0);
    const at = c.sector ?? sector;
    list.push(
      c.type,
      c.comment ?? 0,
      at,
      c.sectors,
      c.offset ?? pos - dataOffset,
      c.length ?? payload.length,
    );
    if (t.decoded !== undefined) {
      const from = Math.min(at * SECTOR_SIZE, t.decoded.length);
      const to = Math.min((at + c.sectors) * SECTOR_SIZE, t.decoded.length);
      crc = tableCrcUpdate(crc, c.type, c.sectors, t.decoded.subarray(from, to));
    }
    if (payload.length > 0) payloads.push(payload);
    pos += payload.length;
    if (c.type !== COMMENT && c.type !== TERMINATOR) sector += c.sectors;
  }
  if (t.terminator !== false) list.push(TERMINATOR, 0, sector, 0, pos - dataOffset, 0);
  const sectorCount = t.sectorCount ?? sector;
  let checksum = t.checksum ?? undefined;
  if (checksum === undefined) checksum = crc32Checksum(t.decoded !== undefined ? crc : undefined);
  const blob = tableBlob(
    {
      name: t.name,
      cfName: t.cfName,
      id: t.id,
      attributes: t.attributes,
      firstSector,
      sectorCount,
      dataOffset,
      checksum,
      buffersNeeded: t.buffersNeeded,
      blockDescriptors: t.blockDescriptors,
    },
    index,
    count,
    list,
  );
  return { blob, pos, sectorCount };
}

/**
 * Serialize a model: payloads laid out in the data fork in order (table by table, chunk by chunk),
 * entries, table CRCs, forks and trailer computed unless the model overrides them.
 *
 * @throws DmgError INVALID_ARGUMENT when a field cannot be stored (negative or not an integer).
 */
export function buildDmg(model: ImageModel): Uint8Array {
  const payloads: Uint8Array[] = [];
  const tables: TableBlob[] = [];
  let pos = 0;
  let nextSector = 0;
  let diskEnd = 0;
  for (const [index, t] of model.tables.entries()) {
    const first = t.firstSector ?? nextSector;
    checkField(`table ${index} first sector`, first);
    const laid = layTable(t, index, model.tables.length, first, pos, payloads);
    tables.push(laid.blob);
    pos = laid.pos;
    nextSector = first + laid.sectorCount;
    diskEnd = Math.max(diskEnd, nextSector);
  }
  let dataCrc = 0;
  for (const p of payloads) dataCrc = crc32(p, dataCrc);
  const sectorCount = model.sectorCount ?? diskEnd;
  checkField("image sector count", sectorCount);
  const tail = imageTail({
    tables,
    otherResources: model.otherResources,
    layout: model.layout ?? "xml",
    dataForkLength: pos,
    dataForkCrc: model.dataForkChecksum === false ? undefined : dataCrc,
    masterChecksum: model.masterChecksum !== false,
    sectorCount,
    segmentId: model.segmentId,
  });
  const extra = model.extraTrailingBytes ?? new Uint8Array(0);
  const image = new Uint8Array(pos + tail.length + extra.length);
  let at = 0;
  for (const p of payloads) {
    image.set(p, at);
    at += p.length;
  }
  image.set(tail, at);
  image.set(extra, at + tail.length);
  return image;
}
