/**
 * Fuzz campaigns with jazzer.js (see "Fuzzing" in README.md).
 *
 *   node fuzz/run.mjs TARGET... [--time S] [--jobs N]   fuzz the named targets
 *   node fuzz/run.mjs all [--time S] [--jobs N]         every target
 *   node fuzz/run.mjs all --time 20 --smoke             CI: fail on a finding, change nothing
 *   node fuzz/run.mjs seeds                             add the seeds, minimize every corpus
 *   node fuzz/run.mjs minimize [TARGET...]              minimize corpora (-merge=1 from scratch)
 *   --verbose                                           show libFuzzer's output as it runs
 *
 * A campaign runs each target for S seconds (N at a time), merges the inputs that add coverage
 * into corpus/fuzz/<target>/ (-merge=1), minimizes each crash (-minimize_crash=1), turns it
 * into a DMG in corpus/regressions/ with a row in corpus/README.md whose expected outcome a
 * person fills in, and prints a summary table. Exit status 1 when anything was found.
 */
import { createHash } from "node:crypto";
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { availableParallelism } from "node:os";
import { join, relative } from "node:path";
import { rebuildCorpus, seeds } from "./corpus.mjs";
import {
  BUILD,
  CORPUS,
  corpusDir,
  fileSeeds,
  merge,
  minimizeCrash,
  parseStats,
  ROOT,
  runJazzer,
  TARGETS,
} from "./jazzer.mjs";

const REGRESSIONS = join(ROOT, "corpus", "regressions");
const CORPUS_README = join(ROOT, "corpus", "README.md");
const MINIMIZE_SECONDS = 60;
const MAX_RESTARTS = 3;

const sha1 = (bytes) => createHash("sha1").update(bytes).digest("hex");
const rel = (p) => relative(ROOT, p);

function usage(message) {
  console.error(
    `${message}\nusage: node fuzz/run.mjs (all | seeds | minimize | TARGET...) [--time S] [--jobs N] [--smoke] [--verbose]`,
  );
  console.error(`targets: ${Object.keys(TARGETS).join(", ")}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { targets: [], time: 60, jobs: 1, smoke: false, command: undefined, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) usage(`${a} needs a positive integer`);
      return v;
    };
    if (a === "--time") opts.time = value();
    else if (a === "--jobs") opts.jobs = value();
    else if (a === "--smoke") opts.smoke = true;
    else if (a === "--verbose") opts.verbose = true;
    else if (a === "all") opts.targets.push(...Object.keys(TARGETS));
    else if (a === "seeds" || a === "minimize") opts.command = a;
    else if (a in TARGETS) opts.targets.push(a);
    else usage(`unknown argument ${a}`);
  }
  opts.jobs = Math.min(opts.jobs, availableParallelism());
  if (!opts.command && opts.targets.length === 0) usage("name a target, all, seeds or minimize");
  return opts;
}

/** The first line of the exception a finding's output reports. */
function exceptionOf(output) {
  const m = /Uncaught Exception: (.*)|==\d+== ERROR: libFuzzer: (.*)/.exec(output);
  return (m?.[1] ?? m?.[2] ?? "unknown failure").trim().slice(0, 200);
}

/** The exception and the frame that threw it: findings with the same one are one bug. */
function signatureOf(output) {
  const frame = /Uncaught Exception: .*\n\s+at (.*)/.exec(output)?.[1] ?? "";
  return `${exceptionOf(output).replace(/\d+/g, "N")} ${frame}`;
}

/** The exception `input` alone makes target `name` throw, or undefined when it runs clean. */
async function reproduce(name, input, log) {
  const r = await runJazzer(name, [input], [], { log });
  return r.code === 0 ? undefined : exceptionOf(r.output);
}

/** Fuzz one target for `time` seconds, restarting after a crash while time is left. */
async function fuzzTarget(name, opts) {
  const work = join(BUILD, "campaign", name);
  rmSync(work, { recursive: true, force: true });
  const fresh = join(work, "new");
  const artifacts = join(work, "artifacts");
  mkdirSync(fresh, { recursive: true });
  mkdirSync(artifacts, { recursive: true });
  const dirs = [fresh, corpusDir(name), ...fileSeeds(name)];
  const result = { name, execs: 0, execsPerSec: 0, cov: 0, ft: 0, added: 0, findings: [] };
  const seen = new Set();
  const signatures = new Set();
  const start = Date.now();
  for (let attempt = 0; attempt <= MAX_RESTARTS; attempt++) {
    const left = opts.time - Math.floor((Date.now() - start) / 1000);
    if (left <= 0) break;
    const log = join(work, `fuzz-${attempt}.log`);
    const r = await runJazzer(
      name,
      dirs,
      [`-max_total_time=${left}`, "-print_final_stats=1", `-artifact_prefix=${artifacts}/`],
      { log, echo: opts.verbose },
    );
    const s = parseStats(r.output);
    result.execs += s.execs;
    result.execsPerSec = s.execsPerSec;
    result.cov = Math.max(result.cov, s.cov);
    result.ft = Math.max(result.ft, s.ft);
    if (r.code === 0) break;
    const found = readdirSync(artifacts).filter((f) => !f.startsWith("slow-unit-") && !seen.has(f));
    if (!/Uncaught Exception|ERROR: libFuzzer/.test(r.output)) {
      throw new Error(`${name}: jazzer exited ${r.code} without a finding; see ${rel(log)}`);
    }
    // The same input again (a corpus input that fails): restarting cannot get past it.
    if (found.length === 0) break;
    const signature = signatureOf(r.output);
    console.error(`${name}: finding: ${exceptionOf(r.output)} (log ${rel(log)})`);
    for (const f of found) {
      seen.add(f);
      // A restart often finds the same bug again: keep one input per exception and frame.
      if (!signatures.has(signature)) result.findings.push(join(artifacts, f));
    }
    signatures.add(signature);
    if (opts.smoke) break;
  }
  if (!opts.smoke) {
    result.added = (await merge(name, corpusDir(name), [fresh], join(work, "merge.log"))).files;
  }
  return result;
}

/** Minimize a finding, store it in corpus/regressions/ and add its row to corpus/README.md. */
async function record(name, artifact) {
  const dir = join(BUILD, "findings");
  mkdirSync(dir, { recursive: true });
  const min = join(dir, `${name}-${sha1(readFileSync(artifact)).slice(0, 12)}`);
  const log = `${min}.log`;
  // An async target's crash can be written for the input after the one that threw (the
  // promise settles late), so the minimized input must crash on its own; else keep the original.
  let what;
  if (await minimizeCrash(name, artifact, min, MINIMIZE_SECONDS, log)) {
    what = await reproduce(name, min, `${min}.replay.log`);
  }
  if (what === undefined) {
    copyFileSync(artifact, min);
    what = (await reproduce(name, min, `${min}.replay.log`)) ?? "does not reproduce on its own";
  }
  const input = new Uint8Array(readFileSync(min));
  const { wrapInput } = await import("./wrap.mjs");
  const wrapped = wrapInput(name, input);
  if (wrapped === undefined) {
    // A folder's worth of input (a bundle, a set): kept as the target's own regression, which
    // test/fuzz-regressions.test.ts replays once a person adds its test and README line.
    const file = join("..", "fuzz", name, `regression-${sha1(input).slice(0, 12)}`);
    const known = existsSync(join(REGRESSIONS, file));
    if (!known) writeFileSync(join(REGRESSIONS, file), input);
    return { input: min, file, what, known };
  }
  const file = `fuzz-${name}-${sha1(input).slice(0, 12)}.dmg`;
  if (existsSync(join(REGRESSIONS, file))) return { input: min, file, what, known: true };
  writeFileSync(join(REGRESSIONS, file), wrapped);
  const cell = `${name} fuzz target: ${what}`.replaceAll("|", "\\|").replaceAll("`", "'");
  appendFileSync(CORPUS_README, `| \`${file}\` | ${cell} | TODO |\n`);
  return { input: min, file, what, known: false };
}

/** Run `fn` over `items`, at most `jobs` at a time, keeping the order of the results. */
async function pool(items, jobs, fn) {
  const results = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, worker));
  return results;
}

