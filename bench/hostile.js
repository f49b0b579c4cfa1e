/**
 * `node bench/hostile.js [--cli PATH] [--timeout S] [--only NAME,...] [--out DIR] [--keep]
 * [--json FILE]`: what the CLI costs on hostile inputs. Each input is generated (deterministically,
 * see hostile-images.js) into a temporary directory, then each of its commands is run once, one
 * at a time, under GNU time, and the results are printed as one markdown table: exit status, CPU
 * seconds (user + system), wall seconds, peak RSS and the first line the command printed.
 *
 *   --cli PATH     the bin/dmg-validate.js to measure (default: this project's), so the same
 *                  inputs can be measured against another build for before/after figures
 *   --timeout S    seconds before a run is killed with SIGKILL (default 120)
 *   --only A,B     only these inputs (names as in the table)
 *   --out DIR      make the temporary directory inside DIR (default: the OS's temp directory)
 *   --keep         keep the generated inputs
 *   --json FILE    also write the rows as JSON
 *
 * Inputs are built with ../dist, so the project must be built first. It only reports: a crash,
 * a failure or a timeout is a row of the table, never a failure of the benchmark.
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statfsSync,
  statSync,
  writeFileSync,
} from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  attributeFlood,
  bzip2Bomb,
  failingChunks,
  longNames,
  manyZeroChunks,
  zeroFilled,
  zlibZeros,
} from "./hostile-images.js";

const MiB = 1024 * 1024;
const TIME = "/usr/bin/time";
/** This project's command line. */
const DEFAULT_CLI = fileURLToPath(new URL("../bin/dmg-validate.js", import.meta.url));
/** A run is also killed when the output's file system gets this close to full. */
const DISK_RESERVE = 4 * 1024 * MiB;
/** Outcome lines are cut to this many characters. */
const OUTCOME_CHARS = 100;
/** Standard output and error kept per run (the start, and for error the end too). */
const KEEP_HEAD = 64 * 1024;
const KEEP_TAIL = 4 * 1024;

/**
 * The commands, each with the arguments after the CLI's path (`img` the input, `out` a file
 * name in a directory removed after the run) and whether its standard output goes to /dev/null
 * (a disk on standard output) rather than being kept for the outcome.
 */
const CHECK = { label: "check", args: (img) => ["check", img] };
const CHECK_1 = { label: "check --threads 1", args: (img) => ["check", "--threads", "1", img] };
const INFO = { label: "info", args: (img) => ["info", img] };
const EXTRACT = { label: "extract IMG OUT", args: (img, out) => ["extract", img, out] };
const EXTRACT_STDOUT = {
  label: "extract IMG - > /dev/null",
  args: (img) => ["extract", img, "-"],
  devNull: true,
};
/** cat of the first 16 GiB only: the whole 16 TiB would not finish in any useful timeout. */
const CAT_16G = {
  label: "cat IMG --offset 0 --length 17179869184 > /dev/null",
  args: (img) => ["cat", img, "--offset", "0", "--length", String(16 * 1024 * 1024 * MiB)],
  devNull: true,
};
const DISK_COMMANDS = [CHECK, INFO, EXTRACT, CAT_16G, EXTRACT_STDOUT];

/** The inputs in the order they run; `make(dir, name)` writes the input and returns its path. */
const INPUTS = [
  {
    name: "fail-130k",
    make: (dir, name) => failingChunks(dir, name, 130_000),
    commands: [CHECK, CHECK_1],
  },
  {
    name: "fail-2m",
    make: (dir, name) => failingChunks(dir, name, 2_097_152),
    commands: [CHECK_1],
  },
  {
    name: "attr-flood-10m",
    make: (dir, name) => attributeFlood(dir, name, 10 * MiB),
    commands: [CHECK, INFO],
  },
  {
    name: "attr-flood-72m",
    make: (dir, name) => attributeFlood(dir, name, 72 * MiB),
    commands: [CHECK, INFO],
  },
  { name: "zero-16t", make: (dir, name) => zeroFilled(dir, name, "zero"), commands: DISK_COMMANDS },
  {
    name: "ignore-16t",
    make: (dir, name) => zeroFilled(dir, name, "ignore"),
    commands: DISK_COMMANDS,
  },
  { name: "bzip2-bomb", make: bzip2Bomb, commands: [CHECK, CHECK_1] },
  { name: "zlib-2g", make: zlibZeros, commands: [CHECK, EXTRACT] },
  { name: "names-62k", make: longNames, commands: [INFO, CHECK] },
  { name: "many-zero-chunks", make: manyZeroChunks, commands: [CHECK, EXTRACT] },
];

