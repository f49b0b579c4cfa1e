/**
 * The fuzz targets and how jazzer.js runs them: one table of targets, and helpers that start
 * the jazzer CLI (with the environment fuzz/setup-jazzer.mjs prepares) for fuzzing, merging a
 * corpus and minimizing a crash.
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { jazzerEnv } from "./setup-jazzer.mjs";

export const FUZZ = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(FUZZ, "..");
export const DICT = join(FUZZ, "dmg.dict");
export const BUILD = join(FUZZ, ".build");
export const CORPUS = join(ROOT, "corpus", "fuzz");
const CLI = join(ROOT, "node_modules", "@jazzer.js", "core", "dist", "cli.js");

const KiB = 1024;

/**
 * Every target: `sync` targets call only synchronous layer functions (jazzer's faster --sync
 * mode); `maxLen` is libFuzzer's -max_len (whole images for the pipeline); `timeout` is the
 * per-input limit in ms past which an input is reported as a hang.
 */
export const TARGETS = {
  trailer: { sync: false, maxLen: 160 * KiB, timeout: 5000 },
  plist: { sync: true, maxLen: 64 * KiB, timeout: 5000 },
  rsrc: { sync: true, maxLen: 64 * KiB, timeout: 5000 },
  mish: { sync: false, maxLen: 64 * KiB, timeout: 5000 },
  zlib: { sync: false, maxLen: 128 * KiB, timeout: 5000 },
  bzip2: { sync: false, maxLen: 128 * KiB, timeout: 5000 },
  adc: { sync: false, maxLen: 128 * KiB, timeout: 5000 },
  lzfse: { sync: false, maxLen: 128 * KiB, timeout: 5000 },
  lzma: { sync: false, maxLen: 128 * KiB, timeout: 5000 },
  pipeline: { sync: false, maxLen: 1024 * KiB, timeout: 10000 },
  segments: { sync: false, maxLen: 20 * KiB, timeout: 5000 },
  encrypted: { sync: false, maxLen: 32 * KiB, timeout: 5000 },
  sparse: { sync: false, maxLen: 64 * KiB, timeout: 5000 },
  bundle: { sync: false, maxLen: 64 * KiB, timeout: 5000 },
  text: { sync: true, maxLen: 4 * KiB, timeout: 5000 },
  partitions: { sync: false, maxLen: 64 * KiB, timeout: 5000 },
  filesystems: { sync: false, maxLen: 96 * KiB, timeout: 5000 },
  signature: { sync: false, maxLen: 64 * KiB, timeout: 5000 },
  cms: { sync: false, maxLen: 32 * KiB, timeout: 5000 },
};

/** The libFuzzer memory limit: far above what an 8 MiB working-memory budget can explain. */
const RSS_LIMIT_MB = 1536;

/** Path of a target's module. */
export function targetFile(name) {
  return join(FUZZ, "targets", `${name}.js`);
}

/** A target's committed seed corpus. */
export function corpusDir(name) {
  return join(CORPUS, name);
}

/** Files the targets whose input is a whole file also read as seeds (never write). */
export const FILE_SEEDS = ["real", "regressions"].map((d) => join(ROOT, "corpus", d));

/** Extra seed directories of target `name` (see {@link FILE_SEEDS}). */
export function fileSeeds(name) {
  return name === "trailer" || name === "pipeline" ? FILE_SEEDS : [];
}

let env;

/**
 * Run jazzer on target `name`. `dirs` are corpus directories (the first receives new inputs),
 * `flags` libFuzzer flags. Output goes to `log` (a file path) and, when `echo`, to stderr.
 * `killAfter` (seconds) stops the run and the processes it started. Resolves to { code, output }.
 */
export function runJazzer(name, dirs, flags, { log, echo = false, killAfter } = {}) {
  env ??= { ...process.env, ...jazzerEnv((m) => console.error(m)) };
  const t = TARGETS[name];
  const args = [
    CLI,
    targetFile(name),
    ...dirs,
    "--instrumentation_includes",
    `${join(ROOT, "dist")}/`,
    "--timeout",
    String(t.timeout),
    ...(t.sync ? ["--sync"] : []),
    "--",
    `-max_len=${t.maxLen}`,
    `-dict=${DICT}`,
    `-rss_limit_mb=${RSS_LIMIT_MB}`,
    ...flags,
  ];
  return new Promise((resolve, reject) => {
    // A process group of its own, so that a time limit also stops libFuzzer's subprocesses.
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: killAfter !== undefined,
    });
    const timer =
      killAfter === undefined
        ? undefined
        : setTimeout(() => process.kill(-child.pid, "SIGKILL"), killAfter * 1000);
    const file = log ? createWriteStream(log) : undefined;
    let output = "";
    const take = (chunk) => {
      const s = chunk.toString();
      output += s;
      // Keep memory bounded on long runs: the stats needed are in the last lines.
      if (output.length > 1 << 20) output = output.slice(-(1 << 19));
      file?.write(s);
      if (echo) process.stderr.write(s);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      file?.end();
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

/** libFuzzer's figures from a run's output: the last stats line and the final stats. */
export function parseStats(output) {
  const stats = { execs: 0, execsPerSec: 0, cov: 0, ft: 0, seconds: 0 };
  const lines = [...output.matchAll(/^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+).*?exec\/s: (\d+)/gm)];
  const last = lines.at(-1);
  if (last) {
    stats.execs = Number(last[1]);
    stats.cov = Number(last[2]);
    stats.ft = Number(last[3]);
    stats.execsPerSec = Number(last[4]);
  }
  const stat = (key) => {
    const m = new RegExp(`^stat::${key}:\\s+(\\d+)`, "m").exec(output);
    return m ? Number(m[1]) : undefined;
  };
  stats.execs = stat("number_of_executed_units") ?? stats.execs;
  stats.execsPerSec = stat("average_exec_per_sec") ?? stats.execsPerSec;
  const done = /^Done (\d+) runs in (\d+) second/m.exec(output);
  if (done) {
    stats.execs = Math.max(stats.execs, Number(done[1]));
    stats.seconds = Number(done[2]);
  }
  return stats;
}

/** Merge the inputs of `from` that add coverage into `into` (libFuzzer -merge=1). */
export async function merge(name, into, from, log) {
  const r = await runJazzer(name, [into, ...from], ["-merge=1"], { log });
  if (r.code !== 0) throw new Error(`merging into ${into} failed (exit ${r.code}); see ${log}`);
  const m = /MERGE-OUTER: (\d+) new files with (\d+) new features/.exec(r.output);
  return m ? { files: Number(m[1]), features: Number(m[2]) } : { files: 0, features: 0 };
}

/**
 * Minimize a crashing input into `out` (libFuzzer -minimize_crash=1) for at most `seconds`
 * (each step tries a bounded number of mutations; `out` holds the smallest crash so far).
 * True when `out` was written.
 */
export async function minimizeCrash(name, input, out, seconds, log) {
  const r = await runJazzer(
    name,
    [],
    ["-minimize_crash=1", "-runs=20000", `-exact_artifact_path=${out}`, input],
    { log, killAfter: seconds },
  );
  return existsSync(out) && /CRASH_MIN/.test(r.output);
}
