/**
 * `npm run coverage`: replays every corpus (fuzz/replay.mjs) under c8 and prints the line and
 * branch coverage of src/ reached, then per file of src/format/ and src/codecs/, the parser
 * and codecs the corpus is meant to cover (goal: 95% of lines). Reports go to coverage/fuzz/.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { ROOT } from "./jazzer.mjs";

const REPORT = join(ROOT, "coverage", "fuzz");
const GOAL = 95;

const c8 = spawnSync(
  process.execPath,
  [
    join(ROOT, "node_modules", "c8", "bin", "c8.js"),
    "--reporter=text",
    "--reporter=json-summary",
    "--reporter=html",
    "--reporter=json",
    `--report-dir=${REPORT}`,
    `--temp-directory=${join(REPORT, "tmp")}`,
    // Every compiled module, loaded or not, mapped back to src/ through the source maps.
    "--all",
    "--src=dist",
    "--include=dist/**/*.js",
    "--exclude=dist/cli/**",
    "--exclude=dist/node/**",
    "--exclude=dist/write/**",
    process.execPath,
    join(ROOT, "fuzz", "replay.mjs"),
  ],
  { cwd: ROOT, stdio: "inherit" },
);

const summary = JSON.parse(readFileSync(join(REPORT, "coverage-summary.json"), "utf8"));
const pct = (m) => `${m.pct.toFixed(1)}% (${m.covered}/${m.total})`.padEnd(20);
const rows = Object.entries(summary)
  .map(([file, m]) => [file === "total" ? file : relative(ROOT, file), m])
  .filter(([file]) => /^src\/(format|codecs)\//.test(file))
  .sort(([a], [b]) => a.localeCompare(b));
const add = (acc, m) => ({ covered: acc.covered + m.covered, total: acc.total + m.total });
let lines = { covered: 0, total: 0 };
let branches = { covered: 0, total: 0 };
console.log(`\n${"file".padEnd(32)}${"lines".padEnd(20)}branches`);
for (const [file, m] of rows) {
  const mark = m.lines.pct < GOAL ? "  < goal" : "";
  console.log(`${file.padEnd(32)}${pct(m.lines)}${pct(m.branches)}${mark}`);
  lines = add(lines, m.lines);
  branches = add(branches, m.branches);
}
const share = (m) => ({ ...m, pct: m.total ? (100 * m.covered) / m.total : 100 });
console.log(`${"src/format + src/codecs".padEnd(32)}${pct(share(lines))}${pct(share(branches))}`);
console.log(
  `${"src/ (all measured)".padEnd(32)}${pct(summary.total.lines)}${pct(summary.total.branches)}`,
);
console.log(`\nHTML report: ${relative(ROOT, join(REPORT, "index.html"))}`);
process.exitCode = c8.status ?? 1;
