/**
 * From recipe to image: {@link materialize} makes each chunk's decoded bytes and payload,
 * {@link assemble} serializes the result through buildDmg and records where every chunk landed
 * and what disk a correct reader returns. Mutators edit the materialized spec and assemble it
 * again to make consistent hostile variants.
 */
import { type Checksum, crc32Checksum } from "../../src/format/checksum.js";
import { COMMENT, SECTOR_SIZE } from "../../src/format/types.js";
import {
  COMMENT_BEGIN,
  COMMENT_END,
  type ForkLayout,
  tableCrcUpdate,
} from "../../src/write/layout.js";
import { buildDmg, type ImageModel } from "../../src/write/model.js";
import { chunkKind, type DiskChunk, type ImageRecipe, type RangeRecipe } from "./arbitraries.js";

/** One table ready to assemble: its chunks (comments included) and header fields. */
export interface TableSpec {
  name: string;
  cfName?: string;
  chunks: DiskChunk[];
  dataOffset: number;
  checksum: boolean;
}

/** An image ready to assemble; mutators edit this to make hostile variants. */
export interface ImageSpec {
  layout: ForkLayout;
  tables: TableSpec[];
  dataForkChecksum: boolean;
  masterChecksum: boolean;
}

const payloadLength = (c: DiskChunk) => c.payload?.length ?? 0;

/** The chunks and payloads a recipe describes. */
export function materialize(r: ImageRecipe): ImageSpec {
  let pos = 0;
  const tables = r.tables.map((t) => {
    const chunks: DiskChunk[] = t.chunks.map((c) => chunkKind(c.kind).make(c));
    if (t.comments) {
      chunks.unshift({ type: COMMENT, sectors: 0, comment: COMMENT_BEGIN });
      chunks.push({ type: COMMENT, sectors: 0, comment: COMMENT_END });
    }
    // A data offset at or before where this table's payloads start (offsets are unsigned).
    const dataOffset = Math.floor((pos * t.dataOffsetPermille) / 1000);
    for (const c of chunks) pos += payloadLength(c);
    const spec: TableSpec = { name: t.name, chunks, dataOffset, checksum: t.checksum };
    if (t.cfName !== null) spec.cfName = t.cfName;
    return spec;
  });
  const { layout, dataForkChecksum, masterChecksum } = r;
  return { layout, tables, dataForkChecksum, masterChecksum };
}

/** A chunk where it landed: table, entry number, absolute sector, payload file offset. */
export interface PlacedChunk {
  chunk: DiskChunk;
  table: number;
  entry: number;
  /** First sector on the virtual disk (as laid out, before any override). */
  sector: number;
  /** File offset of the payload (where the next payload would go for chunks without one). */
  pos: number;
}

/** A serialized image with what a correct reader must make of it. */
export interface Built {
  spec: ImageSpec;
  model: ImageModel;
  image: Uint8Array;
  /** Virtual disk size in bytes. */
  size: number;
  /** Every entry, comments included, in table order. */
  placed: PlacedChunk[];
  /** Each table's first sector, sector count and CRC32 as laid out. */
  tables: Array<{ firstSector: number; sectorCount: number; crc: number }>;
  /** Data fork length (payloads only; the fork starts at file offset 0). */
  dataForkLength: number;
}

/** Serialize a spec through buildDmg, recording where every chunk landed. */
export function assemble(spec: ImageSpec): Built {
  const placed: PlacedChunk[] = [];
  const tables: Built["tables"] = [];
  const model: ImageModel = {
    layout: spec.layout,
    dataForkChecksum: spec.dataForkChecksum,
    masterChecksum: spec.masterChecksum,
    tables: [],
  };
  let pos = 0;
  let first = 0;
  spec.tables.forEach((t, ti) => {
    let rel = 0;
    let crc = 0;
    t.chunks.forEach((c, entry) => {
      placed.push({ chunk: c, table: ti, entry, sector: first + rel, pos });
      crc = tableCrcUpdate(crc, c.type, c.sectors, c.data);
      pos += payloadLength(c);
      if (c.type !== COMMENT) rel += c.sectors;
    });
    tables.push({ firstSector: first, sectorCount: rel, crc });
    const checksum: Checksum = crc32Checksum(t.checksum ? crc : undefined);
    model.tables.push({
      name: t.name,
      cfName: t.cfName,
      chunks: t.chunks,
      dataOffset: t.dataOffset,
      checksum,
    });
    first += rel;
  });
  const image = buildDmg(model);
  return { spec, model, image, size: first * SECTOR_SIZE, placed, tables, dataForkLength: pos };
}

/** Recipe to serialized image in one step. */
export function build(r: ImageRecipe): Built {
  return assemble(materialize(r));
}

/** The data-bearing chunks of a built image in disk order (what openDmg indexes). */
export function dataChunks(b: Built): PlacedChunk[] {
  return b.placed.filter((p) => p.chunk.type !== COMMENT && p.chunk.sectors > 0);
}

/** Bytes `[offset, offset + length)` of the disk a built image describes. */
export function expectedRange(b: Built, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (const p of dataChunks(b)) {
    const start = p.sector * SECTOR_SIZE;
    const end = start + p.chunk.sectors * SECTOR_SIZE;
    if (end <= offset || start >= offset + length || p.chunk.data === undefined) continue;
    const from = Math.max(start, offset);
    const to = Math.min(end, offset + length);
    out.set(p.chunk.data.subarray(from - start, to - start), from - offset);
  }
  return out;
}

/** The whole disk of a built image (small images only). */
export function expectedDisk(b: Built): Uint8Array {
  return expectedRange(b, 0, b.size);
}

/** Place a range recipe on a disk of `size` bytes whose chunks start at byte offsets `edges`. */
export function placeRange(size: number, edges: number[], r: RangeRecipe): [number, number] {
  let start: number;
  if (r.mode === "boundary") start = (edges[r.start % edges.length] ?? 0) + r.delta;
  else if (r.mode === "sector") start = (r.start % (size / SECTOR_SIZE + 1)) * SECTOR_SIZE;
  else if (r.mode === "tail") start = size - (r.start % 1024);
  else start = r.start % (size + 1);
  start = Math.min(size, Math.max(0, start));
  return [start, r.length % (size - start + 1)];
}

/** Place a range recipe on the disk of a built image: `[offset, length]` inside the disk. */
export function resolveRange(b: Built, r: RangeRecipe): [number, number] {
  return placeRange(
    b.size,
    dataChunks(b).map((p) => p.sector * SECTOR_SIZE),
    r,
  );
}