/** The command line, checked; exits with status 2 on a mistake. */
function options() {
  const { values } = parseArgs({
    options: {
      cli: { type: "string" },
      timeout: { type: "string", default: "120" },
      only: { type: "string" },
      out: { type: "string" },
      keep: { type: "boolean", default: false },
      json: { type: "string" },
    },
  });
  const fail = (message) => {
    process.stderr.write(`hostile: ${message}\n`);
    process.exit(2);
  };
  const cli = resolve(values.cli ?? DEFAULT_CLI);
  if (!existsSync(cli)) fail(`no CLI at ${cli}`);
  const timeout = Number(values.timeout);
  if (!(timeout > 0)) fail(`--timeout needs a positive number of seconds, not "${values.timeout}"`);
  const only = values.only?.split(",").filter((s) => s !== "");
  for (const name of only ?? []) {
    if (!INPUTS.some((i) => i.name === name)) {
      fail(`no input "${name}"; the inputs are ${INPUTS.map((i) => i.name).join(", ")}`);
    }
  }
  if (!existsSync(TIME)) fail(`${TIME} (GNU time) is needed`);
  return { ...values, cli, timeout, only };
}

/** The ids of the processes whose parent is `pid` (from /proc). */
function childrenOf(pid) {
  const out = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The fields after the command name, which is in parentheses: state, then the parent.
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process ended while the list was read.
    }
  }
  return out;
}

/** Bytes a process may still write to the file system holding `dir`. */
function freeBytes(dir) {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Collects a stream's text: the first KEEP_HEAD characters and, with `tail`, the last ones. */
function collector(stream, tail) {
  const kept = { head: "", tail: "" };
  stream.setEncoding("utf8");
  stream.on("data", (s) => {
    if (kept.head.length < KEEP_HEAD) kept.head += s.slice(0, KEEP_HEAD - kept.head.length);
    if (tail) kept.tail = (kept.tail + s).slice(-KEEP_TAIL);
  });
  return kept;
}

/**
 * Run `node cli args` under GNU time, killing the node process with SIGKILL after `timeout`
 * seconds (or when the disk is nearly full), and measure it.
 *
 * @returns {Promise<{ exit: string, cpu: number, wall: number, rssMiB: number, outcome: string }>}
 */
async function run(cli, args, { timeout, devNull, dir, scratch }) {
  const nullFd = devNull ? openSync("/dev/null", "w") : undefined;
  const child = spawn(TIME, ["-f", "%e %U %S %M", process.execPath, cli, ...args], {
    stdio: ["ignore", nullFd ?? "pipe", "pipe"],
  });
  const stdout = devNull ? undefined : collector(child.stdout, false);
  const stderr = collector(child.stderr, true);
  let killed;
  const kill = (why) => {
    if (killed !== undefined) return;
    killed = why;
    // Kill the measured process, not time, so that time still reports what it used.
    for (const pid of childrenOf(child.pid)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // It ended on its own meanwhile.
      }
    }
    setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
  };
  const timer = setTimeout(() => kill(`timeout (killed at ${timeout} s)`), timeout * 1000);
  const watch = setInterval(() => {
    if (freeBytes(scratch) < DISK_RESERVE) kill("killed: the disk was nearly full");
  }, 1000);
  const [code, signal] = await new Promise((done) => {
    child.on("close", (c, s) => done([c, s]));
  });
  clearTimeout(timer);
  clearInterval(watch);
  if (nullFd !== undefined) closeSync(nullFd);

  // time's report is the last line of standard error, after its own note on how the command
  // ended when it did not exit with status 0.
  const errText = stderr.head.length < KEEP_HEAD ? stderr.head : `${stderr.head}\n${stderr.tail}`;
  const lines = errText.split("\n").filter((l) => l.trim() !== "");
  const report = /^(\d+\.\d+) (\d+\.\d+) (\d+\.\d+) (\d+)$/.exec(lines.at(-1)?.trim() ?? "");
  if (report) lines.pop();
  const note = /^Command (terminated by signal|exited with non-zero status) (\d+)$/.exec(
    lines.at(-1)?.trim() ?? "",
  );
  if (note) lines.pop();
  let exit;
  if (note?.[1] === "terminated by signal") exit = `signal ${note[2]}`;
  else if (signal !== null) exit = `time got ${signal}`;
  else exit = String(code);
  const [wall, user, sys, rssKiB] = report ? report.slice(1).map(Number) : [];

  const first = (text) => text?.split("\n").find((l) => l.trim() !== "");
  let outcome = killed ?? first(lines.join("\n")) ?? first(stdout?.head) ?? "(no output)";
  // Paths relative to the temporary directory; column-aligned output as one line in a cell.
  outcome = outcome.split(join(dir, "/")).join("").replace(/\s+/g, " ").trim();
  if (outcome.length > OUTCOME_CHARS) outcome = `${outcome.slice(0, OUTCOME_CHARS - 3)}...`;
  return {
    exit,
    cpu: report ? user + sys : Number.NaN,
    wall: report ? wall : Number.NaN,
    rssMiB: report ? rssKiB / 1024 : Number.NaN,
    outcome,
  };
}

