/**
 * The UDIF writer: turns a raw disk into a valid DMG image, streaming. Tests and fuzzers use it
 * to make images; `dmg-validate create` exposes it. It encodes zlib (UDZO), raw (UDRW), zero
 * (UDZE) and ignore (UDIG) chunks; {@link buildDmg} lays out anything else.
 */

import { crc32 } from "../bytes/crc32.js";
import { deflate } from "../codecs/zlib/pako.js";
import { DmgError } from "../core/errors.js";
import { progressOption } from "../core/options.js";
import { checkSignal, Work } from "../core/work.js";
import { crc32Checksum } from "../format/checksum.js";
import { COMMENT, SECTOR_SIZE, TERMINATOR, UDIG, UDRW, UDZE, UDZO, ULFO } from "../format/types.js";
import { type ByteSource, readExact, type SourceLike, toSource } from "../sources/source.js";
import {
  COMMENT_BEGIN,
  COMMENT_END,
  EntryList,
  type ForkLayout,
  imageTail,
  type TableBlob,
  tableBlob,
  tableCrcUpdate,
} from "./layout.js";
import { encodeLzfse } from "./lzfse-encode.js";

export { COMMENT_BEGIN, COMMENT_END, type ForkLayout, WHOLE_DEVICE } from "./layout.js";
export {
  buildDmg,
  type ChunkModel,
  type ImageModel,
  type TableModel,
} from "./model.js";

/** Where the writer puts the image's bytes, in order. */
export interface ByteSink {
  /** Append `bytes`. The writer does not touch `bytes` after handing them over. */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Optional: append `count` zero bytes without writing them (a hole in a sparse file), in
   * time independent of `count`. Sinks without it are given the zeros as bytes.
   */
  skip?(count: number): Promise<void>;
}

/** A compressor for one chunk: returns the compressed bytes (a zlib stream with header and adler). */
export type Deflater = (raw: Uint8Array, level: number) => Uint8Array | Promise<Uint8Array>;

/** A partition table of the image: `sectors` of the disk, in order. */
export interface PartitionSpec {
  /** blkx Name (and CFName), e.g. "Apple_HFS : 1". */
  name: string;
  /** Sectors in the table; the last table may give -1 for "the rest of the disk". */
  sectors: number;
}

/**
 * Chunk encodings the writer can produce: zlib (UDZO), raw (UDRW), or LZFSE (ULFO) as LZVN
 * blocks (the block kind 7-Zip reads; stored LZFSE blocks are not read by 7-Zip 26).
 */
export type WriteCodec = "zlib" | "raw" | "lzfse";

const CODEC_TYPES: Record<WriteCodec, number> = { zlib: UDZO, raw: UDRW, lzfse: ULFO };

/** How {@link writeDmg} encodes the image. */
export interface WriteOptions {
  /** Chunk encoding: "zlib" (UDZO, default), "raw" (UDRW) or "lzfse" (ULFO, LZVN blocks). */
  codec?: WriteCodec;
  /** Sectors per chunk, default 2048; must be >= 1. A table's last chunk may be shorter. */
  chunkSectors?: number;
  /** All-zero chunks become UDZE ("zero", default), UDIG ("ignore"), or are encoded like the rest ("none"). */
  zeroChunks?: "zero" | "ignore" | "none";
  /** Table descriptions in the XML property list (default), the legacy resource fork, or both. */
  layout?: ForkLayout;
  /** zlib level, -1 to 9, default 6. */
  level?: number;
  /**
   * Split the disk into tables, in order. Default: one table "whole disk (Apple_HFS : 0)".
   * The sizes must add up to the disk's sectors unless the last is -1.
   */
  partitions?: PartitionSpec[];
  /**
   * Give each table a data offset equal to the file offset of its first chunk, with its chunk
   * offsets relative to it, as some real images do. Default false (all data offsets 0).
   */
  tableDataOffsets?: boolean;
  /** CRC32 checksums in the trailer and every table (default true); false writes type-0 checksums. */
  checksums?: boolean;
  /** `+beg` / `+end` comment chunks around each table's chunks. Default false. */
  comments?: boolean;
  /** The zlib compressor. Default: pako's deflate (pure JS); Node callers may pass node:zlib's. */
  deflate?: Deflater;
  /** Called after each chunk with the input bytes consumed so far and the input size. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** Cancels the writing: it then fails with ABORTED (BUDGET_TIME for a timeout signal). */
  signal?: AbortSignal;
}

/** What {@link writeDmg} wrote. */
export interface WriteSummary {
  /** Bytes written to the sink. */
  fileSize: number;
  /** Virtual disk size in sectors (the input padded to whole sectors). */
  sectors: number;
  /** Partition tables (blkx entries). */
  tables: number;
  /** Data chunks over all tables (comments and terminators not counted). */
  chunks: number;
  /** Length of the data fork. */
  dataForkLength: number;
}

/** Name of the lone table of an image written without `partitions`. */
export const WHOLE_DISK_NAME = "whole disk (Apple_HFS : 0)";

