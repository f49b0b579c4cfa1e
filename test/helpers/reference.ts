/**
 * Runners for the reference readers the tests compare against: QEMU (`qemu-img convert -f dmg`),
 * 7-Zip (`7zz x -tdmg`, `7zz t -tdmg`) and dmg2img. Each works on temporary files under the OS
 * temporary directory and removes them.
 *
 * When a tool is missing, tests skip with a visible message, except under CI (the CI variable set)
 * where a missing tool fails the test: a CI run must not pass by skipping the comparisons.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What a test context offers for skipping (vitest's `ctx.skip`). */
export interface SkipContext {
  skip(note?: string): never;
}

const found = new Map<string, boolean>();

/** True when `name` is an executable on the PATH. */
export function haveTool(name: string): boolean {
  let have = found.get(name);
  if (have === undefined) {
    const r = spawnSync("sh", ["-c", 'command -v "$1"', "sh", name], { encoding: "utf8" });
    have = r.status === 0 && r.stdout.trim() !== "";
    found.set(name, have);
  }
  return have;
}

/**
 * Make sure `name` is installed before a test uses it. Missing under CI: throws (the test fails).
 * Missing otherwise: prints why and skips the test through `ctx` (or throws when no context).
 */
export function requireTool(name: string, ctx?: SkipContext): void {
  if (haveTool(name)) return;
  const message = `reference reader ${name} is not installed (Debian: apt-get install -y qemu-utils 7zip dmg2img bzip2 xz-utils)`;
  if (process.env.CI) throw new Error(`${message}; CI requires it`);
  console.warn(`SKIPPED: ${message}`);
  if (ctx) ctx.skip(message);
  throw new Error(message);
}

/** Run `fn` with a fresh temporary directory, removed afterwards. */
export function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "dmg-validate-ref-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The outcome of running a reference reader. */
export interface ToolResult {
  /** Exit status (null when killed by a signal). */
  status: number | null;
  /** The signal that killed it, if any. */
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The disk the reader produced, when it succeeded. */
  disk?: Uint8Array;
}

function run(cmd: string, args: string[]): Omit<ToolResult, "disk"> {
  const r = spawnSync(cmd, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** `qemu-img convert -f dmg -O raw`: the disk QEMU reads out of `image`. */
export function qemuConvert(image: Uint8Array): ToolResult {
  return withTempDir((dir) => {
    const input = join(dir, "in.dmg");
    const output = join(dir, "out.raw");
    writeFileSync(input, image);
    const r = run("qemu-img", ["convert", "-f", "dmg", "-O", "raw", input, output]);
    return r.status === 0 ? { ...r, disk: new Uint8Array(readFileSync(output)) } : r;
  });
}

/** `dmg2img -i IN -o OUT`: the disk dmg2img reads out of `image`. */
export function dmg2img(image: Uint8Array): ToolResult {
  return withTempDir((dir) => {
    const input = join(dir, "in.dmg");
    const output = join(dir, "out.img");
    writeFileSync(input, image);
    const r = run("dmg2img", ["-i", input, "-o", output]);
    return r.status === 0 ? { ...r, disk: new Uint8Array(readFileSync(output)) } : r;
  });
}

/** The files 7-Zip extracted, in table order. */
export interface SevenZipExtract extends ToolResult {
  /** File names as 7-Zip wrote them (`N.name`), ordered by N. */
  names: string[];
}

/**
 * `7zz x -tdmg`: 7-Zip lists each partition table as a file named `N.name`; concatenated in N
 * order they are the virtual disk (`disk`). Names not of that form make the extraction fail.
 */
export function sevenZipExtract(image: Uint8Array): SevenZipExtract {
  return withTempDir((dir) => {
    const input = join(dir, "in.dmg");
    const outDir = join(dir, "out");
    writeFileSync(input, image);
    const r = run("7zz", ["x", "-tdmg", "-y", `-o${outDir}`, input]);
    if (r.status !== 0) return { ...r, names: [] };
    const entries = readdirSync(outDir).map((name) => {
      const m = /^(\d+)\./.exec(name);
      if (!m) throw new Error(`7-Zip wrote ${name}, not a file named N.name`);
      return { n: Number(m[1]), name };
    });
    entries.sort((a, b) => a.n - b.n);
    const parts = entries.map((e) => readFileSync(join(outDir, e.name)));
    const disk = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let pos = 0;
    for (const p of parts) {
      disk.set(p, pos);
      pos += p.length;
    }
    return { ...r, names: entries.map((e) => e.name), disk };
  });
}

/** `7zz t -tdmg`: 7-Zip's integrity test, which checks every CRC32. */
export function sevenZipTest(image: Uint8Array): ToolResult {
  return withTempDir((dir) => {
    const input = join(dir, "in.dmg");
    writeFileSync(input, image);
    return run("7zz", ["t", "-tdmg", input]);
  });
}

/** `7zz l -tdmg -slt`: 7-Zip's technical listing (paths, sizes, per-item properties). */
export function sevenZipList(image: Uint8Array): ToolResult {
  return withTempDir((dir) => {
    const input = join(dir, "in.dmg");
    writeFileSync(input, image);
    return run("7zz", ["l", "-tdmg", "-slt", input]);
  });
}
