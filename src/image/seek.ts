/**
 * Which decoder reads a compressed chunk: the image's codec (the fastest, node:zlib on Node),
 * which records and resumes index points itself when it can; else, for reads that start inside
 * the chunk, a codec that can.
 */

import type {
  ChunkCursor,
  Codec,
  DecodeContext,
  PointRecorder,
  ResumePoint,
} from "../codecs/codec.js";
import type { CodecTable } from "../codecs/registry.js";
import { DmgError } from "../core/errors.js";
import { chunkTypeName, SECTOR_SIZE } from "../format/types.js";
import type { ChunkIndex } from "./chunk-index.js";
import type { ReaderDeps } from "./reader.js";

/** Resuming at a point costs about as much as decoding this many bytes. */
export const RESUME_COST = 128 * 1024;

/** The image's codec for chunk `i`; CHUNK_TYPE_UNSUPPORTED when there is none. */
export function registeredCodec(codecs: CodecTable, index: ChunkIndex, i: number): Codec {
  const type = index.type[i];
  const codec = codecs.get(type);
  if (!codec) {
    const where = { table: index.table[i], chunk: index.tableChunk[i] };
    throw new DmgError(
      "CHUNK_TYPE_UNSUPPORTED",
      `table ${where.table} chunk ${where.chunk}: chunk type ${chunkTypeName(type)} cannot be decoded`,
      index.offset[i],
      where,
    );
  }
  return codec;
}

/** What a codec needs to decode chunk `i`, with `points` to offer the points it passes. */
export function chunkContext(
  deps: ReaderDeps,
  i: number,
  points: PointRecorder | undefined,
): DecodeContext {
  const { source, index, memory, buffers } = deps;
  const ctx: DecodeContext = {
    source,
    offset: index.offset[i],
    length: index.length[i],
    outputSize: index.sectorCount[i] * SECTOR_SIZE,
    memory,
    where: { table: index.table[i], chunk: index.tableChunk[i] },
  };
  if (points) ctx.points = points;
  if (buffers) ctx.buffers = buffers;
  return ctx;
}

/**
 * A cursor of `codec` at `point`, or at the chunk start. When resuming needs more working
 * memory than is left (a zlib snapshot is unpacked on the way), it starts at the chunk start:
 * a point never makes a read fail that would succeed without it.
 */
export function startCursor(codec: Codec, ctx: DecodeContext, point?: ResumePoint): ChunkCursor {
  if (!point) return codec.open(ctx);
  try {
    return codec.resume!(ctx, point);
  } catch (e) {
    if (!(e instanceof DmgError) || e.code !== "BUDGET_WORKING_MEMORY") throw e;
    return codec.open(ctx);
  }
}