/** Default sectors per chunk, as hdiutil writes. */
export const DEFAULT_CHUNK_SECTORS = 2048;

/** Largest chunk the writer accepts: 2 GiB of raw bytes. */
export const MAX_CHUNK_SECTORS = 4 * 1024 * 1024;

const defaultDeflate: Deflater = (raw, level) => deflate(raw, { level });

interface Resolved {
  codec: WriteCodec;
  chunkSectors: number;
  zeroChunks: "zero" | "ignore" | "none";
  layout: ForkLayout;
  level: number;
  tableDataOffsets: boolean;
  checksums: boolean;
  comments: boolean;
  deflate: Deflater;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /** The writing's pace and cancellation. */
  work: Work;
}

function bad(message: string): never {
  throw new DmgError("INVALID_ARGUMENT", message);
}

function oneOf<T extends string>(what: string, v: T | undefined, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (!allowed.includes(v)) bad(`${what} must be one of ${allowed.join(", ")}, not ${String(v)}`);
  return v;
}

function resolveOptions(o: WriteOptions): Resolved {
  const chunkSectors = o.chunkSectors ?? DEFAULT_CHUNK_SECTORS;
  if (!Number.isInteger(chunkSectors) || chunkSectors < 1 || chunkSectors > MAX_CHUNK_SECTORS) {
    bad(`chunkSectors must be an integer from 1 to ${MAX_CHUNK_SECTORS}, not ${chunkSectors}`);
  }
  const level = o.level ?? 6;
  if (!Number.isInteger(level) || level < -1 || level > 9) {
    bad(`level must be an integer from -1 to 9, not ${level}`);
  }
  if (o.deflate !== undefined && typeof o.deflate !== "function") bad("deflate must be a function");
  return {
    codec: oneOf("codec", o.codec, ["zlib", "raw", "lzfse"], "zlib"),
    chunkSectors,
    zeroChunks: oneOf("zeroChunks", o.zeroChunks, ["zero", "ignore", "none"], "zero"),
    layout: oneOf("layout", o.layout, ["xml", "rsrc", "both"], "xml"),
    level,
    tableDataOffsets: o.tableDataOffsets === true,
    checksums: o.checksums !== false,
    comments: o.comments === true,
    deflate: o.deflate ?? defaultDeflate,
    onProgress: progressOption(o, "onProgress"),
    work: new Work(checkSignal(o.signal)),
  };
}

function fitsResourceFork(name: string): boolean {
  if (name.length > 255) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0xff) return false;
  return true;
}

/** The tables' first sectors and sizes, checked to cover the disk exactly. */
function splitPartitions(
  parts: PartitionSpec[] | undefined,
  diskSectors: number,
  layout: ForkLayout,
): Array<{ name: string; first: number; sectors: number }> {
  const specs = parts ?? [{ name: WHOLE_DISK_NAME, sectors: -1 }];
  if (!Array.isArray(specs) || specs.length === 0) bad("partitions must be a non-empty array");
  const out: Array<{ name: string; first: number; sectors: number }> = [];
  let first = 0;
  specs.forEach((p, i) => {
    if (typeof p?.name !== "string") bad(`partition ${i} has no name`);
    // The legacy resource fork stores names as at most 255 Latin-1 bytes: refuse a name it
    // cannot hold now rather than after the whole data fork has been written.
    if (layout !== "xml" && !fitsResourceFork(p.name)) {
      bad(
        `partition ${i} name "${p.name}" does not fit the resource fork (255 Latin-1 characters)`,
      );
    }
    const last = i === specs.length - 1;
    let sectors = p.sectors;
    if (sectors === -1 && last) {
      sectors = diskSectors - first;
    } else if (!Number.isSafeInteger(sectors) || sectors < 1) {
      bad(
        `partition ${i} (${p.name}) has ${sectors} sectors; give a positive integer (or -1 for the last)`,
      );
    }
    if (first + sectors > diskSectors || sectors < 0) {
      bad(
        `partitions need ${first + Math.max(sectors, 0)} sectors but the disk has ${diskSectors}`,
      );
    }
    out.push({ name: p.name, first, sectors });
    first += sectors;
  });
  if (first !== diskSectors) {
    bad(
      `partitions cover ${first} sectors but the disk has ${diskSectors}; end with sectors: -1 for the rest`,
    );
  }
  return out;
}

