/**
 * The session of one opened image: everything reading it needs and owns, in one object. The
 * source, the chunk index, the resolved budget and its meters, the codec table fixed at open,
 * the pool of input buffers, index points, the decoded-data cache and the readers with an open
 * decoder. The public {@link DmgImage} is a thin class over it; validation, extraction and the
 * worker pool reach it through {@link sessionOf}, never through a public field.
 *
 * Calling contract: a session is made by `openDmg` and lives until `close()`, which closes
 * every decoder, drops the soft memory and closes the source; the meter is then back at zero.
 */
import { InputBuffers } from "../codecs/input.js";
import type { CodecTable } from "../codecs/registry.js";
import type { ContainerInfo } from "../containers/container.js";
import type { Finding } from "../core/errors.js";
import { type Budget, DecompressMeter } from "../core/limits.js";
import type { Koly } from "../format/koly.js";
import { SECTOR_SIZE } from "../format/types.js";
import type { ByteSource } from "../sources/source.js";
import { DecodedCache, SoftMeter } from "./cache.js";
import type { ChunkIndex } from "./chunk-index.js";
import { PointStore } from "./index-points.js";
import type { MapLayout } from "./map.js";
import { OpenReaders, type ReaderDeps } from "./reader.js";
import type { PartitionTable } from "./tables.js";

/** Most decoders of one image open at once (a stream read once and dropped holds one). */
export const MAX_OPEN_DECODERS = 8;

/** What opening found, that a session is made of. */
export interface Opened {
  source: ByteSource;
  /** What held the UDIF image: "UDIF" itself, or the containers around it. */
  container: ContainerInfo;
  koly: Koly;
  layout: MapLayout;
  tables: PartitionTable[];
  index: ChunkIndex;
  budget: Readonly<Budget>;
  codecs: CodecTable;
  warnings: Finding[];
}

/** One opened image's state. */
export interface Session extends Opened, ReaderDeps {
  readonly memory: SoftMeter;
  readonly buffers: InputBuffers;
  readonly points: PointStore;
  readonly cache: DecodedCache;
  readonly readers: OpenReaders;
  /** Virtual disk size in bytes. */
  readonly size: number;
  /** Bytes produced by the image's operations so far. */
  produced: number;
  closed: boolean;
}

/** A session over what opening found. */
export function newSession(o: Opened): Session {
  const limit = o.budget.maxWorkingMemory;
  const memory = new SoftMeter(limit);
  // Soft memory, freed whenever an allocation would not fit otherwise: the decoded-data cache
  // (a sixteenth of the budget, 2 MiB by default) first, then idle decoders, then index points
  // (up to half the budget).
  const cache = new DecodedCache(memory, Math.floor(limit / 16));
  const readers = new OpenReaders(memory, MAX_OPEN_DECODERS);
  const points = new PointStore(memory, Math.floor(limit / 2));
  memory.addHolder(cache);
  memory.addHolder(readers);
  memory.addHolder(points);
  return {
    ...o,
    memory,
    buffers: new InputBuffers(),
    points,
    cache,
    readers,
    size: o.index.totalSectors * SECTOR_SIZE,
    produced: 0,
    closed: false,
  };
}

/** A meter for one operation on the session's image (its output bounded by the file size). */
export function operationMeter(s: Session): DecompressMeter {
  return new DecompressMeter(s.budget, s.source.size);
}

/** Release everything the session holds; the source is closed by the caller. */
export function closeSession(s: Session): void {
  s.closed = true;
  s.readers.closeAll();
  s.cache.clear();
  s.points.clear();
  s.buffers.clear();
}
