/**
 * Measurements taken inside a process of their own (so that its peak RSS, taken by the
 * caller from the OS, is the measurement's alone). Prints one JSON object on standard output.
 *
 *   node bench/probe.js random IMAGE COUNT SEED [indexed]
 *                                                 COUNT reads of 4 KiB at random offsets; with
 *                                                 `indexed`, after one sequential pass (which
 *                                                 records the index points), else cold
 *   node bench/probe.js open IMAGE                open the image (parse every table)
 *   node bench/probe.js decode IMAGE CODEC MAX    decode chunks of CODEC (zlib, pako, bzip2,
 *                                                 lzfse, xz), up to MAX bytes out
 *   node bench/probe.js gap IMAGE                 validate the image from memory, through the
 *                                                 core (pako) and the Node entry, with a 10 ms
 *                                                 timer: its longest wait, in ms
 */

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { codecTable } from "../dist/codecs/registry.js";
import { zlibCodec } from "../dist/codecs/zlib/zlib.js";
import { MemoryMeter } from "../dist/core/limits.js";
import { sessionOf } from "../dist/image/image.js";
import { fileSource, NODE_CODECS, openDmg } from "../dist/node/index.js";
import { READ, randomOffsets } from "./measure.js";

/** The `q` quantile (0..1) of sorted `xs`. */
function quantile(xs, q) {
  return xs[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)];
}

/**
 * One sequential pass over the whole disk, as a user reading it through would make: it records
 * the index points. Returns its time and what the points hold.
 */
async function buildIndex(image) {
  const t0 = performance.now();
  for await (const _ of image.stream());
  const { points } = sessionOf(image);
  return {
    buildSeconds: (performance.now() - t0) / 1000,
    points: points.count,
    pointBytes: points.bytes,
  };
}

async function random(path, count, seed, indexed) {
  const image = await openDmg(path);
  const build = indexed ? await buildIndex(image) : {};
  const offsets = randomOffsets(image.size, count, seed);
  const times = [];
  const t0 = performance.now();
  for (const off of offsets) {
    const t = performance.now();
    const got = await image.read(off, READ);
    times.push(performance.now() - t);
    if (got.length !== READ) throw new Error(`short read at ${off}`);
  }
  const total = (performance.now() - t0) / 1000;
  await image.close();
  times.sort((a, b) => a - b);
  const [medianMs, p99Ms] = [quantile(times, 0.5), quantile(times, 0.99)];
  return { reads: count, medianMs, p99Ms, maxMs: times[times.length - 1], total, ...build };
}

async function openOnly(path) {
  const t0 = performance.now();
  const image = await openDmg(path);
  const seconds = (performance.now() - t0) / 1000;
  const chunks = image.chunkCount;
  await image.close();
  return { seconds, chunks };
}

/** Decode the chunks of one type through its codec alone (no extraction around it). */
async function decode(path, name, max) {
  const image = await openDmg(path);
  const src = await fileSource(path);
  const type = {
    zlib: 0x80000005,
    pako: 0x80000005,
    bzip2: 0x80000006,
    lzfse: 0x80000007,
    xz: 0x80000008,
  }[name];
  const codec = name === "pako" ? zlibCodec : (await codecTable([type], NODE_CODECS)).get(type);
  const memory = new MemoryMeter(64 * 1024 * 1024);
  let bytes = 0;
  let seconds = 0;
  for (const c of image.chunks()) {
    if (c.type !== type || bytes >= max) continue;
    const t = performance.now();
    const ctx = { source: src, offset: c.offset, length: c.length, memory, where: c };
    const cursor = codec.open({ ...ctx, outputSize: c.sectorCount * 512 });
    for (let p = await cursor.next(1 << 20); p.length > 0; p = await cursor.next(1 << 20)) {
      bytes += p.length;
    }
    cursor.close();
    seconds += (performance.now() - t) / 1000;
  }
  await src.close();
  await image.close();
  return { bytes, seconds };
}

/** The longest wait of a 10 ms interval timer while `work` runs, in milliseconds. */
async function longestGap(work) {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  // The timer's first ticks come late whatever runs: measure from later.
  await new Promise((resolve) => setTimeout(resolve, 50));
  longest = 0;
  last = performance.now();
  const t = performance.now();
  const ok = await work();
  clearInterval(timer);
  return {
    ok,
    gapMs: Math.max(longest, performance.now() - last),
    seconds: (performance.now() - t) / 1000,
  };
}

/**
 * Validation of the image held in memory, through the core and through the Node entry, of
 * this build or of the build whose dist/ is `dist` (to compare with an older one).
 */
async function gap(path, dist) {
  const from = (p) => pathToFileURL(join(dist ?? join(import.meta.dirname, "..", "dist"), p)).href;
  const core = await import(from("index.js"));
  const nodeEntry = await import(from("node/index.js"));
  const bytes = new Uint8Array(await readFile(path));
  const inCore = await longestGap(async () => (await core.validateDmg(bytes)).ok);
  const inNode = await longestGap(async () => (await nodeEntry.validateDmg(bytes)).ok);
  return { bytes: bytes.length, core: inCore, node: inNode };
}

const [what, path, a, b] = process.argv.slice(2);
const result =
  what === "random"
    ? await random(path, Number(a), Number(b), process.argv[6] === "indexed")
    : what === "open"
      ? await openOnly(path)
      : what === "gap"
        ? await gap(path, a)
        : await decode(path, a, Number(b));
process.stdout.write(`${JSON.stringify(result)}\n`);
