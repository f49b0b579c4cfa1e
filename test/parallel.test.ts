/**
 * Parallel extraction and validation on Node: the same bytes and the same first error as one
 * thread and as image.read, on images with several tables and every codec, with small, large
 * and tiny chunks; and a worker that cannot serve (the file changed) is survived.
 *
 * Worker threads run the built module (dist/), so this suite builds it when it is stale and
 * loads the library from there.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { SECTOR_SIZE, UDBZ, UDZO, ULMO } from "../src/format/types.js";
import { GcPacer } from "../src/node/gc-pacer.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { chunkKind, type DiskChunk } from "./helpers/arbitraries.js";
import { assemble, type Built, expectedDisk, type ImageSpec } from "./helpers/prop-build.js";
import { bzip2, fillContent, haveBzip2 } from "./helpers/prop-payloads.js";
import { requireTool } from "./helpers/reference.js";

type Lib = typeof import("../src/node/index.js");
type Parallel = typeof import("../src/node/parallel/parallel.js");
type Disk = typeof import("../src/node/io/write-disk.js");
type Image = typeof import("../src/image/image.js");
type WorkModule = typeof import("../src/core/work.js");
type LaneModule = typeof import("../src/node/parallel/parallel-worker.js");
type Registry = typeof import("../src/codecs/registry.js");
type Codecs = typeof import("../src/node/zlib/native-zlib-codec.js");
type Limits = typeof import("../src/core/limits.js");
type Input = typeof import("../src/codecs/input.js");
type Sources = typeof import("../src/sources/source.js");
type Pacer = typeof import("../src/node/gc-pacer.js");

const ROOT = join(import.meta.dirname, "..");
const MiB = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "dmg-parallel-"));
let lib: Lib;
let parallel: Parallel;
let disk: Disk;
let imageModule: Image;
let work: WorkModule;
let lanes: LaneModule;
let registry: Registry;
let codecs: Codecs;
let limits: Limits;
let input: Input;
let sources: Sources;
let pacerModule: Pacer;

/** Newest modification time of the sources. */
function newest(d: string): number {
  let t = 0;
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

beforeAll(async () => {
  const worker = join(ROOT, "dist", "node", "parallel", "parallel-thread.js");
  if (!existsSync(worker) || statSync(worker).mtimeMs < newest(join(ROOT, "src"))) {
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    spawnSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: ROOT });
  }
  const load = (...p: string[]) => import(pathToFileURL(join(ROOT, "dist", ...p)).href);
  lib = await load("node", "index.js");
  parallel = await load("node", "parallel", "parallel.js");
  disk = await load("node", "io", "write-disk.js");
  imageModule = await load("image", "image.js");
  work = await load("core", "work.js");
  lanes = await load("node", "parallel", "parallel-worker.js");
  registry = await load("codecs", "registry.js");
  codecs = await load("node", "zlib", "native-zlib-codec.js");
  limits = await load("core", "limits.js");
  input = await load("codecs", "input.js");
  sources = await load("sources", "source.js");
  pacerModule = await load("node", "gc-pacer.js");
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A chunk of `kind` holding `sectors` sectors of content from `seed`. */
function chunk(kind: string, sectors: number, seed: number): DiskChunk {
  const content = {
    seed,
    parts: [
      ["text", 3],
      ["random", 1],
      ["zeros", 1],
    ] as [never, number][],
  };
  if (kind !== "bzip2") return chunkKind(kind).make({ kind, sectors, level: 6, content });
  const data = fillContent(content, sectors * SECTOR_SIZE);
  return { type: UDBZ, sectors, data, payload: bzip2(data, 9) };
}

/** Three tables of 512 KiB chunks cycling through every codec: 15 MiB of disk. */
function mixedSpec(): ImageSpec {
  const kinds = ["zlib", "raw", "zero", "zlib", "adc", "ignore", "zlib"];
  if (haveBzip2()) kinds.push("bzip2");
  const tables = [0, 1, 2].map((t) => ({
    name: `part ${t}`,
    dataOffset: 0,
    checksum: true,
    chunks: Array.from({ length: 10 }, (_, c) =>
      chunk(kinds[(t * 10 + c) % kinds.length], 1024, t * 100 + c + 1),
    ),
  }));
  return { layout: "xml", tables, dataForkChecksum: true, masterChecksum: true };
}

/** Write `bytes` to a new file in the test directory. */
function file(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** Extract with `threads` threads; the output bytes, or the error as plain fields. */
async function extract(path: string, threads: number, budget = {}) {
  const out = join(dir, `out-${threads}.raw`);
  rmSync(out, { force: true });
  try {
    await lib.extractDmg(path, out, { threads, threadStart: "always", budget });
    return { bytes: readFileSync(out) };
  } catch (e) {
    if (!(e instanceof Error) || e.name !== "DmgError") throw e;
    const { code, message, offset, table, chunk: c } = e as InstanceType<Lib["DmgError"]>;
    return { error: { code, message, offset, table, chunk: c } };
  }
}

/** The whole disk through image.read. */
async function readAll(path: string): Promise<Uint8Array> {
  const image = await lib.openDmg(path, { budget: { maxWorkingMemory: 256 * MiB } });
  try {
    return await image.read(0, image.size);
  } finally {
    await image.close();
  }
}

/** Validation report without what depends on the thread count (memory held). */
async function report(path: string, threads: number) {
  const r = await lib.validateDmg(path, { threads });
  const { peakWorkingMemory: _, ...cost } = r.cost;
  return { ...r, cost };
}

describe("parallel extraction", () => {
  it("gives the same bytes as one thread and image.read, across tables and codecs", async () => {
    const built = assemble(mixedSpec());
    const path = file("mixed.dmg", built.image);
    const want = expectedDisk(built);
    const one = await extract(path, 1);
    expect(one.bytes && Buffer.compare(one.bytes, want)).toBe(0);
    for (const threads of [2, 3]) {
      const got = await extract(path, threads);
      expect(got.bytes && Buffer.compare(got.bytes, want)).toBe(0);
    }
    expect(Buffer.compare(await readAll(path), want)).toBe(0);
    expect(await report(path, 2)).toEqual(await report(path, 1));
  }, 60_000);

  it("streams chunks larger than a slab, and thousands of tiny chunks", async () => {
    const disk = fillContent(
      {
        seed: 9,
        parts: [
          ["text", 2],
          ["random", 1],
        ],
      },
      20 * MiB,
    );
    for (const chunkSectors of [12_000, 4]) {
      const image = await writeDmgBytes(disk, { chunkSectors, deflate: lib.nodeDeflate });
      const path = file(`chunks-${chunkSectors}.dmg`, image);
      const got = await extract(path, 2);
      expect(got.bytes && Buffer.compare(got.bytes, disk)).toBe(0);
    }
  }, 60_000);

  it("fails with the first error in disk order, as one thread does", async () => {
    const spec = mixedSpec();
    // Corrupt the last zlib chunk of the last table and, earlier on disk, the first zlib chunk
    // of the second: a lane may meet the later one first.
    const zlib = (t: number) =>
      spec.tables[t].chunks.flatMap((c, i) => (c.type === UDZO ? [i] : []));
    const bad = [
      [2, zlib(2).at(-1)!],
      [1, zlib(1)[0]],
    ];
    for (const [t, c] of bad) {
      const payload = spec.tables[t].chunks[c].payload!.slice();
      payload[payload.length >> 1] ^= 0xff;
      spec.tables[t].chunks[c] = { ...spec.tables[t].chunks[c], payload };
    }
    const path = file("corrupt.dmg", assemble(spec).image);
    const one = await extract(path, 1);
    expect(one.error).toMatchObject({ code: "DECODE_CORRUPT", table: 1, chunk: bad[1][1] });
    expect(await extract(path, 2)).toEqual(one);
    const r1 = await report(path, 1);
    const found = r1.errors.map((f) => [f.code, f.table, f.chunk]);
    expect(found).toContainEqual(["DECODE_CORRUPT", ...bad[0]]);
    expect(await report(path, 2)).toEqual(r1);
  }, 60_000);

  it("stops at the same byte when the decompression budget runs out", async () => {
    const path = file("budget.dmg", assemble(mixedSpec()).image);
    const budget = { maxDecompressedBytes: 4 * MiB };
    const one = await extract(path, 1, budget);
    expect(one.error?.code).toBe("BUDGET_DECOMPRESSED");
    expect(await extract(path, 2, budget)).toEqual(one);
  }, 60_000);

  it("reads the file it opened when another is renamed over its path", async () => {
    const built = assemble(mixedSpec());
    const path = file("swapped.dmg", built.image);
    const image = await lib.openDmg(path);
    try {
      // The path now names a different file of the same size; the workers read through the
      // descriptor this thread opened, so the output is still the first file's disk.
      renameSync(file("other.dmg", new Uint8Array(built.image.length)), path);
      const pieces: Uint8Array[] = [];
      const out = new disk.OverlappedWriter({
        write: async (p) => {
          pieces.push(p.slice());
        },
      });
      const s = imageModule.sessionOf(image);
      await disk.writeDisk(s, out, { threads: 2, start: "always", work: new work.Work() });
      await out.end();
      expect(Buffer.compare(Buffer.concat(pieces), expectedDisk(built))).toBe(0);
    } finally {
      await image.close();
    }
  }, 60_000);
});

/** `count` 512 KiB chunks of `kind` (XZ by the system `xz`, as hdiutil writes it). */
function codecImage(kind: string, count = 8): Built {
  const chunks = Array.from({ length: count }, (_, c) => {
    if (kind !== "xz") return chunk(kind, 1024, 40 + c);
    const data = fillContent(
      {
        seed: 40 + c,
        parts: [
          ["text", 3],
          ["random", 1],
        ],
      },
      1024 * 512,
    );
    const payload = execFileSync("xz", ["-c", "-6", "--check=none"], { input: data });
    return { type: ULMO, sectors: 1024, data, payload: new Uint8Array(payload) };
  });
  const tables = [{ name: kind, dataOffset: 0, checksum: true, chunks }];
  return assemble({ layout: "xml", tables, dataForkChecksum: true, masterChecksum: true });
}

describe("threads for every codec", () => {
  it.for(["zlib", "bzip2", "xz", "lzfse", "adc"])(
    "%s: the same bytes with 1 and 2 threads",
    { timeout: 60_000 },
    async (kind, t) => {
      if (kind === "bzip2" || kind === "xz") requireTool(kind, t);
      const built = codecImage(kind);
      const path = file(`codec-${kind}.dmg`, built.image);
      const want = expectedDisk(built);
      for (const threads of [1, 2]) {
        const got = await extract(path, threads);
        expect(got.error).toBeUndefined();
        expect(Buffer.compare(got.bytes!, want)).toBe(0);
      }
    },
  );

  it("counts each worker thread in the budget, and starts no pool a small budget cannot pay", async () => {
    // Two lanes need three shares of 8 MiB and one worker thread's heap.
    expect(parallel.lanesFor(32 * MiB, 2)).toBe(2);
    expect(parallel.lanesFor(32 * MiB - 1, 2)).toBeLessThan(2);
    expect(parallel.lanesFor(48 * MiB, 4)).toBe(3);
    // 12 MiB of disk: three tasks, enough for two lanes.
    const built = codecImage("adc", 24);
    const path = file("budget-lanes.dmg", built.image);
    for (const maxWorkingMemory of [20 * MiB, 32 * MiB]) {
      const image = await lib.openDmg(path, { budget: { maxWorkingMemory } });
      try {
        const s = imageModule.sessionOf(image);
        const pool = parallel.ChunkPool.start(s, { threads: 2, mode: "data" });
        if (maxWorkingMemory < 32 * MiB) expect(pool).toBeUndefined();
        else {
          expect(pool).toBeDefined();
          // The lanes' shares and the worker's heap are held, within the budget.
          expect(s.memory.used).toBeGreaterThanOrEqual(parallel.WORKER_COST + 16 * MiB);
          expect(s.memory.used).toBeLessThanOrEqual(maxWorkingMemory);
          await pool!.close();
        }
        expect(s.memory.used).toBeLessThan(8 * MiB);
      } finally {
        await image.close();
      }
      // Refused lanes or not, two threads give the disk.
      const got = await extract(path, 2, { maxWorkingMemory });
      expect(Buffer.compare(got.bytes!, expectedDisk(built))).toBe(0);
    }
  }, 60_000);
});

describe("the collection pacer", () => {
  it("collects once dead buffers pass its slack, and not while they do not", () => {
    // The process's own collection: the CLI hands the pacers one at start-up.
    const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
    const pacer = new GcPacer(MiB, gc);
    expect(pacer.check()).toBe(false);
    let garbage: Uint8Array[] | undefined = Array.from({ length: 4 }, () => new Uint8Array(MiB));
    expect(garbage.length).toBe(4);
    garbage = undefined;
    expect(pacer.check()).toBe(true);
    // The next check takes the new floor; without new buffers, no collection follows.
    expect(pacer.check()).toBe(false);
    expect(pacer.check()).toBe(false);
  });

  it("collects in the command's own process, never in a library caller's thread", async () => {
    const path = file("pacer.dmg", codecImage("lzfse", 24).image);
    const pacer = pacerModule.threadPacer();
    const before = pacer.checks;
    await lib.extractDmg(path, join(dir, "pacer.raw"), { threads: 1 });
    expect(pacer.checks).toBe(before);
    const image = await lib.openDmg(path);
    try {
      const out = new disk.OverlappedWriter({ write: async () => {} });
      const s = imageModule.sessionOf(image);
      await disk.writeDisk(s, out, { threads: 1, work: new work.Work(), collectGarbage: true });
      await out.end();
    } finally {
      await image.close();
    }
    // Consulted after each of the 24 chunks.
    expect(pacer.checks - before).toBe(24);
  }, 60_000);
});

describe("the pool of lanes", () => {
  it.each(["crc", "data"] as const)(
    "hands over every chunk in disk order (%s)",
    async (mode) => {
      const path = file(`pool-${mode}.dmg`, assemble(mixedSpec()).image);
      const fileBytes = readFileSync(path);
      const image = await lib.openDmg(path, { budget: { maxWorkingMemory: 64 * MiB } });
      try {
        const pool = parallel.ChunkPool.start(imageModule.sessionOf(image), { threads: 3, mode });
        expect(pool).toBeDefined();
        let taken = 0;
        for (const c of image.chunks()) {
          const pieces: Uint8Array[] = [];
          const got = await pool!.take(c.index, async (p) => {
            pieces.push(p.slice());
          });
          if (!got.done) continue;
          taken++;
          const bytes = await image.read(c.sector * SECTOR_SIZE, c.sectorCount * SECTOR_SIZE);
          // Decompressed bytes, as the budget counts them: raw chunks count none.
          const decoded = c.typeName === "raw" ? 0 : bytes.length;
          const crc = mode === "crc" ? crc32(bytes) : 0;
          // The payload's CRC32 as stored, from the lane's own reads (the data fork's CRC32
          // is joined from these instead of reading the file a second time).
          const stored =
            mode === "crc" ? crc32(fileBytes.subarray(c.offset, c.offset + c.length)) : undefined;
          expect(got).toEqual({ done: true, crc, bytes: decoded, stored });
          if (mode === "data") expect(Buffer.compare(Buffer.concat(pieces), bytes)).toBe(0);
        }
        await pool!.close();
        // Every chunk but the zero and ignore ones came from the lanes, workers included.
        const zeros = [...image.chunks()].filter((c) => ["zero", "ignore"].includes(c.typeName));
        expect(taken).toBe(image.chunkCount - zeros.length);
      } finally {
        await image.close();
      }
    },
    60_000,
  );
});

/**
 * A 1 MiB zlib chunk, then an 8 MiB bzip2 chunk that is a task of its own: the second lane
 * spends a second or more on it, the first is done with its chunk in milliseconds.
 */
let slow: Uint8Array | undefined;
function slowImage(): Uint8Array {
  if (slow) return slow;
  const data = fillContent(
    {
      seed: 5,
      parts: [
        ["text", 1],
        ["random", 1],
      ],
    },
    8 * MiB,
  );
  const big: DiskChunk = {
    type: UDBZ,
    sectors: data.length / SECTOR_SIZE,
    data,
    payload: bzip2(data, 9),
  };
  const tables = [
    { name: "slow", dataOffset: 0, checksum: true, chunks: [chunk("zlib", 2048, 3), big] },
  ];
  slow = assemble({ layout: "xml", tables, dataForkChecksum: false, masterChecksum: true }).image;
  return slow;
}

/** The reason AbortSignal.timeout gives. */
const deadline = () => new DOMException("The operation was aborted due to timeout", "TimeoutError");

describe.runIf(haveBzip2())("cancellation of parallel decoding", () => {
  it("stops waiting for a lane when the deadline passes, and reports BUDGET_TIME", async () => {
    const path = file("slow-validate.dmg", slowImage());
    const controller = new AbortController();
    let fired = false;
    // The deadline passes once the first chunk is in: the consumer is then waiting for the
    // second, which its lane needs a second or more for.
    const onProgress = (done: number) => {
      if (done > 0 && !fired) {
        fired = true;
        setTimeout(() => controller.abort(deadline()), 0);
      }
    };
    const r = await lib.validateDmg(path, { threads: 2, signal: controller.signal, onProgress });
    expect(r.errors.map((f) => [f.code, f.chunk])).toEqual([["BUDGET_TIME", 1]]);
    // Stopped before the second chunk: its lane's result was not waited for.
    expect(r.cost.chunksDecoded).toBe(1);
    expect(r.cost.bytesDecompressed).toBeLessThanOrEqual(MiB);
  }, 60_000);

  it("stops within AbortSignal.timeout, well before the end", async () => {
    const path = file("slow-timeout.dmg", slowImage());
    const r = await lib.validateDmg(path, { threads: 2, signal: AbortSignal.timeout(200) });
    expect(r.errors[0]?.code).toBe("BUDGET_TIME");
    // Two chunks, one a second or more of decoding: never both within 200 ms.
    expect(r.cost.chunksDecoded).toBeLessThan(2);
  }, 60_000);

  it.each(["crc", "data"] as const)(
    "take() fails with the signal's code while a lane works (%s)",
    async (mode) => {
      const path = file(`slow-pool-${mode}.dmg`, slowImage());
      const image = await lib.openDmg(path);
      try {
        const controller = new AbortController();
        const s = imageModule.sessionOf(image);
        const pool = parallel.ChunkPool.start(s, { threads: 2, mode, signal: controller.signal });
        expect(pool).toBeDefined();
        let bytes = 0;
        const onPiece = async (p: Uint8Array) => {
          bytes += p.length;
        };
        expect(await pool!.take(0, onPiece)).toMatchObject({ done: true });
        const second = pool!.take(1, onPiece);
        if (mode === "crc") controller.abort(deadline());
        else controller.abort();
        const code = mode === "crc" ? "BUDGET_TIME" : "ABORTED";
        await expect(second).rejects.toMatchObject({ code, offset: s.index.offset[1] });
        // At most the piece in hand when the signal fired, never the whole chunk.
        expect(bytes).toBeLessThan(MiB + 8 * MiB);
        await pool!.close();
      } finally {
        await image.close();
      }
    },
    60_000,
  );

  it("an extract aborted while lanes decode bzip2 leaves no output and no temporary file", async () => {
    const path = file("slow-extract.dmg", slowImage());
    const outDir = mkdtempSync(join(dir, "abort-"));
    const out = join(outDir, "disk.raw");
    const controller = new AbortController();
    // Abort once the first chunk is written: the lanes are then in the 8 MiB bzip2 chunk.
    const onProgress = (done: number) => {
      if (done > 0) controller.abort();
    };
    const run = lib.extractDmg(path, out, {
      threads: 2,
      threadStart: "always",
      signal: controller.signal,
      onProgress,
    });
    await expect(run).rejects.toMatchObject({ code: "ABORTED" });
    expect(controller.signal.aborted).toBe(true);
    expect(readdirSync(outDir)).toEqual([]);
  }, 60_000);

  it("a lane in this thread stops in the middle of a chunk", async () => {
    const bytes = slowImage();
    const image = await lib.openDmg(bytes);
    try {
      const ix = imageModule.sessionOf(image).index;
      const fields = [
        1,
        ix.type[1],
        ix.table[1],
        ix.tableChunk[1],
        ix.sectorCount[1],
        ix.offset[1],
        ix.length[1],
      ];
      const deps = {
        source: sources.bytesSource(bytes),
        memory: new limits.MemoryMeter(32 * MiB),
        codecs: await registry.loadCodecs(codecs.NODE_CODECS),
        buffers: new input.InputBuffers(),
      };
      const records: number[] = [];
      const config = { mode: "crc" as const, memory: 32 * MiB, slab: MiB, slabs: 3 };
      const lane = new lanes.Lane(deps, config, (b) => records.push(...b.records));
      const run = lane.run({ id: 0, chunks: new Float64Array(fields) });
      lane.stop();
      await run.catch(() => undefined);
      // No record that the chunk ended: its decoding was cut short, not run to its end.
      const ended = records
        .filter((_, k) => k % lanes.RECORD === 2)
        .filter((v) => v === lanes.ENDED);
      expect(ended).toEqual([]);
    } finally {
      await image.close();
    }
  }, 60_000);
});

describe("--threads", () => {
  const BIN = join(ROOT, "bin", "dmg-validate.js");
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args], { maxBuffer: 64 * MiB });

  it("gives the same disk on standard output with 1 and 2 threads", () => {
    const path = file("cli.dmg", assemble(mixedSpec()).image);
    const one = run("extract", "--threads", "1", path, "-");
    const two = run("extract", "--threads=2", path, "-");
    expect(one.status).toBe(0);
    expect(two.status).toBe(0);
    expect(Buffer.compare(one.stdout, two.stdout)).toBe(0);
    expect(run("check", "--threads", "2", path).status).toBe(0);
  }, 60_000);

  it("is refused without a whole number, and where it does not apply", () => {
    const path = file("cli2.dmg", assemble(mixedSpec()).image);
    for (const bad of [["--threads", "0", path], ["--threads=x", path], ["--threads"]]) {
      const r = run("check", ...bad);
      expect(r.status).toBe(2);
      expect(r.stderr.toString()).toMatch(/--threads/);
    }
    expect(run("info", "--threads", "2", path).status).toBe(2);
  });
});
