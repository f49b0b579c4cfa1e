/**
 * The command line against hostile inputs and hostile arguments (docs/ATTACKS.md, G35-G42):
 * forged terminal lines, special files as the output, the input as the output, interrupts
 * and deadlines in the middle of the work, and more operands than a call has arguments.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { memoryIo } from "./helpers/cli-io.js";
import { BIN, cliSandbox } from "./helpers/cli-run.js";
import { namedImage, zeroDisk, zlibZeros } from "./helpers/hostile-images.js";

const { tmp, file, cli } = cliSandbox("dmg-cli-hostile-");

/** No raw control, C1, bidi or line-separator character but newlines. */
const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe("G40: a file's strings never reach the terminal raw", () => {
  // Resource-fork names are raw bytes: ESC, BEL, CR and the 8-bit CSI fit in them.
  const rsrcName = "n\x1b]0;pwned\x07\x1b[2K\rOK  good.dmg (checksums ok)\x9b2K";
  // The XML cannot hold C0 controls, but bidi overrides and line separators it can.
  const xmlName = "gpj.\u202eexe\u2028OK\u0085";

  it("info escapes a resource-fork table name holding ESC, CR, BEL and C1 CSI", () => {
    const p = file("nasty.dmg", namedImage(rsrcName, "rsrc"));
    const r = cli(["info", p]);
    expect(r.status).toBe(0);
    expect(r.out).not.toMatch(RAW);
    expect(r.out).toContain("n\\x1b]0;pwned\\x07\\x1b[2K\\x0dOK  good.dmg");
    const j = cli(["info", "--json", p]);
    expect(j.out).not.toMatch(RAW);
    expect(JSON.parse(j.out).tables[0].name).toBe(rsrcName);
  });

  it("escapes bidi overrides and Unicode line breaks of an XML name, in text and JSON", () => {
    const p = file("bidi.dmg", namedImage(xmlName));
    const r = cli(["info", p]);
    expect(r.out).not.toMatch(RAW);
    expect(r.out).toContain("gpj.\\u202eexe\\u2028OK\\u0085");
    const j = cli(["check", "--json", p]);
    expect(j.out.trim().split("\n")).toHaveLength(1);
    expect(j.out).not.toMatch(RAW);
    expect(JSON.parse(j.out).summary.tables[0].name).toBe(xmlName);
  });

  it("escapes file names too, in text and in errors", () => {
    const name = "bad\x1b[31mname\u202e.dmg";
    const p = file(name, namedImage("x"));
    const r = cli(["check", p]);
    expect(r.status).toBe(0);
    expect(r.out).not.toMatch(RAW);
    expect(r.out).toContain("bad\\x1b[31mname\\u202e.dmg");
    const missing = cli(["info", join(tmp, "gone\x1b[2K.dmg")]);
    expect(missing.status).toBe(3);
    expect(missing.err).not.toMatch(RAW);
  });
});

describe("G41: the output is never a special file, nor the input", () => {
  const image = () => file("small.dmg", namedImage("x"));

  it("refuses a FIFO and /dev/null, and leaves them as they were", () => {
    const fifo = join(tmp, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const r = cli(["extract", image(), fifo]);
    expect(r.status).toBe(3);
    expect(r.err).toContain("refusing to replace");
    expect(r.err).toContain("a FIFO");
    expect(statSync(fifo).isFIFO()).toBe(true);
    const n = cli(["extract", image(), "/dev/null"]);
    expect(n.status).toBe(3);
    expect(n.err).toContain("a character device");
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
    const c = cli(["create", image(), "/dev/null"]);
    expect(c.status).toBe(3);
  });

  it("refuses to write over the input, and keeps it whole", () => {
    const p = image();
    const before = readFileSync(p);
    const r = cli(["extract", p, p]);
    expect(r.status).toBe(3);
    expect(r.err).toContain("is the input file");
    expect(readFileSync(p).equals(before)).toBe(true);
  });

  it("keeps the permission bits of an output it replaces", () => {
    const out = join(tmp, "private.raw");
    writeFileSync(out, "old");
    chmodSync(out, 0o600);
    expect(cli(["extract", image(), out]).status).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(statSync(out).size).toBe(9 * 512);
  });
});

describe("G38: terabytes of zero chunks extract as holes at once", () => {
  it("writes a 1 TiB sparse file from a 1.5 KB image, with the CRC of its zeros not made", () => {
    const p = file("tib.dmg", zeroDisk(1));
    const out = join(tmp, "tib.raw");
    const r = cli(["extract", p, out]);
    expect(r.status).toBe(0);
    expect(statSync(out).size).toBe(2 ** 40);
    // Holes: almost no block of the file is allocated.
    expect(statSync(out).blocks * 512).toBeLessThan(1 << 20);
    rmSync(out);
  });

  it("bounds what cat writes of it by the expansion budget", () => {
    const p = file("tib2.dmg", zeroDisk(1));
    const r = cli(["cat", p, "--expansion-allowance", "4M"]);
    expect(r.status).toBe(1);
    expect(r.err).toContain("BUDGET_EXPANSION");
  });
});

/** Poll `dir` until a temporary output file appears (the extract is under way). */
async function tempFileAppears(dir: string, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 400 && child.exitCode === null; i++) {
    if (readdirSync(dir).some((f) => f.endsWith(".tmp"))) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe("G39: interrupts and deadlines in the middle of the work", () => {
  it.each(["SIGINT", "SIGTERM"] as const)(
    "%s during an extract ends the process by the signal and leaves no file",
    async (sig) => {
      const dir = mkdtempSync(join(tmp, "sig-"));
      const p = file(`zeros-${sig}.dmg`, zlibZeros(4096));
      const out = join(dir, "out.raw");
      const child = spawn(process.execPath, [BIN, "extract", "--threads", "1", p, out]);
      const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.on("exit", (code, signal) => resolve({ code, signal })),
      );
      expect(await tempFileAppears(dir, child)).toBe(true);
      child.kill(sig);
      const { signal } = await exited;
      expect(signal).toBe(sig);
      expect(readdirSync(dir)).toEqual([]);
    },
    60_000,
  );

  it("--timeout stops a check with BUDGET_TIME (exit 1)", () => {
    const p = file("zeros-timeout.dmg", zlibZeros(4096));
    const r = cli(["check", "--threads", "1", "--timeout", "200ms", p]);
    expect(r.status).toBe(1);
    expect(r.out).toContain("BUDGET_TIME");
    const bad = cli(["check", "--timeout", "soon", p]);
    expect(bad.status).toBe(2);
  });
});

describe("G35: more operands than a call has arguments", () => {
  it("checks 150,000 operands after -- without a RangeError", async () => {
    const names = Array.from({ length: 150_000 }, (_, i) => join(tmp, `missing-${i}`));
    const many = memoryIo();
    const argv = ["--threads", "1", "--quick", "--"];
    for (const n of names) argv.push(n);
    expect(await main(argv, many)).toBe(3);
    expect(
      many
        .out()
        .split("\n")
        .filter((l) => l.startsWith("FAIL")),
    ).toHaveLength(150_000);
  }, 120_000);
});
