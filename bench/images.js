/**
 * The benchmark's inputs: a synthetic raw disk whose every byte is a function of its position
 * (so any range can be made on demand and the whole disk never sits in memory), its SHA-256,
 * and UDIF images of it: zlib and LZFSE (LZVN) ones made by the project's own writer, bzip2
 * and XZ ones laid out like buildDmg does from payloads of the system `bzip2` and `xz`, one of
 * repeated Apple-encoded LZFSE chunks, and one with a million zero chunks.
 */
import { spawn } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { open, readFile } from "node:fs/promises";
import { deflateSync } from "node:zlib";
import { crc32 } from "../dist/bytes/crc32.js";
import { codecTable } from "../dist/codecs/registry.js";
import { MemoryMeter } from "../dist/core/limits.js";
import { crc32Checksum } from "../dist/format/checksum.js";
import { TERMINATOR, UDBZ, UDZE, ULFO, ULMO } from "../dist/format/types.js";
import { bytesSource } from "../dist/sources/source.js";
import { EntryList, imageTail, tableBlob, tableCrcUpdate } from "../dist/write/layout.js";
import { WHOLE_DISK_NAME, writeDmg } from "../dist/write/writer.js";

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
 * Write an image of `disk` to `path` with `chunkSectors` sectors per chunk: zlib (UDZO, the
 * default, compressed by node:zlib) or the writer's other codecs ("lzfse": LZVN blocks).
 * Returns the writer's summary.
 *
 * @param {{ size: number, read(offset: number, length: number): Promise<Uint8Array> }} disk
 * @param {string} path
 * @param {number} chunkSectors
 * @param {(done: number, total: number) => void} [onProgress]
 * @param {"zlib" | "lzfse"} [codec]
 */
export async function writeImage(disk, path, chunkSectors, onProgress, codec = "zlib") {
  return withFile(path, (sink) =>
    writeDmg(disk, sink, {
      codec,
      chunkSectors,
      deflate: (raw, level) => deflateSync(raw, { level }),
      onProgress,
    }),
  );
}

/** Run `fill` with a sink appending to a new file at `path`. */
async function withFile(path, fill) {
  const fh = await open(path, "w");
  let position = 0;
  try {
    return await fill({
      async write(bytes) {
        let done = 0;
        while (done < bytes.length) {
          const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position);
          done += bytesWritten;
          position += bytesWritten;
        }
      },
    });
  } finally {
    await fh.close();
  }
}

/**
 * The external compressors the benchmark makes images with, as the images Apple's tools make:
 * `bzip2 -9` for UDBZ, and for ULMO `xz` with no integrity check (hdiutil's XZ streams carry
 * none: the chunk checksums cover the data).
 */
export const TOOLS = {
  bzip2: { type: UDBZ, command: "bzip2", args: ["-9", "-c"] },
  xz: { type: ULMO, command: "xz", args: ["-6", "--check=none", "-T1", "-c"] },
};

/** `data` compressed by `tool` (one of {@link TOOLS}). */
function compressWith(tool, data) {
  return new Promise((resolve, reject) => {
    const child = spawn(tool.command, tool.args, { stdio: ["pipe", "pipe", "ignore"] });
    const parts = [];
    child.stdout.on("data", (b) => parts.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve(new Uint8Array(Buffer.concat(parts)))
        : reject(new Error(`${tool.command} exited with ${code}`)),
    );
    child.stdin.end(data);
  });
}

