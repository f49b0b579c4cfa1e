/**
 * The benchmark's inputs: a synthetic raw disk whose every byte is a function of its position
 * (so any range can be made on demand and the whole disk never sits in memory), its SHA-256,
 * and UDIF images of it made by the project's own writer.
 */
import { createCipheriv, createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { deflateSync } from "node:zlib";
import { writeDmg } from "../dist/write/writer.js";

/** The disk is made of segments of this size, each text-like, random or zero. */
const SEGMENT = 64 * 1024;
const SEGMENTS_PER_MIB = (1024 * 1024) / SEGMENT;

/** Words for the compressible, text-like segments. */
const WORDS = (
  "the of and to in is that for it as with was on be by this are from at or an not which " +
  "disk image sector chunk table partition volume block header trailer checksum data fork " +
  "resource offset length size count apple format zlib stream reader writer validate " +
  "budget memory file system directory catalog extent node record key value string number"
)
  .split(" ")
  .map((w) => new TextEncoder().encode(w));

/** A 32-bit integer hash (a murmur3-style finalizer); the same input always gives the same output. */
function mix32(x) {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * What segment `i` holds. One MiB in eight is all zeros (so the writer makes zero chunks);
 * otherwise a MiB mixes its 64 KiB segments: half text, a quarter random, a quarter zeros.
 *
 * @param {number} i segment index
 * @returns {"text" | "random" | "zero"}
 */
function segmentKind(i) {
  if (mix32(Math.floor(i / SEGMENTS_PER_MIB) ^ 0x9e3779b9) % 8 === 0) return "zero";
  const k = mix32(i) % 8;
  return k < 4 ? "text" : k < 6 ? "random" : "zero";
}

const KEY = new Uint8Array(16).fill(0x5a);
const ZEROS = new Uint8Array(SEGMENT);

/** Segment `i` of random bytes: the AES-128-CTR keystream at the segment's position. */
function randomSegment(i, into) {
  const iv = new Uint8Array(16);
  const block = (i * SEGMENT) / 16;
  new DataView(iv.buffer).setUint32(8, Math.floor(block / 2 ** 32));
  new DataView(iv.buffer).setUint32(12, block >>> 0);
  into.set(createCipheriv("aes-128-ctr", KEY, iv).update(ZEROS));
}

/** Text lines of {@link LINE} bytes, made once from the words: the text segments' material. */
const LINE = 32;
const LINES = (() => {
  const count = 4096;
  const text = new Uint8Array(count * LINE);
  let s = 0x2545f491;
  let p = 0;
  while (p < text.length) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const w = WORDS[(s >>> 0) % WORDS.length];
    for (let j = 0; j < w.length && p < text.length; j++) text[p++] = w[j];
    if (p < text.length) text[p++] = (s >>> 8) % 12 === 0 ? 10 : 32;
  }
  return Array.from({ length: count }, (_, i) => text.subarray(i * LINE, (i + 1) * LINE));
})();

/** Segment `i` of text: lines picked by a xorshift generator seeded by `i`. */
function textSegment(i, into) {
  let s = mix32(i ^ 0x1234567) | 1;
  for (let p = 0; p < into.length; p += LINE) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    into.set(LINES[(s >>> 0) % LINES.length], p);
  }
}

/**
 * The synthetic disk of `size` bytes as a `{ size, read(offset, length) }` source.
 *
 * @param {number} size
 * @returns {{ size: number, read(offset: number, length: number): Promise<Uint8Array> }}
 */
export function syntheticDisk(size) {
  const scratch = new Uint8Array(SEGMENT);
  return {
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      const end = offset + length;
      for (let i = Math.floor(offset / SEGMENT); i * SEGMENT < end; i++) {
        const kind = segmentKind(i);
        if (kind === "zero") continue;
        if (kind === "text") textSegment(i, scratch);
        else randomSegment(i, scratch);
        const from = Math.max(offset, i * SEGMENT);
        const to = Math.min(end, (i + 1) * SEGMENT);
        out.set(scratch.subarray(from - i * SEGMENT, to - i * SEGMENT), from - offset);
      }
      return out;
    },
  };
}

/**
 * SHA-256 (hex) of the whole of `disk`, read 4 MiB at a time.
 *
 * @param {{ size: number, read(offset: number, length: number): Promise<Uint8Array> }} disk
 */
export async function hashDisk(disk) {
  const h = createHash("sha256");
  const step = 4 * 1024 * 1024;
  for (let off = 0; off < disk.size; off += step) {
    h.update(await disk.read(off, Math.min(step, disk.size - off)));
  }
  return h.digest("hex");
}

/**
 * Write a zlib (UDZO) image of `disk` to `path` with `chunkSectors` sectors per chunk, using
 * node:zlib for compression. Returns the writer's summary.
 *
 * @param {{ size: number, read(offset: number, length: number): Promise<Uint8Array> }} disk
 * @param {string} path
 * @param {number} chunkSectors
 * @param {(done: number, total: number) => void} [onProgress]
 */
export async function writeImage(disk, path, chunkSectors, onProgress) {
  const fh = await open(path, "w");
  let position = 0;
  try {
    return await writeDmg(
      disk,
      {
        async write(bytes) {
          let done = 0;
          while (done < bytes.length) {
            const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position);
            done += bytesWritten;
            position += bytesWritten;
          }
        },
      },
      {
        codec: "zlib",
        chunkSectors,
        deflate: (raw, level) => deflateSync(raw, { level }),
        onProgress,
      },
    );
  } finally {
    await fh.close();
  }
}
