/**
 * ChunkInput: a chunk's compressed bytes in bounded pieces, accounted as working memory, and
 * (for decoders that are done with a piece when they ask for the next) read into one buffer
 * that passes from chunk to chunk instead of a new one per piece.
 */
import { describe, expect, it } from "vitest";
import { ChunkInput, INPUT_PIECE, InputBuffers } from "../src/codecs/input.js";
import { MemoryMeter } from "../src/core/limits.js";
import { type ByteSource, bytesSource } from "../src/sources/source.js";

/** A source that copies into `into` when given one (as a file source does) and counts reads. */
function copyingSource(data: Uint8Array): ByteSource & { fresh: number } {
  const src = {
    size: data.length,
    fresh: 0,
    async read(offset: number, length: number, into?: Uint8Array) {
      if (into && into.length >= length) {
        into.set(data.subarray(offset, offset + length));
        return into.subarray(0, length);
      }
      src.fresh++;
      return data.slice(offset, offset + length);
    },
  };
  return src;
}

const data = new Uint8Array(3 * INPUT_PIECE + 1000).map((_, i) => (i * 7) ^ (i >> 9));

function ctx(
  source: ByteSource,
  offset: number,
  length: number,
  memory: MemoryMeter,
  buffers?: InputBuffers,
) {
  return { source, offset, length, outputSize: 1, memory, where: {}, buffers };
}

async function drain(input: ChunkInput): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  for (let p = await input.next(); p !== null; p = await input.next()) got.push(p.slice());
  return got;
}

describe("ChunkInput", () => {
  it("hands out every byte in pieces of at most INPUT_PIECE, and releases its memory", async () => {
    const memory = new MemoryMeter(8 * INPUT_PIECE);
    const input = new ChunkInput(ctx(bytesSource(data), 500, data.length - 500, memory));
    expect(memory.used).toBe(INPUT_PIECE);
    const got = await drain(input);
    expect(got.every((p) => p.length <= INPUT_PIECE)).toBe(true);
    expect(Buffer.compare(Buffer.concat(got), data.subarray(500))).toBe(0);
    input.close();
    expect(memory.used).toBe(0);
  });

  it("reuse: reads every piece into one buffer, passed on to the next chunk's input", async () => {
    const memory = new MemoryMeter(8 * INPUT_PIECE);
    const src = copyingSource(data);
    // The image's pool of spare buffers (one per image, never shared between images).
    const pool = new InputBuffers();
    const first = new ChunkInput(
      ctx(src, 0, 2 * INPUT_PIECE + 10, memory, pool),
      INPUT_PIECE,
      true,
    );
    const a = await first.next();
    const b = await first.next();
    expect(a?.buffer === b?.buffer).toBe(true);
    expect(Buffer.compare(b!, data.subarray(INPUT_PIECE, 2 * INPUT_PIECE))).toBe(0);
    const buffer = b!.buffer;
    await first.next();
    first.close();
    expect(memory.used).toBe(0);
    // A small chunk after it takes the spare buffer (accounted whole) rather than a new one.
    const second = new ChunkInput(ctx(src, 100, 300, memory, pool), INPUT_PIECE, true);
    expect(memory.used).toBe(INPUT_PIECE);
    const c = await second.next();
    expect(c?.buffer === buffer).toBe(true);
    expect(Buffer.compare(c!, data.subarray(100, 400))).toBe(0);
    expect(await second.next()).toBeNull();
    second.close();
    expect(src.fresh).toBe(0);
    // Another image's input, with a pool of its own, does not take this image's buffer.
    const other = new ChunkInput(ctx(src, 0, 10, memory, new InputBuffers()), INPUT_PIECE, true);
    expect((await other.next())?.buffer === buffer).toBe(false);
    other.close();
  });

  it("without reuse, pieces stay valid after the next one is read", async () => {
    const memory = new MemoryMeter(8 * INPUT_PIECE);
    const input = new ChunkInput(ctx(copyingSource(data), 0, data.length, memory));
    const a = await input.next();
    const b = await input.next();
    expect(a?.buffer === b?.buffer).toBe(false);
    expect(Buffer.compare(a!, data.subarray(0, INPUT_PIECE))).toBe(0);
    input.close();
  });
});
