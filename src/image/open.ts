/**
 * Opening an image: trailer, partition map, tables, chunk index; then range reads and streams
 * of the virtual disk with working memory bounded by the budget.
 */

import { loadCodecs } from "../codecs/registry.js";
import { DmgError, type Finding, warning } from "../core/errors.js";
import { type Budget, DecompressMeter, type MemoryMeter, resolveBudget } from "../core/limits.js";
import type { Checksum } from "../format/checksum.js";
import { checkKolyRanges, type Koly } from "../format/koly.js";
import { checkMishLayout, parseMish } from "../format/mish.js";
import { chunkTypeName, SECTOR_SIZE } from "../format/types.js";
import { type ByteSource, type SourceLike, toSource } from "../sources/source.js";
import { DecodedCache, SoftMeter } from "./cache.js";
import { buildChunkIndex, type ChunkIndex, findChunk, type LocatedTable } from "./chunk-index.js";
import { PointStore } from "./index-points.js";
import { locateKoly } from "./locate.js";
import { type MapLayout, readMap } from "./map.js";
import { ImageReader } from "./reader.js";

/** Options for {@link openDmg}. */
export interface OpenOptions {
  /** Budget overrides; the rest keep their defaults ({@link DEFAULT_BUDGET}). */
  budget?: Partial<Budget>;
}

/** One partition table (blkx entry) of the image. */
export interface PartitionTable {
  index: number;
  name: string;
  id: number;
  attributes: number;
  cfName?: string;
  firstSector: number;
  sectorCount: number;
  /** The table's data offset (added to every chunk's compressed offset). */
  dataOffset: number;
  /** CRC32 (or other checksum) of the table's decoded sectors, as stored. */
  checksum: Checksum;
  /** Entries stored in the table, terminator and comments included. */
  entryCount: number;
  /** Entries per chunk type name ("zlib", "zero", "terminator", ...). */
  histogram: Record<string, number>;
  /** File offset of the table's mish blob (for XML: of its <data> element). */
  fileOffset: number;
}

/** One data-bearing chunk, as plain data. */
export interface ChunkInfo {
  /** Index in the image's chunk table (disk order). */
  index: number;
  table: number;
  /** Entry number inside its table. */
  tableChunk: number;
  type: number;
  typeName: string;
  /** First sector on the virtual disk. */
  sector: number;
  sectorCount: number;
  /** File offset of the payload (0 for zero and ignore chunks). */
  offset: number;
  length: number;
}

/** What reading costs, so far, for this image. */
export interface ImageStats {
  /** Bytes decoded by codecs (including bytes decoded to be skipped). */
  bytesDecompressed: number;
  /** Highest tracked working memory, in bytes. */
  peakWorkingMemory: number;
}

/** An opened image. Methods may be called concurrently; reads are served one at a time. */
export interface DmgImage {
  /** Virtual disk size in bytes. */
  readonly size: number;
  /** Virtual disk size in sectors (sum of the tables). */
  readonly sectorCount: number;
  /** The trailer fields. */
  readonly koly: Koly;
  /** Which structures described the tables. */
  readonly layout: MapLayout;
  readonly tables: readonly PartitionTable[];
  /** Number of data-bearing chunks (comments and terminators left out). */
  readonly chunkCount: number;
  /** Honest quirks found while opening. */
  readonly warnings: readonly Finding[];
  /** The effective budget. */
  readonly budget: Readonly<Budget>;
  /** Chunk `i` in disk order. */
  chunk(i: number): ChunkInfo;
  /** All chunks in disk order. */
  chunks(): Iterable<ChunkInfo>;
  /** Chunk holding virtual byte `offset`, or undefined. */
  chunkAt(offset: number): ChunkInfo | undefined;
  /**
   * Exactly the bytes `[offset, offset + length)` of the virtual disk. The result counts against
   * the working-memory budget while it is built: use {@link DmgImage.stream} for large ranges.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  /**
   * The bytes of a range (default: the whole disk) as pieces of at most 1 MiB, in order. Each
   * piece is only valid until the next one is requested: copy what you keep.
   */
  stream(offset?: number, length?: number): AsyncIterable<Uint8Array>;
  /** A web ReadableStream of a range (pieces are copies, safe to keep). */
  readable(offset?: number, length?: number): ReadableStream<Uint8Array>;
  /** What reading has cost so far. */
  stats(): ImageStats;
  /** Release decoders and the source. */
  close(): Promise<void>;
  /** @internal The source, index and reader, for validation. */
  readonly internals: {
    source: ByteSource;
    index: ChunkIndex;
    reader: ImageReader;
    memory: MemoryMeter;
    /** Index points of the image's chunks and the decoded-data cache. */
    points: PointStore;
    cache: DecodedCache;
  };
}

