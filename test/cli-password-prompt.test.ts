/**
 * The password prompt, for real: the CLI runs on a pseudo-terminal (util-linux `script`), asks
 * for the password of an encrypted image, does not echo what is typed, and validates the image;
 * without a terminal and without a password source it refuses at once instead of waiting.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, ZLIB } from "./helpers/cli-run.js";
import { encryptImage, encryptImageV1, padUdifToBlocks } from "./helpers/encrypted.js";

const PASSWORD = "s3cr3t-typed";
const dir = mkdtempSync(join(tmpdir(), "dmg-tty-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const inner = new Uint8Array(readFileSync(ZLIB));
const v2 = join(dir, "enc.dmg");
writeFileSync(v2, encryptImage(inner, { password: PASSWORD, iterations: 1000 }));
const v1 = join(dir, "enc-v1.dmg");
writeFileSync(v1, encryptImageV1(padUdifToBlocks(inner), { password: PASSWORD }));

/** util-linux's `script`, which gives a command a pseudo-terminal. In CI it must be there. */
const hasScript = spawnSync("script", ["--version"]).status === 0;
if (!hasScript && process.env.CI) throw new Error("`script` (util-linux) is needed in CI");

const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

interface Typed {
  status: number | null;
  output: string;
}

/**
 * Run `dmg-validate args` on a terminal; once the prompt shows (and after a moment, so raw mode
 * is set), type `typed` and Enter. Everything the terminal showed is returned.
 */
function onTerminal(args: string[], typed: string): Promise<Typed> {
  const cmd = [process.execPath, BIN, ...args].map(quote).join(" ");
  const child = spawn("script", ["-qfec", cmd, "/dev/null"], {
    cwd: dir,
    env: { ...process.env, TERM: "dumb", NO_COLOR: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  let sent = false;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no exit within 30 s; the terminal showed: ${JSON.stringify(output)}`));
    }, 30_000);
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString("latin1");
      if (!sent && output.includes("Password for")) {
        sent = true;
        setTimeout(() => child.stdin.write(`${typed}\r`), 300);
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString("latin1");
    });
    child.on("exit", (status) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ status, output });
    });
  });
}

describe.runIf(hasScript || process.env.CI)("the password prompt on a terminal", () => {
  for (const [name, file] of [
    ["version 2", v2],
    ["version 1", v1],
  ] as const) {
    it(`${name}: asks, does not echo, and the image validates`, async () => {
      const r = await onTerminal(["check", file], PASSWORD);
      expect(r.output).toMatch(/Password for .*enc.*: /);
      expect(r.output).not.toContain(PASSWORD);
      expect(r.output).not.toMatch(/PASSWORD_WRONG|ENCRYPTED/);
      expect(r.status).toBe(0);
    }, 40_000);
  }

  it("a wrong password typed: PASSWORD_WRONG, exit 1, still not echoed", async () => {
    const r = await onTerminal(["check", v2], "not-it-at-all");
    expect(r.output).toContain("Password for");
    expect(r.output).not.toContain("not-it-at-all");
    expect(r.output).toContain("PASSWORD_WRONG");
    expect(r.status).toBe(1);
  }, 40_000);

  it("a plain image: no prompt", async () => {
    const r = await onTerminal(["check", ZLIB], "unused");
    expect(r.output).not.toContain("Password for");
    expect(r.status).toBe(0);
  }, 40_000);
});

describe("no terminal and no password source", () => {
  it("stdin a pipe left open: ENCRYPTED at once, exit 1, no prompt and no wait", async () => {
    const child = spawn(process.execPath, [BIN, "check", v1], {
      cwd: dir,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    const status = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error("the CLI waited on a pipe for a password"));
      }, 20_000);
      child.on("exit", (s) => {
        clearTimeout(timer);
        resolve(s);
      });
    });
    child.stdin.end();
    expect(status).toBe(1);
    expect(out).toContain("ENCRYPTED");
    expect(out).not.toContain("Password for");
  }, 30_000);
});