function isAllZero(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** One chunk of the disk: `bytes` at input offset `offset`, the part past the input read as zeros. */
async function readChunk(src: ByteSource, offset: number, bytes: number): Promise<Uint8Array> {
  const have = Math.max(0, Math.min(bytes, src.size - offset));
  const got = await readExact(src, offset, have, "input disk");
  if (have === bytes) return got;
  const padded = new Uint8Array(bytes);
  padded.set(got);
  return padded;
}

async function compress(d: Resolved, raw: Uint8Array): Promise<Uint8Array> {
  let out: Uint8Array;
  try {
    out = await d.deflate(raw, d.level);
  } catch (e) {
    bad(`the deflate function failed: ${(e as Error)?.message ?? String(e)}`);
  }
  if (!(out instanceof Uint8Array)) bad("the deflate function did not return a Uint8Array");
  return out;
}

/** Counts what goes to the sink, and turns its failures into IO errors. */
class CountingSink {
  written = 0;
  constructor(private readonly sink: ByteSink) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    try {
      await this.sink.write(bytes);
    } catch (e) {
      throw new DmgError(
        "IO_ERROR",
        `writing ${bytes.length} bytes at offset ${this.written} of the image failed: ${(e as Error)?.message ?? String(e)}`,
        this.written,
      );
    }
    this.written += bytes.length;
  }
}

/**
 * Stream an image of the raw disk `input` into `sink`.
 *
 * The disk is `input` padded with zeros to whole 512-byte sectors (so an input whose size is not
 * a multiple of 512 gets its last sector zero-filled). Each chunk is read, encoded and handed to
 * the sink before the next is read, so memory holds one chunk's raw and encoded bytes plus the
 * tables' 40-byte entries; the resource fork, property list and trailer follow the data fork.
 *
 * @throws DmgError INVALID_ARGUMENT for bad options or a failing deflate function, IO_ERROR when
 *   the input cannot be read or the sink refuses bytes; ABORTED when `signal` fires. An
 *   `onProgress` that is not a function, or throws, is INVALID_ARGUMENT.
 */
export async function writeDmg(
  input: SourceLike,
  sink: ByteSink,
  options: WriteOptions = {},
): Promise<WriteSummary> {
  const d = resolveOptions(options);
  const src = toSource(input);
  const diskSectors = Math.ceil(src.size / SECTOR_SIZE);
  const parts = splitPartitions(options.partitions, diskSectors, d.layout);
  const out = new CountingSink(sink);
  const tables: TableBlob[] = [];
  let dataCrc = 0;
  let chunks = 0;

  for (const [index, part] of parts.entries()) {
    const n = Math.ceil(part.sectors / d.chunkSectors);
    const list = new EntryList(n + 1 + (d.comments ? 2 : 0));
    const dataOffset = d.tableDataOffsets ? out.written : 0;
    let crc = 0;
    if (d.comments) list.push(COMMENT, COMMENT_BEGIN, 0, 0, out.written - dataOffset, 0);
    for (let c = 0; c < n; c++) {
      await d.work.pace();
      const sector = c * d.chunkSectors;
      const sectors = Math.min(d.chunkSectors, part.sectors - sector);
      const inputOffset = (part.first + sector) * SECTOR_SIZE;
      const raw = await readChunk(src, inputOffset, sectors * SECTOR_SIZE);
      let type = CODEC_TYPES[d.codec];
      if (d.zeroChunks !== "none" && isAllZero(raw)) type = d.zeroChunks === "zero" ? UDZE : UDIG;
      const payload =
        type === UDZO
          ? await compress(d, raw)
          : type === ULFO
            ? encodeLzfse(raw, "lzvn")
            : type === UDRW
              ? raw
              : new Uint8Array(0);
      crc = tableCrcUpdate(crc, type, sectors, raw);
      list.push(type, 0, sector, sectors, out.written - dataOffset, payload.length);
      if (d.checksums) dataCrc = crc32(payload, dataCrc);
      await out.write(payload);
      chunks++;
      d.onProgress?.(Math.min(inputOffset + raw.length, src.size), src.size);
    }
    if (d.comments) list.push(COMMENT, COMMENT_END, part.sectors, 0, out.written - dataOffset, 0);
    list.push(TERMINATOR, 0, part.sectors, 0, out.written - dataOffset, 0);
    tables.push(
      tableBlob(
        {
          name: part.name,
          cfName: part.name,
          firstSector: part.first,
          sectorCount: part.sectors,
          dataOffset,
          checksum: crc32Checksum(d.checksums ? crc : undefined),
        },
        index,
        parts.length,
        list,
      ),
    );
  }

  const dataForkLength = out.written;
  await out.write(
    imageTail({
      tables,
      layout: d.layout,
      dataForkLength,
      dataForkCrc: d.checksums ? dataCrc : undefined,
      masterChecksum: d.checksums,
      sectorCount: diskSectors,
    }),
  );
  return {
    fileSize: out.written,
    sectors: diskSectors,
    tables: tables.length,
    chunks,
    dataForkLength,
  };
}

/**
 * Convenience: the whole image of the raw disk `input` in memory (see {@link writeDmg}; an input
 * whose size is not a multiple of 512 gets its last sector zero-filled).
 */
export async function writeDmgBytes(
  input: SourceLike | Uint8Array,
  options?: WriteOptions,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const summary = await writeDmg(
    input,
    {
      write: async (b) => {
        parts.push(b);
      },
    },
    options,
  );
  const image = new Uint8Array(summary.fileSize);
  let pos = 0;
  for (const p of parts) {
    image.set(p, pos);
    pos += p.length;
  }
  return image;
}
