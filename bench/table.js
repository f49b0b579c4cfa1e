/**
 * The benchmark's output: the reference tools' versions, one table of every measurement, and
 * the issue's targets checked against it.
 */
import { spawnSync } from "node:child_process";
import { findExecutable } from "./measure.js";

const TARGET_RSS_MIB = 64;

const SECTIONS = {
  1: "full extract, zlib, 2048-sector chunks (vs: wall / qemu-img's)",
  2: "full extract, zlib, ~250 MB chunks (vs: wall / qemu-img's in 1, which refuses these)",
  3: "full extract, bzip2, 2048-sector chunks (vs: wall / 7zz's)",
  4: "random 4 KiB reads, fixed seed (vs: time per read over the whole process, relative to qemu-io)",
  5: "open an image of many chunks (tables parsed, nothing decoded)",
  6: "decode throughput per codec, same payloads (MB/s of decoded output)",
  8: "remote: check over HTTP from 127.0.0.1 (vs: wall / check of the local file's)",
};

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

/** One line per reference tool: its version, or that it is missing. */
export function toolVersions() {
  const tools = [
    ["qemu-img", ["--version"]],
    ["qemu-io", ["--version"]],
    ["7zz", []],
    ["dmg2img", []],
    ["bzip2", ["--version"]],
    ["python3", ["--version"]],
  ];
  return tools.map(([name, args]) => {
    const bin = findExecutable(name);
    return `${name}: ${bin ? version(bin, args) : "not installed"}`;
  });
}

const fmt = (n, digits) => (Number.isFinite(n) ? n.toFixed(digits) : "n/a");

/** The row a section's ratios are taken against. */
function reference(rows, section) {
  const find = (s, tool) => rows.find((r) => r.section === s && r.tool === tool && r.wall);
  if (section === 1 || section === 2) return find(section, "qemu-img") ?? find(1, "qemu-img");
  if (section === 3) return find(3, "7zz");
  if (section === 8) return find(8, "check (local file)");
  return undefined;
}

function ratio(rows, r) {
  if (r.section === 4) {
    const q = rows.find((x) => x.section === 4 && x.test === r.test && x.tool === "qemu-io");
    return q?.rate && r.rate ? `${fmt(q.rate / r.rate, 2)}x` : "";
  }
  const ref = reference(rows, r.section);
  return ref && r.wall ? `${fmt(r.wall / ref.wall, 2)}x` : "";
}

/** Print `rows` as one aligned table, then the targets. */
export function printTable(rows) {
  const head = ["#", "test", "tool", "time", "rate", "peak RSS MiB", "vs", "check"];
  const cells = rows.map((r) =>
    r.note
      ? [String(r.section), r.test, r.tool, r.note]
      : [
          String(r.section),
          r.test,
          r.tool,
          r.time ?? `${fmt(r.wall, 2)} s`,
          `${fmt(r.rate, 0)} ${r.unit}`,
          fmt(r.rss, 1),
          ratio(rows, r),
          r.check ?? "",
        ],
  );
  const width = head.map((h, i) =>
    Math.max(
      h.length,
      ...cells.filter((c) => c.length > 4 || i < 3).map((c) => (c[i] ?? "").length),
    ),
  );
  const right = new Set([4, 5, 6]);
  const line = (c) =>
    c
      .map((s, i) => (right.has(i) && c.length > 4 ? s.padStart(width[i]) : s.padEnd(width[i])))
      .join(" | ")
      .trimEnd();
  for (const n of new Set(rows.map((r) => r.section))) console.log(`${n}. ${SECTIONS[n]}`);
  console.log("");
  console.log(line(head));
  console.log(width.map((w) => "-".repeat(w)).join("-|-"));
  let last = cells[0]?.[0];
  for (const c of cells) {
    if (c[0] !== last) console.log("");
    last = c[0];
    console.log(line(c));
  }
  console.log("");
  console.log("time: median wall of the runs; MB/s: disk bytes / 10^6 / wall");
  for (const r of rows.filter((x) => x.check?.startsWith("OUTPUT DIFFERS"))) {
    console.log(`!!! ${r.tool} on ${r.test}: ${r.check}`);
  }
  printTargets(rows);
}

function printTargets(rows) {
  const get = (s, tool) => rows.find((r) => r.section === s && r.tool === tool && r.wall);
  const ours1 = get(1, "dmg-validate");
  const ours2 = get(2, "dmg-validate");
  const ours3 = get(3, "dmg-validate");
  const qemu = get(1, "qemu-img");
  const zz = get(3, "7zz");
  const rss = (r) =>
    r ? `${fmt(r.rss, 1)} MiB ${r.rss < TARGET_RSS_MIB ? "met" : "NOT met"}` : "n/a";
  const verdict = (ok) => (ok ? "met" : "NOT met");
  console.log("targets:");
  if (ours1 && qemu) {
    console.log(
      `  1 zlib 2048-sector extract <= 0.7 x qemu-img: ${fmt(ours1.wall, 2)} s vs ${fmt(qemu.wall, 2)} s = ${fmt(ours1.wall / qemu.wall, 2)}x, ${verdict(ours1.wall <= 0.7 * qemu.wall)}; peak RSS < ${TARGET_RSS_MIB} MiB: ${rss(ours1)}`,
    );
  }
  if (ours1 && ours2) {
    const within = ours2.rate >= 0.9 * ours1.rate;
    console.log(
      `  2 ~250 MB chunks at the same throughput (within 10%): ${fmt(ours2.rate, 0)} vs ${fmt(ours1.rate, 0)} MB/s, ${verdict(within)}; peak RSS: ${rss(ours2)}`,
    );
  }
  if (ours3 && zz) {
    console.log(
      `  3 bzip2 extract no slower than 7zz: ${fmt(ours3.wall, 2)} s vs ${fmt(zz.wall, 2)} s, ${verdict(ours3.wall <= zz.wall)}`,
    );
  }
}

/**
 * Section 9: one table per codec (each element of `tables` is one codec's rows), ratios
 * against 7-Zip's wall time.
 */
export function printCodecTables(tables) {
  console.log("");
  console.log(
    "9. full extract per codec: medians of the runs, each to a fresh output path (removed, then sync, between runs)",
  );
  for (const rows of tables) {
    const zz = rows.find((r) => r.tool === "7zz x -tdmg" && r.wall);
    console.log("");
    console.log(`${rows[0]?.test}:`);
    console.log("");
    console.log("| tool | wall | MB/s | peak RSS MiB | vs 7zz | check |");
    console.log("| --- | ---: | ---: | ---: | ---: | --- |");
    for (const r of rows) {
      if (r.note) {
        console.log(`| ${r.tool} | | | | | ${r.note} |`);
        continue;
      }
      const vs = zz ? `${fmt(r.wall / zz.wall, 2)}x` : "";
      console.log(
        `| ${r.tool} | ${fmt(r.wall, 2)} s | ${fmt(r.rate, 0)} | ${fmt(r.rss, 1)} | ${vs} | ${r.check ?? ""} |`,
      );
    }
  }
}
