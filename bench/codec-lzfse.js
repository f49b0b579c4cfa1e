/**
 * The LZFSE codec alone, single thread, against 7-Zip on the same images in the same run.
 *
 *   npm run build && node bench/codec-lzfse.js [--mib N] [--runs R] [--dist DIR]...
 *
 * Two images of about N MiB (default 64) of ULFO chunks: Apple's encoder's 3 MiB `bvx2`
 * chunk repeated, and the writer's LZVN (`bvxn`) chunks of the benchmark's synthetic disk.
 * Each run decodes every chunk of each image through the codec interface (payloads already in
 * memory, so no I/O is timed) and then times `7zz x -so -tdmg IMAGE` (output to /dev/null)
 * through GNU time. Each `--dist` (default: this checkout's dist/) is a build of the project
 * to load the codec from, so two builds can be compared run by run, interleaved; a build with
 * the WebAssembly block decoders is timed twice, with them ("wasm") and with the TypeScript
 * decoders ("TS"), which stay as the fallback where WebAssembly is refused. CPU time
 * (user + system) is the figure to compare: wall time on a shared machine is noise. Prints
 * the median of R runs (default 5) per row, after checking each build's output once.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { appleLzfseChunk, syntheticDisk, writeImage, writeRepeatedImage } from "./images.js";
import { findExecutable } from "./measure.js";

const MIB = 1024 * 1024;
const ULFO = 0x80000007;

function parseArgs(argv) {
  const opts = { mib: 64, runs: 5, dists: [] };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === "--mib") opts.mib = Number(value);
    else if (flag === "--runs") opts.runs = Number(value);
    else if (flag === "--dist") opts.dists.push(resolve(value));
    else throw new Error(`unknown argument ${flag}`);
    i++;
  }
  if (!(opts.mib >= 3) || !(opts.runs >= 1)) throw new Error("--mib >= 3 and --runs >= 1");
  if (opts.dists.length === 0) opts.dists.push(resolve(import.meta.dirname, "../dist"));
  return opts;
}

/**
 * The ULFO codec, the memory meter and the image reader of the build in `dir`: one entry, or
 * two (WebAssembly, then TypeScript decoders) when the build has both.
 */
async function loadBuilds(dir) {
  const load = (p) => import(pathToFileURL(join(dir, p)).href);
  const { codecTable } = await load("codecs/registry.js");
  const { MemoryMeter } = await load("core/limits.js");
  const { bytesSource } = await load("sources/source.js");
  const build = {
    dir,
    codec: (await codecTable([ULFO])).get(ULFO),
    MemoryMeter,
    bytesSource,
    setMode: () => {},
  };
  const wasm = await load("codecs/wasm/embedded.js").catch(() => undefined);
  if (!wasm?.setWasmMode) return [build];
  return [
    { ...build, dir: `${dir} (wasm)`, setMode: () => wasm.setWasmMode("auto") },
    { ...build, dir: `${dir} (TS)`, setMode: () => wasm.setWasmMode("js") },
  ];
}

/** Every ULFO chunk of the image at `path`: its payload, in memory, and its output size. */
async function chunksOf(path) {
  const { openDmg } = await import("../dist/node/index.js");
  const file = readFileSync(path);
  const image = await openDmg(path);
  const chunks = [];
  for (const c of image.chunks()) {
    if (c.type !== ULFO) continue;
    const payload = new Uint8Array(file.subarray(c.offset, c.offset + c.length));
    chunks.push({ payload, outputSize: c.sectorCount * 512, where: c });
  }
  await image.close();
  return chunks;
}

/** Decode `chunks` with `build`; `onPiece` sees each output piece. */
async function decodeAll(build, chunks, onPiece) {
  build.setMode();
  const memory = new build.MemoryMeter(64 * MIB);
  let bytes = 0;
  for (const c of chunks) {
    const cursor = build.codec.open({
      source: build.bytesSource(c.payload),
      offset: 0,
      length: c.payload.length,
      outputSize: c.outputSize,
      memory,
      where: c.where,
    });
    for (let p = await cursor.next(MIB); p.length > 0; p = await cursor.next(MIB)) {
      bytes += p.length;
      onPiece?.(p);
    }
    cursor.close();
  }
  return bytes;
}