/**
 * Open a UDIF image. Checks the whole structure (trailer, map, tables, chunk layout, budgets)
 * but decodes no chunk. Throws a {@link DmgError} for anything malformed or over budget.
 */
export async function openDmg(source: SourceLike, options: OpenOptions = {}): Promise<DmgImage> {
  const budget = resolveBudget(options.budget);
  const src = toSource(source);
  const warnings: Finding[] = [];
  const koly = await locateKoly(src, warnings);
  checkKolyRanges(koly, src.size);
  const { map, layout } = await readMap(src, koly, budget, warnings);
  // Attack class B12: a map without partition tables would read as an empty disk whatever the
  // trailer says (a resource fork whose 'blkx' type was renamed, an empty blkx array).
  if (map.blkx.length === 0) {
    throw new DmgError(
      layout === "rsrc" ? "RSRC_MALFORMED" : "PLIST_STRUCTURE",
      `the ${layout === "rsrc" ? "resource fork" : "property list"} holds no blkx (partition table) entries`,
      layout === "rsrc" ? koly.rsrcForkOffset : koly.xmlOffset,
    );
  }
  // Attack class B11: a million blkx entries.
  if (map.blkx.length > budget.maxTables) {
    throw new DmgError(
      "BUDGET_TABLES",
      `image has ${map.blkx.length} tables; the budget allows ${budget.maxTables} (raise maxTables)`,
    );
  }
  const located: LocatedTable[] = [];
  const tables: PartitionTable[] = [];
  /** Every chunk type code of the image, for the decoders to load. */
  const types = new Set<number>();
  let entries = 0;
  for (let t = 0; t < map.blkx.length; t++) {
    const res = map.blkx[t];
    const mish = parseMish(res.data, res.fileOffset, { table: t });
    entries += mish.count;
    // Entries (comments and terminators included) are bounded before more tables are parsed.
    if (entries > budget.maxChunks + 2 * budget.maxTables) {
      throw new DmgError(
        "BUDGET_CHUNKS",
        `tables hold more than ${entries} chunk entries; the budget allows ${budget.maxChunks} chunks (raise maxChunks)`,
        res.fileOffset,
        { table: t },
      );
    }
    checkMishLayout(mish, res.fileOffset, t);
    located.push({ mish, fileOffset: res.fileOffset });
    // Counted by type code (runs of one type cost one lookup), named once per type.
    const counts = new Map<number, number>();
    const type = mish.entries.type;
    for (let i = 0; i < mish.count; ) {
      let j = i + 1;
      while (j < mish.count && type[j] === type[i]) j++;
      counts.set(type[i], (counts.get(type[i]) ?? 0) + j - i);
      i = j;
    }
    const histogram: Record<string, number> = {};
    for (const [code, n] of counts) {
      const name = chunkTypeName(code);
      histogram[name] = (histogram[name] ?? 0) + n;
      types.add(code);
    }
    const table: PartitionTable = {
      index: t,
      name: res.name,
      id: res.id,
      attributes: res.attributes,
      firstSector: mish.firstSector,
      sectorCount: mish.sectorCount,
      dataOffset: mish.dataOffset,
      checksum: mish.checksum,
      entryCount: mish.count,
      histogram,
      fileOffset: res.fileOffset,
    };
    if (res.cfName !== undefined) table.cfName = res.cfName;
    tables.push(table);
  }
  const index = buildChunkIndex(located, koly, budget);
  await loadCodecs(types);
  // Attack class A8 and real files: one file in the wild states a sector count of 0.
  if (koly.sectorCount !== index.totalSectors) {
    warnings.push(
      warning(
        "SECTOR_COUNT_MISMATCH",
        `trailer states ${koly.sectorCount} sectors, the tables cover ${index.totalSectors}; the tables are used`,
        koly.fileOffset + 492,
      ),
    );
  }
  return makeImage(src, koly, layout, tables, index, budget, warnings);
}

