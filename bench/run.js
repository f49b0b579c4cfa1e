/**
 * `npm run bench [-- --size 1G --runs 3]`: extract the same generated images with dmg-validate
 * and the reference readers (qemu-img, 7-Zip, dmg2img), and print wall time, throughput and peak
 * RSS for each. It only reports: it never fails on a slow or wrong result.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { hashDisk, syntheticDisk, writeImage } from "./images.js";
import { findExecutable, hashFile, measure, measurer, median, warm } from "./measure.js";

const CLI = fileURLToPath(new URL("../bin/dmg-validate.js", import.meta.url));
const MIB = 1024 * 1024;
const TARGET_RSS_MIB = 64;

/** Chunk sizes of the two images: hdiutil's default, and the ~250 MB chunks of a real file. */
const IMAGES = [
  {
    name: "1 MiB chunks",
    chunkSectors: 2048,
    about: "zlib (level 6, the writer's default), 2048-sector (1 MiB) chunks",
  },
  {
    name: "250 MB chunks",
    chunkSectors: 511952,
    about:
      "zlib (level 6), 511952-sector (262,119,424-byte) chunks, as in a real image seen in the wild",
  },
];

/** The readers compared; `out: "stdout"` means the disk comes on standard output. */
const TOOLS = [
  { name: "dmg-validate", cmd: process.execPath, args: (img, out) => [CLI, "extract", img, out] },
  {
    name: "dmg-validate (stdout)",
    cmd: process.execPath,
    args: (img) => [CLI, "extract", img, "-"],
    out: "stdout",
  },
  {
    name: "qemu-img",
    cmd: "qemu-img",
    args: (img, out) => ["convert", "-f", "dmg", "-O", "raw", img, out],
  },
  { name: "7zz", cmd: "7zz", args: (img) => ["e", "-so", "-tdmg", img], out: "stdout" },
  { name: "dmg2img", cmd: "dmg2img", args: (img, out) => ["-i", img, "-o", out] },
];

function usage(message) {
  if (message) console.error(`bench: ${message}`);
  console.error(
    "usage: npm run bench [-- --size SIZE (e.g. 256M, 1G; default 1G)] [--runs N (default 3)]",
  );
  process.exit(2);
}

/** `--size 256M --runs 1` (or `--size=256M`) to { size, runs }; the size is rounded up to 512. */
function parseArgs(argv) {
  const opts = { size: 1024 * MIB, runs: 3 };
  for (let i = 0; i < argv.length; i++) {
    let [key, value] = argv[i].split(/=(.*)/s, 2);
    if (key === "--help" || key === "-h") usage();
    if (key !== "--size" && key !== "--runs") usage(`unknown option ${key}`);
    if (value === undefined) value = argv[++i];
    if (value === undefined) usage(`${key} needs a value`);
    if (key === "--runs") {
      opts.runs = Number(value);
      if (!Number.isInteger(opts.runs) || opts.runs < 1)
        usage(`--runs ${value}: give a whole number >= 1`);
    } else {
      const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(value);
      if (!m) usage(`--size ${value}: give bytes or a size like 256M or 1G`);
      const scale = 1024 ** " KMGT".indexOf(m[2].toUpperCase() || " ");
      opts.size = Math.ceil((Number(m[1]) * scale) / 512) * 512;
      if (!Number.isSafeInteger(opts.size) || opts.size < 512)
        usage(`--size ${value} is out of range`);
    }
  }
  return opts;
}

/** First line of `cmd args` output that has a version-looking number in it. */
function version(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5000 });
  const text = `${r.stdout ?? ""}\n${r.stderr ?? ""}`;
  return (
    text
      .split("\n")
      .find((l) => /\d+\.\d+/.test(l))
      ?.trim() ?? "version unknown"
  );
}

