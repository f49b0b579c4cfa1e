/**
 * `npm run bench [-- --size 1G --runs 3 --reads 1000 --chunks 1000000]`: the same generated
 * images read by dmg-validate and by the reference readers (qemu-img / qemu-io, 7-Zip,
 * dmg2img, the bzip2 and Python zlib decoders), measured in one run and printed as one table:
 *
 *   1  full extract, zlib, 2048-sector chunks        4  random 4 KiB reads
 *   2  full extract, zlib, ~250 MB chunks            5  opening an image of a million chunks
 *   3  full extract, bzip2, 2048-sector chunks       6  decode throughput per codec (zlib,
 *                                                       bzip2, LZFSE bvx2 and LZVN, XZ), with
 *                                                       7-Zip's extract of the same images
 *   7  hostile inputs (bench/hostile.js): CPU seconds and peak RSS of check, info, cat and
 *      extract on the worst inputs per operation, before (`--baseline` names the
 *      bin/dmg-validate.js of an older build) and after; and the event loop's longest wait
 *      while a 256 MiB image is validated from memory
 *   8  remote: section 1's image served over HTTP from 127.0.0.1 (bench/http-serve.js, a
 *      process of its own): `check` and `check --quick` of its URL (requests and bytes
 *      fetched, as the server counted them), against `check` of the local file
 *   9  full extract per codec, one table each (zlib, bzip2, XZ, LZFSE; ADC when the writer
 *      can make it): dmg-validate with one and the default threads, `7zz x -tdmg`, dmg2img,
 *      and the native decoder of the payloads back to back; every run writes a fresh output
 *      path, removed and followed by `sync` before the next
 *
 * Wall times are medians of --runs runs, peak RSS is the OS's (GNU time, else getrusage), the
 * page cache is warm, every extracted disk is hashed against the source. It only reports: it
 * never fails on a slow or wrong result.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { UDBZ, UDZO, ULFO, ULMO } from "../dist/format/types.js";
import { openDmg } from "../dist/node/index.js";
import { measureHostile } from "./hostile.js";
import {
  appleLzfseChunk,
  hashDisk,
  syntheticDisk,
  TOOLS,
  writeImage,
  writeManyChunksImage,
  writeRepeatedImage,
  writeToolImage,
} from "./images.js";
import {
  findExecutable,
  hashFile,
  measure,
  measurer,
  median,
  READ,
  randomOffsets,
  warm,
} from "./measure.js";
import { printCodecTables, printTable, toolVersions } from "./table.js";

const CLI = fileURLToPath(new URL("../bin/dmg-validate.js", import.meta.url));
const PROBE = fileURLToPath(new URL("./probe.js", import.meta.url));
const SERVE = fileURLToPath(new URL("./http-serve.js", import.meta.url));
const MIB = 1024 * 1024;
const SEED = 0x5eed;

const node = process.execPath;
const ours = (threads) => ({
  name: threads === 1 ? "dmg-validate --threads 1" : "dmg-validate",
  cmd: node,
  args: (img, out) => [CLI, "extract", ...(threads === 1 ? ["--threads", "1"] : []), img, out],
});
/** Full-extract readers; `stdout: true` means the disk comes on standard output. */
const EXTRACTORS = [
  ours(),
  ours(1),
  {
    name: "dmg-validate (stdout)",
    cmd: node,
    args: (img) => [CLI, "extract", img, "-"],
    stdout: true,
  },
  {
    name: "qemu-img",
    cmd: "qemu-img",
    args: (img, out) => ["convert", "-f", "dmg", "-O", "raw", img, out],
  },
  { name: "7zz", cmd: "7zz", args: (img) => ["e", "-so", "-tdmg", img], stdout: true },
  { name: "dmg2img", cmd: "dmg2img", args: (img, out) => ["-i", img, "-o", out] },
];

/** Section 9's extractors: ours with one and the default threads, 7-Zip's `x`, dmg2img. */
const CODEC_EXTRACTORS = [
  ours(1),
  ours(),
  {
    name: "7zz x -tdmg",
    cmd: "7zz",
    args: (img, out) => ["x", "-tdmg", "-y", "-bso0", "-bsp0", `-o${out}`, img],
    dir: true,
  },
  { name: "dmg2img", cmd: "dmg2img", args: (img, out) => ["-i", img, "-o", out] },
];