/** One timed decode: output bytes, CPU seconds (user + system), wall seconds. */
async function timeDecode(build, chunks) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await decodeAll(build, chunks);
  const cpu = process.cpuUsage(c0);
  return {
    bytes,
    cpu: (cpu.user + cpu.system) / 1e6,
    wall: (performance.now() - t0) / 1000,
  };
}

/** `7zz x -so -tdmg image` to /dev/null under GNU time: CPU and wall seconds. */
function time7zz(sevenZip, image, bytes) {
  const r = spawnSync(
    "/usr/bin/time",
    ["-f", "%e %U %S %M", "sh", "-c", `"$0" x -so -tdmg "$1" > /dev/null`, sevenZip, image],
    { encoding: "utf8" },
  );
  const last = r.stderr.trim().split("\n").pop() ?? "";
  const m = /^([\d.]+) ([\d.]+) ([\d.]+) (\d+)$/.exec(last);
  if (r.status !== 0 || !m) throw new Error(`7zz failed: ${r.stderr}`);
  return { bytes, cpu: Number(m[2]) + Number(m[3]), wall: Number(m[1]) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const builds = [];
  for (const d of opts.dists) builds.push(...(await loadBuilds(d)));
  const dir = mkdtempSync(join(tmpdir(), "codec-lzfse-"));
  try {
    const apple = await appleLzfseChunk();
    const count = Math.max(1, Math.floor((opts.mib * MIB) / apple.raw.length));
    const bvx2Path = join(dir, "bvx2.dmg");
    await writeRepeatedImage(bvx2Path, ULFO, apple.payload, apple.raw, count);
    const lzvnPath = join(dir, "lzvn.dmg");
    const disk = syntheticDisk(opts.mib * MIB);
    await writeImage(disk, lzvnPath, 2048, undefined, "lzfse");
    const images = [
      { name: "bvx2", path: bvx2Path, raw: async () => apple.raw },
      { name: "LZVN", path: lzvnPath, raw: (c) => disk.read(c.sector * 512, c.sectorCount * 512) },
    ];
    for (const image of images) {
      image.chunks = await chunksOf(image.path);
      image.compressed = image.chunks.reduce((n, c) => n + c.payload.length, 0);
      const want = createHash("sha256");
      for (const c of image.chunks) want.update(await image.raw(c.where));
      const expected = want.digest("hex");
      // Each build must decode each image to what was encoded before it is timed.
      for (const build of builds) {
        const hash = createHash("sha256");
        await decodeAll(build, image.chunks, (p) => hash.update(p));
        const got = hash.digest("hex");
        if (got !== expected) throw new Error(`${build.dir} decodes ${image.name} to ${got}`);
      }
    }
    const sevenZip = findExecutable("7zz");
    const rows = new Map();
    const add = (key, r) => {
      if (!rows.has(key)) rows.set(key, []);
      rows.get(key).push(r);
    };
    for (let run = 1; run <= opts.runs; run++) {
      process.stderr.write(`run ${run}/${opts.runs}\n`);
      for (const image of images) {
        for (const build of builds) {
          add(`${image.name}\t${build.dir}`, await timeDecode(build, image.chunks));
        }
        if (sevenZip) {
          // 7-Zip extracts the whole disk, zero chunks included; count only the ULFO output.
          const bytes = image.chunks.reduce((n, c) => n + c.outputSize, 0);
          add(`${image.name}\t7zz x -so -tdmg`, time7zz(sevenZip, image.path, bytes));
        }
      }
    }
    console.log(`load average at end: ${(await import("node:os")).loadavg().join(" ")}`);
    console.log(["image", "decoder", "MB out", "CPU s", "MB/s (CPU)", "wall s"].join("\t"));
    for (const [key, rs] of rows) {
      const cpu = median(rs.map((r) => r.cpu));
      const mb = rs[0].bytes / 1e6;
      const wall = median(rs.map((r) => r.wall));
      console.log(
        `${key}\t${mb.toFixed(1)}\t${cpu.toFixed(3)}\t${(mb / cpu).toFixed(1)}\t${wall.toFixed(3)}`,
      );
    }
    for (const image of images) {
      console.log(
        `${image.name}: ${image.chunks.length} chunks, ${image.compressed} compressed bytes`,
      );
    }
    if (!sevenZip) console.log("7zz not found: no 7-Zip rows");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
