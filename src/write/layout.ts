/**
 * What the writer and the model builder share: growing a table's chunk entries, folding chunks
 * into a table's CRC32, serializing a table, and laying out everything after the data fork
 * (legacy resource fork, XML property list, koly trailer) with its checksums.
 */
import { crc32, crc32Zeros } from "../bytes/crc32.js";
import { type Checksum, crc32Checksum } from "../format/checksum.js";
import { KOLY_FLAG_FLATTENED, KOLY_SIZE, KOLY_VERSION, serializeKoly } from "../format/koly.js";
import { allocEntries, type MishEntries, serializeMish } from "../format/mish.js";
import { serializePlist } from "../format/plist-write.js";
import type { ResourceMap } from "../format/resources.js";
import { serializeResourceFork } from "../format/rsrc.js";
import { COMMENT, SECTOR_SIZE, TERMINATOR, UDIG, UDZE } from "../format/types.js";

/** Where the table descriptions go: the XML property list, the legacy resource fork, or both. */
export type ForkLayout = "xml" | "rsrc" | "both";

/** Comment chunk tags, as 32-bit big-endian ASCII: `+beg` opens a table's chunks, `+end` closes them. */
export const COMMENT_BEGIN = 0x2b626567;
export const COMMENT_END = 0x2b656e64;

/** mish block descriptors value of a table that describes the whole device. */
export const WHOLE_DEVICE = 0xfffffffe;

/** blkx resource attributes every real image carries. */
export const BLKX_ATTRIBUTES = 0x0050;

/** koly image variant of a device image. */
export const IMAGE_VARIANT_DEVICE = 1;

/** The chunk entries of one table, grown one at a time (typed arrays, no object per chunk). */
export class EntryList {
  entries: MishEntries;
  count = 0;
  /** Largest sector count of a data chunk (not comment or terminator) pushed so far. */
  maxChunkSectors = 0;

  /** @param capacity entries to allocate up front (the list doubles when it runs out) */
  constructor(capacity: number) {
    this.entries = allocEntries(Math.max(1, capacity));
  }

  /** Append one entry. Sector and offset fields are as stored: relative to the table. */
  push(
    type: number,
    comment: number,
    sector: number,
    sectors: number,
    offset: number,
    length: number,
  ): void {
    if (this.count === this.entries.type.length) this.grow();
    const e = this.entries;
    const i = this.count++;
    e.type[i] = type;
    e.comment[i] = comment;
    e.sector[i] = sector;
    e.sectorCount[i] = sectors;
    e.offset[i] = offset;
    e.length[i] = length;
    if (type !== COMMENT && type !== TERMINATOR && sectors > this.maxChunkSectors) {
      this.maxChunkSectors = sectors;
    }
  }

  private grow(): void {
    const old = this.entries;
    const next = allocEntries(old.type.length * 2);
    next.type.set(old.type);
    next.comment.set(old.comment);
    next.sector.set(old.sector);
    next.sectorCount.set(old.sectorCount);
    next.offset.set(old.offset);
    next.length.set(old.length);
    this.entries = next;
  }
}

/**
 * Continue a table's CRC32 with one chunk, the way readers verify it: ignore (UDIG) chunks are
 * left out, zero (UDZE) chunks count as `sectors` x 512 zero bytes, comments and terminators add
 * nothing, and any other chunk adds its decoded bytes (`decoded`, zero-padded to `sectors` x 512
 * when shorter).
 */
export function tableCrcUpdate(
  crc: number,
  type: number,
  sectors: number,
  decoded: Uint8Array | undefined,
): number {
  if (type === UDIG || type === COMMENT || type === TERMINATOR) return crc;
  const size = sectors * SECTOR_SIZE;
  if (type === UDZE || decoded === undefined) return crc32Zeros(size, crc);
  const used = decoded.length > size ? decoded.subarray(0, size) : decoded;
  return crc32Zeros(size - used.length, crc32(used, crc));
}

/**
 * The mish buffers-needed field for a table whose largest chunk has `maxChunkSectors` sectors:
 * real images carry 0x808 (2056) for 2048-sector chunks, that is the chunk's sectors plus 8.
 */
export function buffersNeeded(maxChunkSectors: number): number {
  return maxChunkSectors + 8;
}

/**
 * The mish block descriptors and blkx ID of table `index` of `count`: a lone table describes the
 * whole device (0xFFFFFFFE, ID 0); otherwise tables count from 0 and IDs from -1, as hdiutil
 * numbers a partition map followed by its partitions.
 */
export function tableNumbering(
  index: number,
  count: number,
): { blockDescriptors: number; id: number } {
  return count === 1
    ? { blockDescriptors: WHOLE_DEVICE, id: 0 }
    : { blockDescriptors: index, id: index - 1 };
}

/** The fields of one blkx entry besides its chunk entries; omitted ones get the usual values. */
export interface TableHeader {
  name: string;
  cfName?: string;
  /** blkx ID. Default: from {@link tableNumbering}. */
  id?: number;
  /** blkx Attributes. Default 0x0050. */
  attributes?: number;
  firstSector: number;
  sectorCount: number;
  dataOffset: number;
  checksum: Checksum;
  /** Default: from the largest chunk, see {@link buffersNeeded}. */
  buffersNeeded?: number;
  /** Default: from {@link tableNumbering}. */
  blockDescriptors?: number;
}