function allZero(b) {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Write an image of `disk` to `path` whose chunks are made by an external compressor (`tool`,
 * one of {@link TOOLS}): one chunk per 2048 sectors (1 MiB), two compressed at a time, all-zero
 * pieces as zero chunks. The writer encodes neither bzip2 nor XZ, so this is buildDmg's layout
 * (one table, then the XML property list and the trailer) with the payloads streamed to the
 * file as they come instead of held in memory.
 */
export async function writeToolImage(disk, path, tool, onProgress) {
  const piece = 2048 * 512;
  const count = Math.ceil(disk.size / piece);
  const pending = new Map();
  const start = (k) => {
    const job = disk.read(k * piece, Math.min(piece, disk.size - k * piece)).then(async (raw) => ({
      raw,
      payload: allZero(raw) ? undefined : await compressWith(tool, raw),
    }));
    job.catch(() => undefined);
    pending.set(k, job);
  };
  for (let k = 0; k < Math.min(2, count); k++) start(k);
  return writeStreamed(path, disk.size, 2048, tool.type, count, async (k) => {
    const job = await pending.get(k);
    pending.delete(k);
    if (k + 2 < count) start(k + 2);
    onProgress?.(k + 1, count);
    return job;
  });
}

/**
 * Write an image of `count` chunks of `type` that all carry the same `payload`, which decodes
 * to `raw` (a whole number of sectors): how the benchmark gets an image of LZFSE (`bvx2`)
 * chunks made by Apple's encoder, which no tool here can make.
 */
export function writeRepeatedImage(path, type, payload, raw, count) {
  const sectors = raw.length / 512;
  return writeStreamed(path, count * raw.length, sectors, type, count, async () => ({
    raw,
    payload,
  }));
}

/**
 * buildDmg's layout written as it comes: `count` chunks of `chunkSectors` sectors (the last
 * may be short), chunk `k` given by `next(k)` as `{ raw, payload }` (no payload: a zero
 * chunk), in one table, then the XML property list and the trailer.
 */
async function writeStreamed(path, size, chunkSectors, type, count, next) {
  const sectors = Math.ceil(size / 512);
  return withFile(path, async (sink) => {
    const list = new EntryList(count + 1);
    let pos = 0;
    let dataCrc = 0;
    let tableCrc = 0;
    for (let k = 0; k < count; k++) {
      const { raw, payload } = await next(k);
      const n = Math.min(chunkSectors, sectors - k * chunkSectors);
      const t = payload ? type : UDZE;
      list.push(t, 0, k * chunkSectors, n, pos, payload?.length ?? 0);
      tableCrc = tableCrcUpdate(tableCrc, t, n, raw);
      if (payload) {
        await sink.write(payload);
        dataCrc = crc32(payload, dataCrc);
        pos += payload.length;
      }
    }
    list.push(TERMINATOR, 0, sectors, 0, pos, 0);
    const header = {
      name: WHOLE_DISK_NAME,
      cfName: WHOLE_DISK_NAME,
      firstSector: 0,
      sectorCount: sectors,
    };
    const blob = tableBlob(
      { ...header, dataOffset: 0, checksum: crc32Checksum(tableCrc) },
      0,
      1,
      list,
    );
    const tail = imageTail({
      tables: [blob],
      layout: "xml",
      dataForkLength: pos,
      dataForkCrc: dataCrc,
      masterChecksum: true,
      sectorCount: sectors,
    });
    await sink.write(tail);
    return { chunks: count, fileSize: pos + tail.length };
  });
}

/** An image of `chunks` one-sector zero chunks (a sparse disk of `chunks` x 512 bytes). */
export function writeManyChunksImage(path, chunks) {
  const disk = { size: chunks * 512, read: async (_offset, length) => new Uint8Array(length) };
  return withFile(path, (sink) => writeDmg(disk, sink, { chunkSectors: 1 }));
}

/** Apple's reference encoder's `bvx2` vector and its raw SHA-256 (test/fixtures/lzfse/README.md). */
const APPLE_LZFSE = new URL("../test/fixtures/lzfse/mixed-3m.lzfse", import.meta.url);
const APPLE_LZFSE_SHA256 = "c14d286d5890d891a31a4a841750f9a90cab7d70d8909b61650c9781db43fc1c";

/**
 * A chunk made by Apple's LZFSE encoder: the `bvx2` payload of a 3 MiB mixed-content vector
 * and what it decodes to (by our decoder, checked against the vector's known SHA-256).
 *
 * @returns {Promise<{ payload: Uint8Array, raw: Uint8Array }>}
 */
export async function appleLzfseChunk() {
  const payload = new Uint8Array(await readFile(APPLE_LZFSE));
  const cursor = (await codecTable([ULFO])).get(ULFO).open({
    source: bytesSource(payload),
    offset: 0,
    length: payload.length,
    outputSize: 3 * 1024 * 1024,
    memory: new MemoryMeter(64 * 1024 * 1024),
    where: { table: 0, chunk: 0 },
  });
  const parts = [];
  for (let p = await cursor.next(1 << 20); p.length > 0; p = await cursor.next(1 << 20)) {
    parts.push(p.slice());
  }
  cursor.close();
  const raw = new Uint8Array(Buffer.concat(parts));
  const sha = createHash("sha256").update(raw).digest("hex");
  if (sha !== APPLE_LZFSE_SHA256) throw new Error(`the LZFSE vector decoded to ${sha}`);
  return { payload, raw };
}

/**
 * The chunks of `type` in the image `bytes` (held in memory): decode contexts' fields, their
 * payloads and their total output size.
 */
export async function chunksOfType(bytes, type) {
  const { openDmg } = await import("../dist/index.js");
  const image = await openDmg(bytes);
  const chunks = [];
  const payloads = [];
  let out = 0;
  for (const c of image.chunks()) {
    if (c.type !== type) continue;
    chunks.push({ offset: c.offset, length: c.length, outputSize: c.sectorCount * 512 });
    payloads.push(bytes.subarray(c.offset, c.offset + c.length));
    out += c.sectorCount * 512;
  }
  await image.close();
  return { chunks, payloads, out };
}

/**
 * Decode `chunks` (see {@link chunksOfType}) of the image `bytes` with `codec` through the codec
 * interface, one after another on this thread: output bytes, wall and CPU seconds.
 */
export async function decodeChunks(codec, bytes, chunks) {
  const source = bytesSource(bytes);
  const memory = new MemoryMeter(64 * 1024 * 1024);
  let out = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const c of chunks) {
    const cursor = codec.open({ source, memory, where: {}, ...c });
    for (let p = await cursor.next(1 << 20); p.length > 0; p = await cursor.next(1 << 20)) {
      out += p.length;
    }
    cursor.close();
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { bytes: out, wall, cpu: (cpu.user + cpu.system) / 1e6 };
}
