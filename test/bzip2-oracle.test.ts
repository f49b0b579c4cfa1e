/**
 * Our bzip2 decoder against seek-bzip (its test oracle: seek-bzip needs Node's Buffer, so it
 * cannot serve the browser-safe core) on streams made by the reference bzip2 encoder.
 */
import Bunzip from "seek-bzip";
import { describe, expect, it } from "vitest";
import { bzip2Codec } from "../src/codecs/bzip2/bzip2.js";
import { MemoryMeter } from "../src/core/limits.js";
import { bytesSource } from "../src/sources/source.js";
import { bzip2 } from "./helpers/prop-payloads.js";
import { requireTool } from "./helpers/reference.js";

async function ours(compressed: Uint8Array, size: number): Promise<Uint8Array> {
  const cursor = bzip2Codec.open({
    source: bytesSource(compressed),
    offset: 0,
    length: compressed.length,
    outputSize: size,
    memory: new MemoryMeter(32 << 20),
    where: { table: 0, chunk: 0 },
  });
  const out = new Uint8Array(size);
  let pos = 0;
  for (;;) {
    const piece = await cursor.next(1 << 20);
    if (piece.length === 0) break;
    out.set(piece, pos);
    pos += piece.length;
  }
  cursor.close();
  return out;
}

function inputs(): Array<[string, Uint8Array]> {
  let x = 99;
  const rnd = (n: number) =>
    Uint8Array.from({ length: n }, () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x >>> 24;
    });
  const text = new TextEncoder().encode(
    "the quick brown fox jumps over the lazy dog\n".repeat(60_000),
  );
  const runs = new Uint8Array(3_000_000);
  for (let i = 0; i < runs.length; i++) runs[i] = Math.floor(i / 1000) % 7 === 0 ? 0xaa : i % 251;
  return [
    ["random 1.5 MB", rnd(1_500_000)],
    ["text 2.6 MB", text],
    ["runs 3 MB", runs],
    ["one byte", Uint8Array.of(42)],
  ];
}

describe("bzip2 decoder vs seek-bzip", () => {
  for (const [name, data] of inputs()) {
    for (const level of [1, 9]) {
      it(`${name}, level ${level}`, async (ctx) => {
        requireTool("bzip2", ctx);
        const compressed = bzip2(data, level);
        const oracle = new Uint8Array(Bunzip.decode(Buffer.from(compressed)));
        const mine = await ours(compressed, data.length);
        expect(Buffer.compare(oracle, data)).toBe(0);
        expect(Buffer.compare(mine, oracle)).toBe(0);
      });
    }
  }
});
