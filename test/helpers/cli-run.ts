/** Running the built CLI as a user would: a child process, its output as text. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { REAL } from "./corpus.js";

export const ROOT = join(import.meta.dirname, "..", "..");
export const BIN = join(ROOT, "bin", "dmg-validate.js");

/** Real images the CLI tests read. */
export const ZLIB = join(REAL, "jhermsmeier_node-udif_zlib-compressed.dmg");
export const RAW = join(REAL, "jhermsmeier_node-udif_compression-raw.dmg");
export const ISO = join(REAL, "brettcs_dtrx_test.dmg");
export const AES = join(REAL, "citruz_dmgwiz_input_aes256.dmg");

/** One run of the CLI. */
export interface Run {
  status: number | null;
  stdout: Buffer;
  out: string;
  err: string;
}

/**
 * Run `dmg-validate args` in `cwd`. The environment of the test run is kept except what would
 * change the output: the debug switch, and GitHub Actions' variables (under Actions the CLI
 * picks the `github` format by itself).
 */
export function runCli(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  input?: Uint8Array,
): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    env: {
      ...process.env,
      DMG_VALIDATE_DEBUG: "",
      GITHUB_ACTIONS: "",
      GITHUB_STEP_SUMMARY: "",
      ...env,
    },
    input,
    maxBuffer: 64 * 1024 * 1024,
  });
  return {
    status: r.status,
    stdout: r.stdout,
    out: r.stdout.toString("utf8"),
    err: r.stderr.toString("utf8"),
  };
}

/**
 * A temporary folder for one test file's images, removed after its tests; the built CLI must
 * exist (npm test builds it first). `file` writes an image there, `cli` runs the CLI there.
 */
export function cliSandbox(prefix: string): {
  tmp: string;
  file: (name: string, bytes: Uint8Array) => string;
  cli: (args: string[]) => Run;
} {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  beforeAll(() => {
    expect(existsSync(join(ROOT, "dist", "cli", "main.js"))).toBe(true);
  });
  const file = (name: string, bytes: Uint8Array): string => {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    return p;
  };
  return { tmp, file, cli: (args) => runCli(args, tmp) };
}