/** `n` bytes for people: 1.4 KiB, 135 MiB. */
function human(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n < 10 ? n.toFixed(1) : Math.round(n)} ${units[i]}`;
}

/** A number with `digits` decimals, or "-" when there is none. */
function fixed(x, digits) {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

/** The rows as a markdown table. */
export function markdown(rows) {
  const head = ["input", "size", "command", "exit", "CPU s", "wall s", "peak RSS MiB", "outcome"];
  const cells = rows.map((r) => [
    r.input,
    `${r.bytes.toLocaleString("en-US")} (${human(r.bytes)})`,
    `\`${r.command}\``,
    r.exit,
    fixed(r.cpu, 2),
    fixed(r.wall, 2),
    fixed(r.rssMiB, 0),
    r.outcome.replaceAll("|", "\\|"),
  ]);
  const line = (c) => `| ${c.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...cells.map(line)].join("\n");
}

/**
 * Measure `cli` on the inputs named in `only` (default: all): the rows of the table, each with
 * input, bytes, command, exit, cpu, wall, rssMiB and outcome.
 */
export async function measureHostile({ cli = DEFAULT_CLI, timeout = 120, only, out } = {}) {
  return measureWith({ cli: resolve(cli), timeout, only, out, keep: false });
}

async function main() {
  const opts = options();
  const rows = await measureWith(opts);
  process.stdout.write(`${markdown(rows)}\n`);
  if (opts.json !== undefined) writeFileSync(opts.json, `${JSON.stringify(rows, null, 2)}\n`);
}

async function measureWith(opts) {
  const base = resolve(opts.out ?? os.tmpdir());
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, "dmg-hostile-"));
  const inputs = INPUTS.filter((i) => opts.only === undefined || opts.only.includes(i.name));
  const total = inputs.reduce((n, i) => n + i.commands.length, 0);
  const started = Date.now();
  const rows = [];
  process.stderr.write(`measuring ${opts.cli}; inputs in ${dir}\n`);
  try {
    for (const input of inputs) {
      process.stderr.write(`${input.name}: generating... `);
      const t = Date.now();
      const img = input.make(dir, input.name);
      const bytes = statSync(img).size;
      process.stderr.write(`${human(bytes)} in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
      for (const command of input.commands) {
        process.stderr.write(`[${rows.length + 1}/${total}] ${input.name}: ${command.label}... `);
        const scratch = join(dir, "out");
        mkdirSync(scratch, { recursive: true });
        const args = command.args(img, join(scratch, `${input.name}.raw`));
        const r = await run(opts.cli, args, {
          timeout: opts.timeout,
          devNull: command.devNull === true,
          dir,
          scratch,
        });
        // The extracted disk, and any temporary file a killed run left behind.
        rmSync(scratch, { recursive: true, force: true });
        process.stderr.write(`exit ${r.exit}, ${fixed(r.wall, 1)} s: ${r.outcome}\n`);
        rows.push({ input: input.name, bytes, command: command.label, ...r });
      }
    }
  } finally {
    if (opts.keep) process.stderr.write(`inputs kept in ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
  process.stderr.write(`done in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  await main();
}
