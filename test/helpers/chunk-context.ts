/**
 * A decode context for one chunk whose compressed bytes sit at offset `at` of an in-memory
 * source, padded on both sides, so that codecs are tested with real file offsets in errors.
 */

import type { DecodeContext, PointRecorder } from "../../src/codecs/codec.js";
import type { ErrorLocation } from "../../src/core/errors.js";
import { MemoryMeter } from "../../src/core/limits.js";
import { bytesSource } from "../../src/sources/source.js";

export interface ChunkContextOptions {
  /** Offset of the compressed bytes in the source (default 0). */
  at?: number;
  /** Default: a 32 MiB meter. */
  memory?: MemoryMeter;
  /** Where errors say they are (default table 0, chunk 0). */
  where?: ErrorLocation;
  points?: PointRecorder;
}

/** The context for decoding `compressed` to `outputSize` bytes. */
export function chunkContext(
  compressed: Uint8Array,
  outputSize: number,
  options: ChunkContextOptions = {},
): DecodeContext {
  const at = options.at ?? 0;
  const all = new Uint8Array(at + compressed.length + 64).fill(0x5a);
  all.set(compressed, at);
  return {
    source: bytesSource(all),
    offset: at,
    length: compressed.length,
    outputSize,
    memory: options.memory ?? new MemoryMeter(32 * 1024 * 1024),
    where: options.where ?? { table: 0, chunk: 0 },
    points: options.points,
  };
}