function printSummary(results) {
  const rows = [["target", "execs/s", "execs", "cov", "ft", "new inputs", "findings"]];
  for (const r of results) {
    rows.push(
      [r.name, r.execsPerSec, r.execs, r.cov, r.ft, r.added, r.findings.length].map(String),
    );
  }
  const width = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row) => `| ${row.map((cell, c) => cell.padEnd(width[c])).join(" | ")} |`;
  console.log(line(rows[0]));
  console.log(`|${width.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const row of rows.slice(1)) console.log(line(row));
}

async function campaign(opts) {
  console.error(
    `fuzzing ${opts.targets.join(", ")} for ${opts.time} s each, ${opts.jobs} at a time${opts.smoke ? " (smoke)" : ""}`,
  );
  const results = await pool(opts.targets, opts.jobs, (name) => fuzzTarget(name, opts));
  let findings = 0;
  for (const r of results) {
    for (const artifact of r.findings) {
      findings++;
      if (opts.smoke) {
        const bytes = readFileSync(artifact);
        console.error(
          `${r.name}: ${rel(artifact)} (base64 ${bytes.toString("base64").slice(0, 400)})`,
        );
        continue;
      }
      const f = await record(r.name, artifact);
      console.error(
        `${r.name}: ${f.what}\n  minimized input ${rel(f.input)}\n  ${f.known ? "already in" : "added to"} corpus/regressions/${f.file}`,
      );
    }
  }
  printSummary(results);
  if (findings > 0) {
    console.error(
      opts.smoke
        ? `${findings} finding(s): the smoke campaign fails`
        : `${findings} finding(s): fill in the expected outcome of the new rows in corpus/README.md`,
    );
    process.exitCode = 1;
  }
}

const opts = parseArgs(process.argv.slice(2));
mkdirSync(CORPUS, { recursive: true });
if (opts.command === "seeds") await seeds();
if (opts.command === "minimize") {
  const names = opts.targets.length > 0 ? opts.targets : Object.keys(TARGETS);
  for (const name of names) await rebuildCorpus(name, [corpusDir(name)]);
} else if (opts.targets.length > 0) await campaign(opts);