/** Native decoders of concatenated payloads, for sections 6 and 9. */
const BZIP2 = { name: "bzip2 -d", cmd: "bzip2", args: ["-dc"] };
const XZ = { name: "xz -d", cmd: "xz", args: ["-dc", "-T1"] };

function usage(message) {
  if (message) console.error(`bench: ${message}`);
  console.error(
    "usage: npm run bench [-- --size SIZE (256M, 1G; default 1G)] [--runs N (3)] [--reads N (1000)] [--chunks N (1000000)] [--only 1,2,...] [--baseline OLD/bin/dmg-validate.js]",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    size: 1024 * MIB,
    runs: 3,
    reads: 1000,
    chunks: 1_000_000,
    only: [1, 2, 3, 4, 5, 6, 7, 8, 9],
    baseline: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    let [key, value] = argv[i].split(/=(.*)/s, 2);
    if (key === "--help" || key === "-h") usage();
    if (!["--size", "--runs", "--reads", "--chunks", "--only", "--baseline"].includes(key))
      usage(`unknown option ${key}`);
    if (value === undefined) value = argv[++i];
    if (value === undefined) usage(`${key} needs a value`);
    if (key === "--size") {
      const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value);
      if (!m) usage(`--size ${value}: give bytes or a size like 256M or 1G`);
      const scale = 1024 ** " KMGT".indexOf(m[2].toUpperCase() || " ");
      opts.size = Math.ceil((Number(m[1]) * scale) / 512) * 512;
      if (!Number.isSafeInteger(opts.size) || opts.size < MIB)
        usage(`--size ${value} is out of range`);
    } else if (key === "--only") {
      opts.only = value.split(",").map(Number);
      if (opts.only.some((n) => !(n >= 1 && n <= 9))) usage(`--only ${value}: sections 1 to 9`);
    } else if (key === "--baseline") {
      opts.baseline = value;
    } else {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) usage(`${key} ${value}: give a whole number >= 1`);
      opts[key.slice(2)] = n;
    }
  }
  return opts;
}

