/**
 * What decoding one chunk comes to, for tests that compare two decoders of the same codec
 * (a WebAssembly build against the TypeScript one it was written from).
 */
import { expect } from "vitest";
import type { Codec } from "../../src/codecs/codec.js";
import { DmgError } from "../../src/core/errors.js";
import { MemoryMeter } from "../../src/core/limits.js";
import { chunkContext } from "./chunk-context.js";

/** The bytes a chunk decodes to, or the error (code, message, offset) it fails with. */
export type Outcome = { bytes: Uint8Array } | { code: string; message: string; offset: number };

/**
 * Decode `stream`, placed at offset `at` of its source, as one chunk of `size` bytes with
 * `codec`, in pieces of `max`; the working memory must all be given back either way.
 */
export async function outcome(
  codec: Codec,
  stream: Uint8Array,
  size: number,
  max = 70_000,
  at = 77,
): Promise<Outcome> {
  const memory = new MemoryMeter(32 * 1024 * 1024);
  const cursor = codec.open(chunkContext(stream, size, { at, memory }));
  const out = new Uint8Array(size);
  try {
    for (;;) {
      const piece = await cursor.next(max);
      if (piece.length === 0) break;
      out.set(piece, cursor.position - piece.length);
    }
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    expect(memory.used).toBe(0);
    return { code: e.code, message: e.message, offset: e.offset };
  }
  expect(memory.used).toBe(0);
  return { bytes: out };
}