/** One serialized table, ready for the resource map. */
export interface TableBlob {
  name: string;
  id: number;
  attributes: number;
  cfName?: string;
  /** The mish block. */
  mish: Uint8Array;
  /** The table's checksum, for the master checksum. */
  checksum: Checksum;
}

/** Serialize table `index` of `count` (its header and entries) into a mish block. */
export function tableBlob(
  h: TableHeader,
  index: number,
  count: number,
  list: EntryList,
): TableBlob {
  const numbering = tableNumbering(index, count);
  const mish = serializeMish({
    firstSector: h.firstSector,
    sectorCount: h.sectorCount,
    dataOffset: h.dataOffset,
    buffersNeeded: h.buffersNeeded ?? buffersNeeded(list.maxChunkSectors),
    blockDescriptors: h.blockDescriptors ?? numbering.blockDescriptors,
    checksum: h.checksum,
    count: list.count,
    entries: list.entries,
  });
  return {
    name: h.name,
    id: h.id ?? numbering.id,
    attributes: h.attributes ?? BLKX_ATTRIBUTES,
    cfName: h.cfName,
    mish,
    checksum: h.checksum,
  };
}

/**
 * The master checksum: CRC32 over the concatenated checksum values of every table, in blkx order.
 * Each table contributes the meaningful bytes of its value (4 for a CRC32, none for a type-0
 * checksum), which is how 7-Zip verifies it.
 */
export function masterCrc(tables: ReadonlyArray<{ checksum: Checksum }>): number {
  let crc = 0;
  for (const t of tables)
    crc = crc32(t.checksum.value.subarray(0, Math.ceil(t.checksum.bits / 8)), crc);
  return crc;
}

/** What {@link imageTail} needs to know about the image. */
export interface TailInput {
  tables: TableBlob[];
  /** Resources besides blkx (plst, cSum, ...), copied into the map as given. */
  otherResources?: ResourceMap["other"];
  layout: ForkLayout;
  /** Length of the data fork, which starts at file offset 0. */
  dataForkLength: number;
  /** CRC32 of the data fork bytes, or undefined for an empty (type 0) checksum. */
  dataForkCrc: number | undefined;
  /** Write the master checksum (true) or an empty one (false). */
  masterChecksum: boolean;
  /** Virtual disk size in sectors, as the trailer states it. */
  sectorCount: number;
  /** Segment UUID as 32 hex digits; derived from the image's checksums when omitted. */
  segmentId?: string;
}

/** A stable segment UUID derived from what the image holds, so equal inputs give equal files. */
function deriveSegmentId(t: TailInput, master: number): string {
  const seed = new Uint8Array(16);
  const v = new DataView(seed.buffer);
  v.setUint32(0, master);
  v.setUint32(4, t.dataForkCrc ?? 0);
  v.setFloat64(8, t.dataForkLength * 65536 + t.sectorCount);
  const id = new Uint8Array(16);
  const out = new DataView(id.buffer);
  for (let i = 0; i < 4; i++) out.setUint32(i * 4, crc32(seed, Math.imul(0x9e3779b9, i + 1) >>> 0));
  id[6] = (id[6] & 0x0f) | 0x40; // RFC 4122 version 4 and variant bits, as real UUIDs carry
  id[8] = (id[8] & 0x3f) | 0x80;
  let s = "";
  for (const b of id) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * Everything after the data fork: `[resource fork][XML property list][koly]` (forks as `layout`
 * asks), with the trailer pointing at each part and carrying the data fork and master checksums.
 */
export function imageTail(t: TailInput): Uint8Array {
  const map: ResourceMap = {
    blkx: t.tables.map((b) => ({
      id: b.id,
      name: b.name,
      cfName: b.cfName,
      attributes: b.attributes,
      data: b.mish,
      fileOffset: 0,
    })),
    other: t.otherResources ?? [],
  };
  const rsrc = t.layout === "xml" ? new Uint8Array(0) : serializeResourceFork(map);
  const xml = t.layout === "rsrc" ? new Uint8Array(0) : serializePlist(map);
  const rsrcOffset = t.dataForkLength;
  const xmlOffset = rsrcOffset + rsrc.length;
  const master = masterCrc(t.tables);
  const koly = serializeKoly({
    version: KOLY_VERSION,
    headerSize: KOLY_SIZE,
    flags: KOLY_FLAG_FLATTENED,
    runningDataForkOffset: 0,
    dataForkOffset: 0,
    dataForkLength: t.dataForkLength,
    rsrcForkOffset: rsrc.length > 0 ? rsrcOffset : 0,
    rsrcForkLength: rsrc.length,
    segmentNumber: 1,
    segmentCount: 1,
    segmentId: t.segmentId ?? deriveSegmentId(t, master),
    dataForkChecksum: crc32Checksum(t.dataForkCrc),
    xmlOffset: xml.length > 0 ? xmlOffset : 0,
    xmlLength: xml.length,
    codeSignatureOffset: 0,
    codeSignatureLength: 0,
    masterChecksum: crc32Checksum(t.masterChecksum ? master : undefined),
    imageVariant: IMAGE_VARIANT_DEVICE,
    sectorCount: t.sectorCount,
  });
  const out = new Uint8Array(rsrc.length + xml.length + koly.length);
  out.set(rsrc, 0);
  out.set(xml, rsrc.length);
  out.set(koly, rsrc.length + xml.length);
  return out;
}
