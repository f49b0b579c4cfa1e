/**
 * The reports of check against hostile strings and hostile paths: JUnit XML that stays XML and
 * never carries a raw control from an image or a file name, usage errors that never echo a raw
 * control from the command line, and the `--sarif FILE` log written like every other output
 * file (never over an input, a FIFO or a device; completely, or not at all).
 */
import { spawn, spawnSync } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { SaxesParser } from "saxes";
import { describe, expect, it } from "vitest";
import { junitXml, xmlText } from "../src/cli/report/junit.js";
import type { Outcome } from "../src/cli/report/reporter.js";
import { BIN, cliSandbox, ZLIB } from "./helpers/cli-run.js";
import { withXml, xmlOf } from "./helpers/hostile.js";
import { namedImage } from "./helpers/hostile-images.js";

const { tmp, file, cli } = cliSandbox("dmg-cli-reports-");

/** No raw C0 (but LF), DEL, C1, bidi or line-separator character. */
const RAW =
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Characters XML 1.0 does not allow in a document. */
const NOT_XML = /[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;

/** Parse `xml` (throws on anything that is not well-formed XML 1.0). */
function parseXml(xml: string): void {
  const parser = new SaxesParser();
  parser.on("error", (e) => {
    throw e;
  });
  parser.write(xml).close();
}

describe("G40: JUnit XML never carries a raw control, bidi or line-separator character", () => {
  // A partition name that reorders and splits what a person reads.
  const name = "gpj.\u202eexe\u2028OK\u0085\u009b2K";

  it("escapes an image's string quoted in a finding (stray text beside the partition name)", () => {
    const image = namedImage(name);
    // Text where the property list allows none: the finding quotes it.
    const xml = xmlOf(image).replace(`${name}</string>`, `${name}</string>${name}`);
    const p = file("stray.dmg", withXml(image, xml));
    const r = cli(["check", "--format", "junit", p]);
    expect(r.status).toBe(1);
    expect(r.out).toContain("PLIST_STRUCTURE");
    expect(r.out).toContain("gpj.\\u202eexe\\u2028OK\\u0085\\u009b2K");
    expect(r.out).not.toMatch(RAW);
    expect(r.out).not.toMatch(NOT_XML);
    parseXml(r.out);
  });

  it("escapes a file name holding ESC, CR, BEL, C1 CSI and a bidi override", () => {
    const p = file("bad\x1b[31m\r\x07\x9b2K\u202egmd.dmg", namedImage("x"));
    const r = cli(["check", "--format", "junit", p, join(tmp, "gone\x1b[2K.dmg")]);
    expect(r.status).toBe(3);
    expect(r.out).toContain("bad\\x1b[31m\\x0d\\x07\\u009b2K\\u202egmd.dmg");
    expect(r.out).not.toMatch(RAW);
    parseXml(r.out);
  });

  it("never writes a character XML 1.0 does not allow, whatever the strings hold", () => {
    // NUL, ESC, two lone surrogates, the two non-characters; an astral character is kept.
    const nasty = 'a\x00b\x1b\ud800-\udfff\ufffe\uffff\u{1f600}\u2028\u202e<&>"';
    const outcomes: Outcome[] = [
      { internal: nasty },
      {
        report: {
          ok: false,
          overBudget: false,
          errors: [{ severity: "error", code: "DECODE_CORRUPT", message: nasty, offset: 7 }],
          warnings: [{ severity: "warning", code: "CHECKSUM_ABSENT", message: nasty, offset: -1 }],
        } as never,
      },
    ];
    const xml = junitXml(outcomes.map((o) => [nasty, o, 0]));
    expect(xml).not.toMatch(NOT_XML);
    expect(xml).not.toMatch(RAW);
    parseXml(xml);
    expect(xmlText(nasty)).toBe(
      "a\\x00b\\x1b\ufffd-\ufffd\ufffd\ufffd\u{1f600}\\u2028\\u202e&lt;&amp;&gt;&quot;",
    );
  });
});

describe("G40: usage errors never echo a raw control from the command line", () => {
  const cases: string[][] = [
    ["--format", "\x1b[31mx\u202e"],
    ["--\x1b]0;pwned\x07\u2028"],
    ["--timeout", "\x9b2K"],
    ["--threads", "\x1b[2K"],
    ["info", "a.dmg", "\x1b[2K\rOK"],
    ["--max-plist-bytes=\x1b[1m", "x.dmg"],
  ];
  for (const argv of cases) {
    it(`escapes ${JSON.stringify(argv)}`, () => {
      const r = cli(argv);
      expect(r.status).toBe(2);
      expect(r.err).toMatch(/^dmg-validate: .+\nsee dmg-validate --help\n$/);
      expect(r.err).not.toMatch(RAW);
      expect(r.err).toMatch(/\\x1b|\\x9b|\\u009b/);
    });
  }
});

describe("G41: --sarif FILE is written like every output file", () => {
  it("refuses the input itself before checking anything, and keeps it whole", () => {
    const p = file("self.dmg", namedImage("x"));
    const before = readFileSync(p);
    const r = cli(["check", "--sarif", p, p]);
    expect(r.status).toBe(3);
    expect(r.err).toContain(`--sarif ${p}`);
    expect(r.err).toContain("is the input file");
    expect(r.out).toBe("");
    expect(readFileSync(p).equals(before)).toBe(true);
  });

  it("refuses an input it reaches through a symbolic link or a directory operand", () => {
    const dir = join(tmp, "images");
    mkdirSync(dir);
    const p = join(dir, "one.dmg");
    writeFileSync(p, namedImage("x"));
    const link = join(tmp, "link.sarif");
    symlinkSync(p, link);
    const before = readFileSync(p);
    const r = cli(["check", "--sarif", link, dir]);
    expect(r.status).toBe(3);
    expect(r.err).toContain("is the input file");
    expect(r.out).toBe("");
    expect(readFileSync(p).equals(before)).toBe(true);
  });

  it("refuses a FIFO at once instead of waiting for a reader, and a directory", () => {
    const fifo = join(tmp, "fifo.sarif");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    // spawnSync would wait forever if the CLI opened the FIFO; the timeout turns that into a failure.
    const r = spawnSync(process.execPath, [BIN, "check", "--sarif", fifo, ZLIB], {
      cwd: tmp,
      timeout: 20_000,
      env: { ...process.env, GITHUB_ACTIONS: "", DMG_VALIDATE_DEBUG: "" },
    });
    expect(r.status).toBe(3);
    expect(r.stderr.toString()).toContain(`--sarif ${fifo}`);
    expect(r.stderr.toString()).toContain("a FIFO");
    expect(r.stdout.toString()).toBe("");
    expect(statSync(fifo).isFIFO()).toBe(true);
    const d = cli(["check", "--sarif", tmp, ZLIB]);
    expect(d.status).toBe(3);
    expect(d.err).toContain("a directory");
  });

  it("writes the log through a temporary name, leaving none behind", () => {
    const dir = mkdtempSync(join(tmp, "out-"));
    const out = join(dir, "run.sarif");
    writeFileSync(out, "old");
    const r = cli(["check", "--sarif", out, ZLIB]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^OK {2}/);
    expect(JSON.parse(readFileSync(out, "utf8")).runs[0].artifacts).toHaveLength(1);
    expect(readdirSync(dir)).toEqual(["run.sarif"]);
  });

  it("blames a failure to write the log on the log, not on the first file", () => {
    const out = join(tmp, "no-such-dir", "run.sarif");
    const r = cli(["check", "--sarif", out, ZLIB]);
    expect(r.status).toBe(3);
    expect(r.out).toMatch(/^OK {2}/);
    expect(r.err).toContain(`dmg-validate: --sarif ${out}: IO_ERROR: cannot create ${out}`);
    expect(r.err).not.toContain(`${ZLIB}:`);
  });

  it("is still written whole when standard output closes early", async () => {
    const out = join(tmp, "closed.sarif");
    const child = spawn(
      process.execPath,
      [BIN, "check", "--format", "json", "--sarif", out, ZLIB, ZLIB, ZLIB, ZLIB],
      { cwd: tmp, env: { ...process.env, GITHUB_ACTIONS: "", DMG_VALIDATE_DEBUG: "" } },
    );
    // The reader goes away before the first line: every write to standard output fails.
    child.stdout.destroy();
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(status).toBe(0);
    const log = JSON.parse(readFileSync(out, "utf8"));
    expect(log.runs[0].artifacts).toHaveLength(4);
  });
});