function progress(text) {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

function say(text) {
  progress("");
  console.error(text);
}

/**
 * Measure one tool on one image `runs` times. Outputs are hashed and removed after each run.
 *
 * @returns {Promise<object>} a table row
 */
async function bench(tool, image, dir, runs, how, expected, diskSize) {
  const row = { image: image.name, tool: tool.name };
  const bin = tool.cmd.includes("/") ? tool.cmd : findExecutable(tool.cmd);
  if (!bin) return { ...row, note: "not installed" };
  const out = join(dir, "out.raw");
  const walls = [];
  const rss = [];
  await warm(image.path);
  for (let r = 1; r <= runs; r++) {
    progress(`${image.name}: ${tool.name} run ${r}/${runs}`);
    await rm(out, { force: true });
    const m = await measure(how, bin, tool.args(image.path, out), {
      stdoutTo: tool.out === "stdout" ? out : undefined,
      resultFile: join(dir, "time.txt"),
    });
    if (!m.ok || !Number.isFinite(m.wall)) {
      await rm(out, { force: true });
      return { ...row, note: `refused: ${m.message}` };
    }
    walls.push(m.wall);
    rss.push(m.rssKiB / 1024);
    const got = await hashFile(out).catch((e) => ({ sha256: `unreadable (${e.code})`, size: 0 }));
    await rm(out, { force: true });
    if (got.sha256 !== expected) {
      row.differs = `${got.size} bytes, sha256 ${got.sha256.slice(0, 16)}... (want ${diskSize} bytes, ${expected.slice(0, 16)}...)`;
    }
  }
  return { ...row, wall: median(walls), rss: median(rss) };
}

function loadavg() {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

function fmt(n, digits) {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

/** Print rows as an aligned text table; a row with a note prints it in place of the figures. */
function printTable(rows, diskSize, qemuWall) {
  const head = [
    "image",
    "tool",
    "wall s (median)",
    "MB/s",
    "peak RSS MiB",
    "wall / qemu-img",
    "output",
  ];
  const cells = rows.map((r) =>
    r.note
      ? [r.image, r.tool, r.note]
      : [
          r.image,
          r.tool,
          fmt(r.wall, 2),
          fmt(diskSize / 1e6 / r.wall, 0),
          fmt(r.rss, 1),
          Number.isFinite(qemuWall) ? `${fmt(r.wall / qemuWall, 2)}x` : "n/a",
          r.differs ? "OUTPUT DIFFERS" : "ok",
        ],
  );
  const width = head.map((h, i) =>
    Math.max(
      h.length,
      ...cells.filter((c) => c.length > 3 || i < 2).map((c) => (c[i] ?? "").length),
    ),
  );
  const line = (c) =>
    c
      .map((s, i) => (i < 2 || c.length === 3 ? s.padEnd(width[i]) : s.padStart(width[i])))
      .join(" | ")
      .trimEnd();
  console.log(line(head));
  console.log(width.map((w) => "-".repeat(w)).join("-|-"));
  let last = "";
  for (const c of cells) {
    if (c[0] !== last && last !== "")
      console.log(
        width
          .map((w) => " ".repeat(w))
          .join(" | ")
          .trimEnd(),
      );
    last = c[0];
    console.log(line(c));
  }
}

async function main() {
  const { size, runs } = parseArgs(process.argv.slice(2));
  const how = measurer();
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  console.log(`dmg-validate extraction benchmark`);
  console.log(
    `machine: ${cores} cores (${cpu}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`,
  );
  console.log(
    `node ${process.version}; measured with ${how ?? "nothing (neither GNU time nor python3 found)"}`,
  );
  for (const t of TOOLS.slice(2)) {
    const bin = findExecutable(t.cmd);
    console.log(
      `  ${t.name}: ${bin ? version(bin, t.cmd === "qemu-img" ? ["--version"] : []) : "not installed"}`,
    );
  }
  if (!how) return;
  const baseline = await measure(how, process.execPath, ["-e", "0"], {
    resultFile: join(os.tmpdir(), `dmg-validate-bench-${process.pid}.time`),
  });
  await rm(join(os.tmpdir(), `dmg-validate-bench-${process.pid}.time`), { force: true });
  console.log(`node's own floor: \`node -e 0\` peaks at ${fmt(baseline.rssKiB / 1024, 1)} MiB RSS`);
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
    const disk = syntheticDisk(size);
    console.log(
      `disk: ${size} bytes (${fmt(size / MIB, 0)} MiB) of synthetic mixed content (per MiB: text, random and zero 64 KiB runs; 1 MiB in 8 all zeros); ${runs} run(s) per tool, median shown`,
    );
    progress("hashing the synthetic disk");
    const expected = await hashDisk(disk);
    for (const image of IMAGES) {
      image.path = join(dir, `${image.chunkSectors}.dmg`);
      const t0 = performance.now();
      const s = await writeImage(disk, image.path, image.chunkSectors, (done, total) =>
        progress(`writing ${image.name} image: ${fmt((100 * done) / total, 0)}%`),
      );
      const fileSize = (await stat(image.path)).size;
      say(
        `image "${image.name}": ${image.about}; ${s.chunks} chunks, ${fileSize} bytes (${fmt((100 * fileSize) / size, 1)}% of the disk), written in ${fmt((performance.now() - t0) / 1000, 1)} s${s.chunks === 1 ? " (the disk is smaller than one chunk: ONE short chunk)" : ""}`,
      );
    }

    const rows = [];
    for (const image of IMAGES) {
      for (const tool of TOOLS) rows.push(await bench(tool, image, dir, runs, how, expected, size));
    }
    progress("");
    const qemu = rows.find((r) => r.image === IMAGES[0].name && r.tool === "qemu-img");
    const qemuWall = qemu?.wall ?? Number.NaN;
    console.log("");
    printTable(rows, size, qemuWall);
    console.log("");
    console.log(
      "MB/s = disk bytes / 10^6 / wall s; wall / qemu-img is against qemu-img on the 1 MiB-chunk image",
    );

    for (const r of rows.filter((r) => r.differs)) {
      console.log(`!!! OUTPUT DIFFERS: ${r.tool} on the ${r.image} image wrote ${r.differs}`);
    }

    const ours = rows.filter((r) => r.tool === "dmg-validate");
    const small = ours.find((r) => r.image === IMAGES[0].name);
    const speed =
      small?.wall === undefined || !Number.isFinite(qemuWall)
        ? "cannot tell (no figures for both)"
        : `${small.wall <= qemuWall ? "met" : "NOT met"} (${fmt(small.wall, 2)} s vs qemu-img ${fmt(qemuWall, 2)} s on the 1 MiB-chunk image)`;
    const memory = ours.every((r) => r.rss !== undefined)
      ? `${ours.every((r) => r.rss < TARGET_RSS_MIB) ? "met" : "NOT met"} (${ours.map((r) => `${fmt(r.rss, 1)} MiB on ${r.image}`).join(", ")})`
      : "cannot tell (dmg-validate gave no figures for every image)";
    console.log(`targets: extract no slower than qemu-img; peak RSS under ${TARGET_RSS_MIB} MiB`);
    console.log(`  speed: ${speed}`);
    console.log(`  memory: ${memory}`);
  } finally {
    cleanup();
  }
}

await main();
