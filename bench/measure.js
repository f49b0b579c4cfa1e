/**
 * Running one command and measuring it from the outside: wall time and peak resident set size
 * as the operating system reports them, through GNU time when it is there, else through a
 * small Python parent that reads getrusage(RUSAGE_CHILDREN).
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, createReadStream, existsSync } from "node:fs";
import { open, readFile, rm } from "node:fs/promises";
import os from "node:os";
import { delimiter, join } from "node:path";

/**
 * The full path of executable `name` found on PATH, or undefined.
 *
 * @param {string} name
 */
export function findExecutable(name) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** @returns {"gnu-time" | "python" | undefined} how commands are measured on this machine */
export function measurer() {
  if (existsSync("/usr/bin/time")) {
    const r = spawnSync("/usr/bin/time", ["-f", "%e %M", "true"], { encoding: "utf8" });
    if (r.status === 0 && /^\d+(\.\d+)? \d+\s*$/m.test(r.stderr)) return "gnu-time";
  }
  if (findExecutable("python3")) return "python";
  return undefined;
}

/** Runs argv[2:], then writes "<wall seconds> <max RSS KiB>" to argv[1]; exits with its status. */
const PY_TIMER = `
import resource, subprocess, sys, time
t = time.monotonic()
try:
    code = subprocess.run(sys.argv[2:]).returncode
except OSError as e:
    sys.stderr.write(f"cannot run {sys.argv[2]}: {e}\\n")
    sys.exit(127)
wall = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if sys.platform == "darwin":
    rss //= 1024
open(sys.argv[1], "w").write(f"{wall:.3f} {rss}\\n")
sys.exit(code if code >= 0 else 128 - code)
`;

/**
 * @typedef {object} Measured
 * @property {boolean} ok the command exited with status 0
 * @property {number} wall wall time in seconds
 * @property {number} rssKiB peak resident set size in KiB
 * @property {string} message first meaningful line of standard error (for a failure)
 */

/** Lines of standard error that say nothing about the run (qemu's missing optional modules). */
function noise(line) {
  return /^qemu: module .* not found/.test(line) || line.trim() === "";
}

/**
 * Run `cmd args`, with standard output going to the file `stdoutTo` when given (else discarded),
 * and measure it with `how`.
 *
 * @param {"gnu-time" | "python"} how
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ stdoutTo?: string, resultFile: string }} opts
 * @returns {Promise<Measured>}
 */
export async function measure(how, cmd, args, { stdoutTo, resultFile }) {
  await rm(resultFile, { force: true });
  const out = stdoutTo === undefined ? undefined : await open(stdoutTo, "w");
  const [bin, argv] =
    how === "gnu-time"
      ? ["/usr/bin/time", ["-f", "%e %M", "-o", resultFile, cmd, ...args]]
      : ["python3", ["-c", PY_TIMER, resultFile, cmd, ...args]];
  let stderr = "";
  const code = await new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { stdio: ["ignore", out ? out.fd : "ignore", "pipe"] });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (s) => {
      if (stderr.length < 65536) stderr += s;
    });
    child.on("error", reject);
    child.on("close", (c, signal) => resolve(c ?? `signal ${signal}`));
  }).finally(() => out?.close());
  const result = (await readFile(resultFile, "utf8").catch(() => ""))
    .split("\n")
    .filter((l) => /^\d+(\.\d+)? \d+$/.test(l.trim()))
    .pop();
  const [wall, rssKiB] = result ? result.trim().split(" ").map(Number) : [Number.NaN, Number.NaN];
  const message =
    stderr.split("\n").find((l) => !noise(l)) ?? `exited with status ${code} and no message`;
  return { ok: code === 0, wall, rssKiB, message: message.trim() };
}

/**
 * SHA-256 (hex) and size of the file at `path`.
 *
 * @param {string} path
 * @returns {Promise<{ sha256: string, size: number }>}
 */
export async function hashFile(path) {
  const h = createHash("sha256");
  let size = 0;
  for await (const piece of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    h.update(piece);
    size += piece.length;
  }
  return { sha256: h.digest("hex"), size };
}

/**
 * Read the file at `path` once and throw the bytes away, so it sits in the page cache.
 *
 * @param {string} path
 */
export async function warm(path) {
  for await (const _ of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) {
    // Reading is the point.
  }
}

/**
 * Run `cmd args` under GNU time, standard output discarded: wall and CPU (user + system)
 * seconds, or the error's last line.
 *
 * @param {string} cmd
 * @param {string[]} args
 * @returns {{ wall: number, cpu: number } | { error: string }}
 */
export function timed(cmd, args) {
  const r = spawnSync("/usr/bin/time", ["-f", "%e %U %S", cmd, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) return { error: r.stderr.trim().split("\n").pop() };
  const [wall, user, sys] = r.stderr.trim().split("\n").pop().split(" ").map(Number);
  return { wall, cpu: user + sys };
}

/**
 * Print one row of a codec benchmark: the medians of `runs` ({ wall, cpu } seconds, or
 * { error }) as MB/s of `bytes` output and seconds.
 */
export function cpuRow(name, runs, bytes, note) {
  const ok = runs.filter((r) => !r.error);
  if (ok.length === 0) return console.log(`${name.padEnd(28)} failed: ${runs[0].error}`);
  const wall = median(ok.map((r) => r.wall));
  const cpu = median(ok.map((r) => r.cpu));
  const f = (x) => x.toFixed(1).padStart(7);
  console.log(
    `${name.padEnd(28)}${f(bytes / 1e6 / wall)} MB/s wall ${f(bytes / 1e6 / cpu)} MB/s CPU   wall ${wall.toFixed(3)} s  CPU ${cpu.toFixed(3)} s  ${note}`,
  );
}

/**
 * A codec benchmark's options: --mib N (64), --runs N (5), --image PATH, and those of `extra`
 * that it names ("--baseline DIR", "--extract"). Prints `usage` and exits on anything else.
 */
export function codecBenchArgs(argv, usage, extra = []) {
  const opts = { mib: 64, runs: 5, baseline: undefined, extract: false, image: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--extract" && extra.includes(a)) opts.extract = true;
    else if (a === "--baseline" && extra.includes(a)) opts.baseline = argv[++i];
    else if (a === "--image") opts.image = argv[++i];
    else if (a === "--mib" || a === "--runs") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a whole number >= 1`);
      opts[a.slice(2)] = n;
    } else {
      console.error(usage);
      process.exit(2);
    }
  }
  return opts;
}

/** The line a codec benchmark starts with: Node, CPU, cores and load, the run count. */
export function machineLine(runs) {
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
  return `node ${process.version}, ${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} cores, load ${load}; medians of ${runs}`;
}

/**
 * The median of `xs` (the mean of the middle two for an even count).
 *
 * @param {number[]} xs
 */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Bytes per random read. */
export const READ = 4096;

/**
 * The same `count` sector-aligned offsets of a `size`-byte disk for every reader: a xorshift
 * sequence from `seed`, two draws per offset.
 */
export function randomOffsets(size, count, seed) {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const slots = Math.floor((size - READ) / 512) + 1;
  const out = [];
  for (let k = 0; k < count; k++) out.push(((next() * 2 ** 21 + (next() >>> 11)) % slots) * 512);
  return out;
}