function progress(text) {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

function say(text) {
  progress("");
  console.log(text);
}

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");

/** Measure `tool` extracting `image` `runs` times; outputs are hashed and removed. */
async function extractRow(ctx, section, image, tool) {
  const row = { section, test: image.name, tool: tool.name };
  const bin = tool.cmd.includes("/") ? tool.cmd : findExecutable(tool.cmd);
  if (!bin) return { ...row, note: "not installed" };
  const out = join(ctx.dir, "out.raw");
  const walls = [];
  const rss = [];
  await warm(image.path);
  for (let r = 1; r <= ctx.runs; r++) {
    progress(`${section}: ${tool.name} run ${r}/${ctx.runs}`);
    await rm(out, { force: true });
    const m = await measure(ctx.how, bin, tool.args(image.path, out), {
      stdoutTo: tool.stdout ? out : undefined,
      resultFile: join(ctx.dir, "time.txt"),
    });
    if (!m.ok || !Number.isFinite(m.wall)) {
      await rm(out, { force: true });
      return { ...row, note: `refused: ${m.message}` };
    }
    walls.push(m.wall);
    rss.push(m.rssKiB / 1024);
    const got = await hashFile(out).catch(() => ({ sha256: "unreadable", size: 0 }));
    await rm(out, { force: true });
    if (got.sha256 !== ctx.expected) row.check = `OUTPUT DIFFERS (${got.size} bytes)`;
  }
  const wall = median(walls);
  return {
    ...row,
    wall,
    rate: ctx.size / 1e6 / wall,
    unit: "MB/s",
    rss: median(rss),
    check: row.check ?? "output ok",
  };
}

/** Run `node bench/probe.js ...` under the measurer: its JSON result and peak RSS. */
async function probe(ctx, args) {
  const result = join(ctx.dir, "probe.json");
  const m = await measure(ctx.how, node, [PROBE, ...args], {
    stdoutTo: result,
    resultFile: join(ctx.dir, "time.txt"),
  });
  if (!m.ok) return { error: m.message };
  return { ...JSON.parse(await readFile(result, "utf8")), wall: m.wall, rss: m.rssKiB / 1024 };
}

async function randomRows(ctx, image) {
  const rows = [];
  const test = `${ctx.reads} x 4 KiB, ${image.name}`;
  await warm(image.path);
  // Indexed: after one sequential pass, which records the index points (its time in the check
  // column, reads/s over the reads alone); cold: the reads build the index as they go.
  for (const indexed of [true, false]) {
    const tool = `dmg-validate (${indexed ? "indexed" : "cold"})`;
    progress(`4: ${tool} random reads on ${image.name}`);
    const args = ["random", image.path, String(ctx.reads), String(SEED)];
    const r = await probe(ctx, indexed ? [...args, "indexed"] : args);
    const built = indexed
      ? `index built by one pass in ${r.buildSeconds?.toFixed(1)} s: ${r.points} points, ${(r.pointBytes / MIB).toFixed(1)} MiB; `
      : "";
    rows.push(
      r.error
        ? { section: 4, test, tool, note: `failed: ${r.error}` }
        : {
            section: 4,
            test,
            tool,
            time: `median ${r.medianMs.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms`,
            rate: ctx.reads / (indexed ? r.total : r.wall),
            unit: "reads/s",
            rss: r.rss,
            check: `${built}each read timed in-process; reads/s over ${indexed ? "the reads" : "the process"}`,
          },
    );
  }
  const qemu = findExecutable("qemu-io");
  if (!qemu) return [...rows, { section: 4, test, tool: "qemu-io", note: "not installed" }];
  const size = (await openDmg(image.path).then(async (i) => [i.size, await i.close()]))[0];
  const cmds = randomOffsets(size, ctx.reads, SEED).flatMap((off) => ["-c", `read ${off} ${READ}`]);
  progress(`4: qemu-io random reads on ${image.name}`);
  const log = join(ctx.dir, "qemu-io.txt");
  const m = await measure(ctx.how, qemu, ["-r", "-f", "dmg", ...cmds, image.path], {
    stdoutTo: log,
    resultFile: join(ctx.dir, "time.txt"),
  });
  // qemu-io times each command itself: "... 00.00 sec (1.2 MiB/sec and 313.7 ops/sec)".
  const text = m.ok ? await readFile(log, "utf8") : "";
  const ms = [...text.matchAll(/and ([\d.]+) ops\/sec/g)].map((x) => 1000 / Number(x[1]));
  ms.sort((a, b) => a - b);
  const q = (f) => ms[Math.min(ms.length - 1, Math.ceil(f * ms.length) - 1)];
  rows.push(
    !m.ok || ms.length !== ctx.reads
      ? { section: 4, test, tool: "qemu-io", note: `refused: ${m.message}` }
      : {
          section: 4,
          test,
          tool: "qemu-io",
          time: `median ${q(0.5).toFixed(3)} ms, p99 ${q(0.99).toFixed(3)} ms`,
          rate: ctx.reads / m.wall,
          unit: "reads/s",
          rss: m.rssKiB / 1024,
          check: "qemu-io's own timing per read; reads/s over the whole process",
        },
  );
  return rows;
}

async function openRows(ctx, path) {
  const test = `${ctx.chunks} chunks`;
  progress("5: opening the many-chunk image");
  const r = await probe(ctx, ["open", path]);
  const rows = [
    r.error
      ? { section: 5, test, tool: "dmg-validate", note: `failed: ${r.error}` }
      : {
          section: 5,
          test,
          tool: "dmg-validate",
          wall: r.seconds,
          rate: r.chunks / r.seconds,
          unit: "chunks/s",
          rss: r.rss,
          check: `${r.chunks} chunks, open in-process`,
        },
  ];
  const qemu = findExecutable("qemu-img");
  if (qemu) {
    const m = await measure(ctx.how, qemu, ["info", "-f", "dmg", path], {
      resultFile: join(ctx.dir, "time.txt"),
    });
    rows.push(
      m.ok
        ? {
            section: 5,
            test,
            tool: "qemu-img info",
            wall: m.wall,
            rate: ctx.chunks / m.wall,
            unit: "chunks/s",
            rss: m.rssKiB / 1024,
            check: "whole process",
          }
        : { section: 5, test, tool: "qemu-img info", note: `refused: ${m.message}` },
    );
  }
  return rows;
}

/** The [offset, length] of each chunk of `type` (up to `max` decoded bytes) and their sizes. */
async function payloads(path, type, max) {
  const image = await openDmg(path);
  const list = [];
  let out = 0;
  for (const c of image.chunks()) {
    if (c.type !== type || out >= max) continue;
    list.push([c.offset, c.length]);
    out += c.sectorCount * 512;
  }
  await image.close();
  return { list, out };
}

/**
 * Section 6 for one image of `codec` chunks: our decoder alone (in-process, MB/s of output),
 * then whole-process extracts of the same image by us and by 7-Zip, and the native decoder
 * (`native`: a command that decodes the chunks' payloads concatenated) where there is one.
 */
async function codecRows(ctx, test, image, codec, native) {
  const max = Math.min(image.size, 256 * MIB);
  const rows = [];
  const add = (tool, r, check) =>
    rows.push(
      r.error
        ? { section: 6, test, tool, note: `failed: ${r.error}` }
        : {
            section: 6,
            test,
            tool,
            wall: r.seconds,
            rate: r.bytes / 1e6 / r.seconds,
            unit: "MB/s out",
            rss: r.rss,
            check,
          },
    );
  for (const [name, tool] of codec === "zlib"
    ? [
        ["zlib", "dmg-validate (node:zlib)"],
        ["pako", "dmg-validate (pako)"],
      ]
    : [[codec, "dmg-validate"]]) {
    progress(`6: ${tool} on ${test}`);
    add(
      tool,
      await probe(ctx, ["decode", image.path, name, String(max)]),
      "codec only, in-process",
    );
  }
  if (native) {
    add(
      native.name,
      await nativeDecode(ctx, image, native, max),
      "the payloads back to back, whole process",
    );
  }
  if (codec !== "zlib") {
    // What a random read costs where there are no index points inside a chunk: bzip2 decodes
    // the blocks a read touches; ADC, LZFSE and XZ decode from the chunk start and discard.
    const reads = Math.min(ctx.reads, 200);
    progress(`6: random reads on ${test}`);
    const r = await probe(ctx, ["random", image.path, String(reads), String(SEED)]);
    rows.push(
      r.error
        ? { section: 6, test, tool: "dmg-validate", note: `random reads failed: ${r.error}` }
        : {
            section: 6,
            test,
            tool: "dmg-validate",
            time: `median ${r.medianMs.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms`,
            rate: reads / r.wall,
            unit: "reads/s",
            rss: r.rss,
            check: `${reads} random 4 KiB reads, no index built first`,
          },
    );
  }
  if (codec !== "zlib" && codec !== "bzip2") {
    // Sections 1-3 give the zlib and bzip2 extracts; the others get theirs here.
    const c = { ...ctx, size: image.size, expected: image.sha256 };
    for (const t of EXTRACTORS.filter((e) => e.name === "dmg-validate" || e.name === "7zz")) {
      const row = await extractRow(c, 6, image, t);
      rows.push({ ...row, test, check: `whole extract; ${row.check ?? row.note}` });
    }
  }
  return rows;
}

/**
 * The native decoder `native` over the payloads of `image`'s chunks (up to `max` decoded
 * bytes) back to back, as a whole process: decoded bytes, wall seconds and peak RSS.
 */
async function nativeDecode(ctx, image, native, max) {
  const p = await payloads(image.path, image.type, max);
  const cat = join(ctx.dir, "payloads.bin");
  const src = await open(image.path);
  const dst = await open(cat, "w");
  for (const [off, length] of p.list) {
    const buf = Buffer.alloc(length);
    await src.read(buf, 0, length, off);
    await dst.write(buf);
  }
  await src.close();
  await dst.close();
  progress(`${native.name} on ${image.name}`);
  const m = await measure(
    ctx.how,
    findExecutable(native.cmd) ?? native.cmd,
    [...native.args, cat],
    {
      resultFile: join(ctx.dir, "time.txt"),
    },
  );
  await rm(cat, { force: true });
  return m.ok ? { bytes: p.out, seconds: m.wall, rss: m.rssKiB / 1024 } : { error: m.message };
}

/** What `tool` wrote at `out`: the one file (a directory of one file for 7-Zip's `x`), hashed. */
async function outputOf(out, dir) {
  if (!dir) return hashFile(out);
  const files = (await readdir(out, { recursive: true, withFileTypes: true })).filter((e) =>
    e.isFile(),
  );
  if (files.length !== 1) return { sha256: `${files.length} files`, size: 0 };
  return hashFile(join(files[0].parentPath ?? files[0].path, files[0].name));
}

/**
 * Section 9: `tool` extracting `image` `ctx.runs` times, each run to a new output path that
 * is removed, then `sync`, before the next (no run writes over a file a run before left).
 */
async function freshExtractRow(ctx, image, tool) {
  const row = { section: 9, test: image.name, tool: tool.name };
  const bin = tool.cmd.includes("/") ? tool.cmd : findExecutable(tool.cmd);
  if (!bin) return { ...row, note: "not installed" };
  const walls = [];
  const rss = [];
  await warm(image.path);
  for (let r = 1; r <= ctx.runs; r++) {
    progress(`9: ${tool.name} on ${image.name}, run ${r}/${ctx.runs}`);
    const out = join(ctx.dir, `fresh-${r}-${walls.length}-${tool.name.replace(/\W+/g, "-")}`);
    spawnSync("sync");
    const m = await measure(ctx.how, bin, tool.args(image.path, out), {
      resultFile: join(ctx.dir, "time.txt"),
    });
    const got = m.ok ? await outputOf(out, tool.dir).catch(() => undefined) : undefined;
    await rm(out, { recursive: true, force: true });
    spawnSync("sync");
    if (!m.ok || !Number.isFinite(m.wall)) return { ...row, note: `refused: ${m.message}` };
    // dmg2img skips chunks of codecs it does not know (XZ; LZFSE unless built with it).
    if (got?.size === 0) return { ...row, note: "wrote no data: does not read this codec" };
    walls.push(m.wall);
    rss.push(m.rssKiB / 1024);
    if (got?.sha256 !== image.sha256) row.check = `OUTPUT DIFFERS (${got?.sha256 ?? "none"})`;
  }
  const wall = median(walls);
  return {
    ...row,
    wall,
    rate: image.size / 1e6 / wall,
    unit: "MB/s",
    rss: median(rss),
    check: row.check ?? "output ok",
  };
}

/** Section 9 for one image: every extractor, then the native decoder where there is one. */
async function codecTableRows(ctx, image, native) {
  const rows = [];
  for (const tool of CODEC_EXTRACTORS) rows.push(await freshExtractRow(ctx, image, tool));
  if (native) {
    const r = await nativeDecode(ctx, image, native, image.size);
    rows.push(
      r.error
        ? { section: 9, test: image.name, tool: native.name, note: `failed: ${r.error}` }
        : {
            section: 9,
            test: image.name,
            tool: `${native.name} (payloads)`,
            wall: r.seconds,
            rate: r.bytes / 1e6 / r.seconds,
            unit: "MB/s",
            rss: r.rss,
            check: "the payloads back to back, output discarded",
          },
    );
  }
  return rows;
}

const PY_INFLATE = `
import json, sys, time, zlib
f = open(sys.argv[1], "rb"); spans = json.load(open(sys.argv[2]))
t = 0.0; n = 0
for off, length in spans:
    f.seek(off); data = f.read(length)
    s = time.perf_counter(); n += len(zlib.decompress(data)); t += time.perf_counter() - s
print(json.dumps({"bytes": n, "seconds": t}))
`;

/** Python's zlib (C zlib) on the zlib image's payloads: decompress calls only. */
async function pythonZlibRow(ctx, image) {
  const test = "zlib chunks";
  const python = findExecutable("python3");
  if (!python) return [];
  const z = await payloads(image.path, image.type, Math.min(image.size, 256 * MIB));
  const spans = join(ctx.dir, "spans.json");
  writeFileSync(spans, JSON.stringify(z.list));
  const r = spawnSync(python, ["-c", PY_INFLATE, image.path, spans], { encoding: "utf8" });
  if (r.status !== 0)
    return [{ section: 6, test, tool: "python3 zlib", note: `failed: ${r.stderr}` }];
  const { bytes, seconds } = JSON.parse(r.stdout);
  return [
    {
      section: 6,
      test,
      tool: "python3 zlib (C zlib)",
      wall: seconds,
      rate: bytes / 1e6 / seconds,
      unit: "MB/s out",
      check: "decompress calls only",
    },
  ];
}

async function makeImage(image, write) {
  const t0 = performance.now();
  const s = await write((done, total) =>
    progress(`writing ${image.name}: ${((100 * done) / total).toFixed(0)}%`),
  );
  const bytes = (await stat(image.path)).size;
  say(
    `  ${image.name}: ${image.about}; ${s.chunks} chunks, ${bytes} bytes, written in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const how = measurer();
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  console.log("dmg-validate benchmark");
  console.log(
    `machine: ${cores} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`,
  );
  console.log(
    `node ${process.version}; measured with ${how ?? "nothing (neither GNU time nor python3 found)"}`,
  );
  for (const line of toolVersions()) console.log(`  ${line}`);
  if (!how) return;
  const floor = await measure(how, node, ["-e", "0"], {
    resultFile: join(os.tmpdir(), `dmg-bench-${process.pid}.time`),
  });
  rmSync(join(os.tmpdir(), `dmg-bench-${process.pid}.time`), { force: true });
  console.log(
    `node's own floor: \`node -e 0\` peaks at ${(floor.rssKiB / 1024).toFixed(1)} MiB RSS`,
  );
  console.log(`load average at start: ${loadavg()}`);

  const dir = await mkdtemp(join(os.tmpdir(), "dmg-validate-bench-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.once(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
  try {
    const size = opts.size;
    const disk = syntheticDisk(size);
    const ctx = { ...opts, how, dir, size, expected: "" };
    const want = (...s) => s.some((n) => opts.only.includes(n));
    say(
      `disk: ${size} bytes of synthetic mixed content (per MiB: text, random and zero 64 KiB runs; 1 MiB in 8 all zeros)`,
    );
    progress("hashing the synthetic disk");
    ctx.expected = await hashDisk(disk);
    const img = (name, file, about, type) => ({ name, path: join(dir, file), about, type });
    const small = img(
      "zlib 2048-sector chunks",
      "z2048.dmg",
      "zlib level 6 (the writer's), 1 MiB chunks",
      UDZO,
    );
    const big = img(
      "zlib ~250 MB chunks",
      "z511952.dmg",
      "zlib level 6, 511952-sector (262,119,424-byte) chunks as in a real image",
    );
    const mid = img(
      "zlib 131072-sector chunks",
      "z131072.dmg",
      "zlib level 6, 64 MiB chunks (qemu's largest)",
    );
    const bz = img(
      "bzip2 2048-sector chunks",
      "bz2048.dmg",
      "bzip2 -9 by the system bzip2, 1 MiB chunks",
      UDBZ,
    );
    const many = img("many chunks", "many.dmg", `${opts.chunks} one-sector zero chunks`);
    if (want(1, 6, 8, 9)) await makeImage(small, (p) => writeImage(disk, small.path, 2048, p));
    if (want(2, 4)) await makeImage(big, (p) => writeImage(disk, big.path, 511952, p));
    if (want(4)) await makeImage(mid, (p) => writeImage(disk, mid.path, 131072, p));
    const haveBzip2 = findExecutable("bzip2") !== undefined;
    if (want(3, 6, 9) && haveBzip2)
      await makeImage(bz, (p) => writeToolImage(disk, bz.path, TOOLS.bzip2, p));
    // Section 6's other codecs: images of at most 256 MiB (the same content, cut shorter).
    const disk6 = size > 256 * MIB ? syntheticDisk(256 * MIB) : disk;
    const expected6 = disk6 === disk ? ctx.expected : await hashDisk(disk6);
    const with6 = (image) => ({ ...image, size: disk6.size, sha256: expected6 });
    const lzvn = with6(
      img(
        "LZFSE chunks (LZVN)",
        "lzvn.dmg",
        "the writer's LZFSE codec (bvxn blocks), 1 MiB chunks",
        ULFO,
      ),
    );
    const xz = with6(
      img("XZ chunks", "xz.dmg", "xz -6 with no check (as hdiutil), 1 MiB chunks", ULMO),
    );
    const apple = img(
      "LZFSE chunks (bvx2)",
      "bvx2.dmg",
      "Apple's encoder: one 3 MiB bvx2 chunk, repeated",
      ULFO,
    );
    const haveXz = findExecutable("xz") !== undefined;
    if (want(6, 9)) {
      await makeImage(lzvn, (p) => writeImage(disk6, lzvn.path, 2048, p, "lzfse"));
      if (haveXz) await makeImage(xz, (p) => writeToolImage(disk6, xz.path, TOOLS.xz, p));
    }
    if (want(6)) {
      const chunk = await appleLzfseChunk();
      const count = Math.max(1, Math.floor(disk6.size / chunk.raw.length));
      const h = createHash("sha256");
      for (let k = 0; k < count; k++) h.update(chunk.raw);
      Object.assign(apple, { size: count * chunk.raw.length, sha256: h.digest("hex") });
      await makeImage(apple, () =>
        writeRepeatedImage(apple.path, ULFO, chunk.payload, chunk.raw, count),
      );
    }
    if (want(5)) await makeImage(many, () => writeManyChunksImage(many.path, opts.chunks));

    const rows = [];
    if (want(1)) for (const t of EXTRACTORS) rows.push(await extractRow(ctx, 1, small, t));
    if (want(2)) for (const t of EXTRACTORS) rows.push(await extractRow(ctx, 2, big, t));
    if (want(3)) {
      if (!haveBzip2)
        rows.push({
          section: 3,
          test: bz.name,
          tool: "-",
          note: "no system bzip2 to make the image",
        });
      else for (const t of EXTRACTORS) rows.push(await extractRow(ctx, 3, bz, t));
    }
    if (want(4)) for (const image of [big, mid]) rows.push(...(await randomRows(ctx, image)));
    if (want(5)) rows.push(...(await openRows(ctx, many.path)));
    if (want(6)) {
      rows.push(...(await codecRows(ctx, "zlib chunks", { ...small, size }, "zlib")));
      rows.push(...(await pythonZlibRow(ctx, { ...small, size })));
      if (haveBzip2)
        rows.push(...(await codecRows(ctx, "bzip2 chunks", { ...bz, size }, "bzip2", BZIP2)));
      rows.push(...(await codecRows(ctx, apple.name, apple, "lzfse")));
      rows.push(...(await codecRows(ctx, lzvn.name, lzvn, "lzfse")));
      if (haveXz) rows.push(...(await codecRows(ctx, xz.name, xz, "xz", XZ)));
      else
        rows.push({ section: 6, test: xz.name, tool: "-", note: "no system xz to make the image" });
    }
    if (want(8)) rows.push(...(await remoteRows(ctx, small)));
    const codecRowsByTable = [];
    if (want(9)) {
      const whole = (image) => ({ ...image, size, sha256: ctx.expected });
      codecRowsByTable.push(await codecTableRows(ctx, whole(small)));
      if (haveBzip2) codecRowsByTable.push(await codecTableRows(ctx, whole(bz), BZIP2));
      if (haveXz) codecRowsByTable.push(await codecTableRows(ctx, xz, XZ));
      codecRowsByTable.push(await codecTableRows(ctx, lzvn));
      // The writer encodes zlib, raw and LZFSE; no tool here makes ADC images.
      codecRowsByTable.push([
        { section: 9, test: "ADC chunks", tool: "-", note: "the writer cannot make ADC images" },
      ]);
    }
    const hostile = want(7) ? await hostileSection(ctx) : undefined;
    progress("");
    console.log(`load average at end: ${loadavg()}`);
    console.log("");
    if (rows.length > 0) printTable(rows);
    if (codecRowsByTable.length > 0) printCodecTables(codecRowsByTable);
    if (hostile) console.log(`\n${hostile}`);
  } finally {
    cleanup();
  }
}

/**
 * Start bench/http-serve.js serving `path` in a process of its own: the URL, its counters of
 * requests and bytes served, and a stop().
 */
async function startServer(path) {
  const child = spawn(node, [SERVE, path], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let text = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (s) => {
      text += s;
      if (text.includes("\n")) resolve(Number(text.split("\n")[0]));
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`the HTTP server exited with ${code}`)));
  });
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/file.dmg`,
    stats: async () => (await fetch(`${origin}/stats`)).json(),
    reset: async () => void (await fetch(`${origin}/reset`, { method: "POST" })).body?.cancel(),
    stop: () => child.kill("SIGTERM"),
  };
}

/**
 * Section 8: `check` of `image` over HTTP from 127.0.0.1, full and quick, and of the local
 * file. Requests and bytes are the server's own counts of the last run.
 */
async function remoteRows(ctx, image) {
  const test = `${image.name} over http (127.0.0.1)`;
  const fileSize = (await stat(image.path)).size;
  await warm(image.path);
  const server = await startServer(image.path);
  const run = async (tool, args, http, quick = false) => {
    const walls = [];
    const rss = [];
    let served;
    for (let r = 1; r <= ctx.runs; r++) {
      progress(`8: ${tool} run ${r}/${ctx.runs}`);
      if (http) await server.reset();
      const m = await measure(ctx.how, node, [CLI, ...args], {
        resultFile: join(ctx.dir, "time.txt"),
      });
      if (!m.ok || !Number.isFinite(m.wall)) {
        return { section: 8, test, tool, note: `failed: ${m.message}` };
      }
      walls.push(m.wall);
      rss.push(m.rssKiB / 1024);
      if (http) served = await server.stats();
    }
    const wall = median(walls);
    const fetched = served
      ? `${served.requests} requests, ${(served.bytes / 1024).toFixed(0)} KiB = ${(served.bytes / fileSize).toFixed(4)} x the ${fileSize}-byte file`
      : "the local file";
    return {
      section: 8,
      test,
      tool,
      wall,
      rate: quick ? Number.NaN : ctx.size / 1e6 / wall,
      unit: "MB/s",
      rss: median(rss),
      check: fetched,
      requests: served?.requests,
      bytes: served?.bytes,
    };
  };
  try {
    return [
      await run("check (local file)", ["check", image.path], false),
      await run("check --threads 1 (local file)", ["check", "--threads", "1", image.path], false),
      await run("check (http)", ["check", server.url], true),
      await run("check --quick (http)", ["check", "--quick", server.url], true, true),
    ];
  } finally {
    server.stop();
  }
}

/**
 * Section 7: the hostile inputs of bench/hostile.js measured with this build and, when
 * `--baseline` names an older build's CLI, with that one; then the event loop's longest wait
 * while a 256 MiB image is validated from memory (with the baseline's library too).
 */
async function hostileSection(ctx) {
  progress("7: hostile inputs (this build)");
  const after = await measureHostile({ timeout: 120 });
  let before;
  if (ctx.baseline) {
    progress("7: hostile inputs (baseline)");
    before = await measureHostile({ cli: ctx.baseline, timeout: 120 });
  }
  const key = (r) => `${r.input} ${r.command}`;
  const old = new Map((before ?? []).map((r) => [key(r), r]));
  const cell = (r) => (r ? `${r.exit} / ${r.cpu.toFixed(2)} s / ${Math.round(r.rssMiB)} MiB` : "-");
  const lines = [
    "Section 7: hostile inputs (exit / CPU seconds / peak RSS)",
    "",
    "| input | size | command | before | after | outcome after |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of after) {
    const size = `${(r.bytes / MIB).toFixed(r.bytes < MIB ? 4 : 1)} MiB`;
    const outcome = r.outcome.replaceAll("|", "\\|");
    lines.push(
      `| ${r.input} | ${size} | \`${r.command}\` | ${cell(old.get(key(r)))} | ${cell(r)} | ${outcome} |`,
    );
  }
  progress("7: the event loop during a 256 MiB validation from memory");
  const image = join(ctx.dir, "gap.dmg");
  await writeImage(syntheticDisk(256 * MIB), image, 2048, () => undefined);
  const gapOf = async (dist) => {
    const r = await probe(ctx, ["gap", image, ...(dist ? [dist] : [])]);
    return r.error ? undefined : r;
  };
  const now = await gapOf();
  const then = ctx.baseline ? await gapOf(join(ctx.baseline, "..", "..", "dist")) : undefined;
  const gap = (g, which) =>
    g ? `${g[which].gapMs.toFixed(1)} ms (${g[which].seconds.toFixed(2)} s)` : "-";
  lines.push(
    "",
    "Longest wait of a 10 ms timer while a 256 MiB image is validated from memory:",
    "",
    "| path | before | after |",
    "| --- | --- | --- |",
    `| core (pako) | ${gap(then, "core")} | ${gap(now, "core")} |`,
    `| Node entry (node:zlib) | ${gap(then, "node")} | ${gap(now, "node")} |`,
  );
  return lines.join("\n");
}

await main();