function makeImage(
  src: ByteSource,
  koly: Koly,
  layout: MapLayout,
  tables: PartitionTable[],
  index: ChunkIndex,
  budget: Budget,
  warnings: Finding[],
): DmgImage {
  const memory = new SoftMeter(budget.maxWorkingMemory);
  // Soft memory, freed whenever an allocation would not fit otherwise: index points may use
  // half the budget, the decoded-data cache a sixteenth (2 MiB by default).
  const points = new PointStore(memory, Math.floor(budget.maxWorkingMemory / 2));
  const cache = new DecodedCache(memory, Math.floor(budget.maxWorkingMemory / 16));
  memory.addHolder(cache);
  memory.addHolder(points);
  const reader = new ImageReader(src, index, memory, { points, cache });
  const size = index.totalSectors * SECTOR_SIZE;
  let decompressed = 0;
  // One operation at a time: the open decoder is shared state.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  };
  const checkRange = (offset: number, length: number): void => {
    if (
      !Number.isSafeInteger(offset) ||
      !Number.isSafeInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > size
    ) {
      throw new DmgError(
        "READ_RANGE",
        `range [${offset}, ${offset + length}) is outside the ${size}-byte virtual disk`,
      );
    }
  };
  const chunk = (i: number): ChunkInfo => {
    if (!Number.isInteger(i) || i < 0 || i >= index.count) {
      throw new DmgError("INVALID_ARGUMENT", `chunk index ${i} is outside 0..${index.count - 1}`);
    }
    return {
      index: i,
      table: index.table[i],
      tableChunk: index.tableChunk[i],
      type: index.type[i],
      typeName: chunkTypeName(index.type[i]),
      sector: index.sector[i],
      sectorCount: index.sectorCount[i],
      offset: index.offset[i],
      length: index.length[i],
    };
  };
  // read() shares one reader, so a sequential run of reads continues one decoder; each stream
  // gets a reader of its own, so streams and reads may interleave freely.
  async function* pieces(
    r: ImageReader,
    offset: number,
    length: number,
  ): AsyncGenerator<Uint8Array> {
    checkRange(offset, length);
    const meter = new DecompressMeter(budget.maxDecompressedBytes);
    try {
      yield* r.pieces(offset, length, meter);
    } finally {
      decompressed += meter.total;
    }
  }
  async function* stream(offset = 0, length = size - offset): AsyncGenerator<Uint8Array> {
    const own = new ImageReader(src, index, memory, { points });
    try {
      yield* pieces(own, offset, length);
    } finally {
      own.closeOpen();
    }
  }
  const image: DmgImage = {
    size,
    sectorCount: index.totalSectors,
    koly,
    layout,
    tables,
    chunkCount: index.count,
    warnings,
    budget,
    chunk,
    *chunks() {
      for (let i = 0; i < index.count; i++) yield chunk(i);
    },
    chunkAt(offset: number) {
      if (!(offset >= 0 && offset < size)) return undefined;
      const lo = findChunk(index, Math.floor(offset / SECTOR_SIZE));
      return lo < 0 ? undefined : chunk(lo);
    },
    read(offset, length) {
      return serial(async () => {
        checkRange(offset, length);
        memory.acquire(length, "read result");
        try {
          const out = new Uint8Array(length);
          let pos = 0;
          for await (const piece of pieces(reader, offset, length)) {
            out.set(piece, pos);
            pos += piece.length;
          }
          return out;
        } finally {
          memory.release(length);
        }
      });
    },
    stream(offset, length) {
      return stream(offset, length);
    },
    readable(offset, length) {
      let it: AsyncGenerator<Uint8Array> | undefined;
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          it ??= stream(offset, length);
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value.slice());
        },
        async cancel() {
          await it?.return(undefined);
        },
      });
    },
    stats: () => ({ bytesDecompressed: decompressed, peakWorkingMemory: memory.peak }),
    async close() {
      await queue;
      reader.closeOpen();
      cache.clear();
      points.clear();
      await src.close?.();
    },
    internals: { source: src, index, reader, memory, points, cache },
  };
  return image;
}
