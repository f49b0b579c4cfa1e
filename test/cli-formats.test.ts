/**
 * What check prints for CI systems, run as users run it: SARIF validated against the published
 * SARIF 2.1.0 schema, JUnit XML that parses, GitHub workflow commands and a job summary (chosen
 * by themselves in a GitHub Actions job), JSON lines valid against the shipped schema; and the
 * inputs a CI job hands it: standard input, directories, patterns.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SaxesParser } from "saxes";
import { afterAll, describe, expect, it } from "vitest";
import { rules } from "../src/cli/report/rules.js";
import { ErrorCodes, WarningCodes } from "../src/core/errors.js";
import { BIN, ISO, RAW, ROOT, runCli, ZLIB } from "./helpers/cli-run.js";

// ajv and its plugins are CommonJS modules whose default export is a class or function.
const require = createRequire(import.meta.url);
const AjvDraft04 = require("ajv-draft-04") as typeof import("ajv-draft-04").default;
const Ajv2020 = require("ajv/dist/2020") as typeof import("ajv/dist/2020.js").default;
const addFormats = require("ajv-formats") as typeof import("ajv-formats").default;

const tmp = mkdtempSync(join(tmpdir(), "dmg-formats-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A corrupt image: the zlib sample with a byte of its first chunk changed. */
const BAD = join(tmp, "bad, odd: name%.dmg");
{
  const bytes = new Uint8Array(readFileSync(ZLIB));
  bytes[100] ^= 0xff;
  writeFileSync(BAD, bytes);
}

function cli(args: string[], env: Record<string, string> = {}, input?: Uint8Array) {
  return runCli(args, tmp, env, input);
}

describe("--format sarif", () => {
  it("is a SARIF 2.1.0 log valid against the published schema, a result per finding", () => {
    const r = cli(["check", "--format", "sarif", ZLIB, BAD, join(tmp, "missing.dmg")]);
    expect(r.status).toBe(3);
    const log = JSON.parse(r.out);
    const schema = JSON.parse(
      readFileSync(join(ROOT, "test", "fixtures", "sarif", "sarif-2.1.0-rtm.5.json"), "utf8"),
    );
    // The schema's language pattern is not valid with the u flag: read it without.
    const ajv = new AjvDraft04({ strict: false, allErrors: true, unicodeRegExp: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    expect((validate.errors ?? validate(log)) ? [] : validate.errors).toEqual([]);
    const run = log.runs[0];
    expect(run.tool.driver.name).toBe("dmg-validate");
    expect(run.artifacts).toHaveLength(3);
    const ids = run.tool.driver.rules.map((x: { id: string }) => x.id);
    for (const code of [...Object.keys(ErrorCodes), ...Object.keys(WarningCodes)]) {
      expect(ids).toContain(code);
    }
    const bad = run.results.find((x: { ruleId: string }) => x.ruleId === "DECODE_CORRUPT");
    expect(bad.level).toBe("error");
    expect(bad.locations[0].physicalLocation.artifactLocation.index).toBe(1);
    expect(bad.locations[0].physicalLocation.artifactLocation.uri).toBe(
      "bad%2C%20odd%3A%20name%25.dmg".replace(
        /^/,
        `${tmp.split("/").map(encodeURIComponent).join("/")}/`,
      ),
    );
    expect(bad.locations[0].physicalLocation.region.byteOffset).toBeGreaterThan(0);
    expect(run.results.some((x: { ruleId: string }) => x.ruleId === "IO_ERROR")).toBe(true);
    // Rule help comes from SECURITY.md's tables: what the code means and what it exists for.
    const rule = run.tool.driver.rules[ids.indexOf("MAP_MISMATCH")];
    expect(rule.help.text).toContain("exists for: G45");
  });

  it("has SECURITY.md help for every code", () => {
    for (const r of rules()) expect(r.help, r.id).not.toBe(r.short);
  });
});

describe("--format junit", () => {
  it("is JUnit XML: a testsuite, a testcase per file, failures with code and offset", () => {
    const r = cli(["check", "--format", "junit", ZLIB, BAD, ISO]);
    expect(r.status).toBe(1);
    const elements: Array<{ name: string; attributes: Record<string, string> }> = [];
    const parser = new SaxesParser();
    parser.on("opentag", (t) =>
      elements.push({ name: t.name, attributes: t.attributes as Record<string, string> }),
    );
    parser.write(r.out).close();
    const suite = elements.find((e) => e.name === "testsuite");
    expect(suite?.attributes).toMatchObject({ tests: "3", failures: "2", errors: "0" });
    const cases = elements.filter((e) => e.name === "testcase").map((e) => e.attributes.name);
    expect(cases).toEqual([ZLIB, BAD, ISO]);
    const failures = elements.filter((e) => e.name === "failure");
    // The first error is the failure's type: the data fork is checked before the chunks.
    expect(failures.map((f) => f.attributes.type)).toEqual(["CRC_DATA_FORK", "NOT_UDIF"]);
    expect(failures[0].attributes.message).toMatch(/^CRC_DATA_FORK at offset \d+: /);
    const text = r.out.slice(r.out.indexOf("<failure"), r.out.indexOf("</failure>"));
    expect(text).toMatch(/\nDECODE_CORRUPT at offset \d+: /);
  });
});

describe("--format github", () => {
  it("is chosen in a GitHub Actions job: annotations, escaped, and a job summary", () => {
    const summary = join(tmp, "summary.md");
    writeFileSync(summary, "");
    const r = cli([ZLIB, BAD], { GITHUB_ACTIONS: "true", GITHUB_STEP_SUMMARY: summary });
    expect(r.status).toBe(1);
    const lines = r.out.split("\n");
    const error = lines.find((l) => l.startsWith("::error ") && l.includes("title=DECODE"));
    expect(error).toMatch(
      /^::error file=.*bad%2C odd%3A name%25\.dmg,title=DECODE_CORRUPT::DECODE_CORRUPT at offset \d+: /,
    );
    expect(lines.some((l) => l.startsWith(`OK  ${ZLIB}`))).toBe(true);
    const table = readFileSync(summary, "utf8");
    expect(table).toContain("### dmg-validate: 2 files, 1 not valid");
    expect(table).toMatch(/\| invalid \| 2 \| 0 \| CRC_DATA_FORK:/);
    // Told otherwise, it speaks text.
    expect(cli(["--format", "text", ZLIB], { GITHUB_ACTIONS: "true" }).out).toMatch(/^OK {2}/);
  });
});

describe("--format json", () => {
  it("prints lines valid against the shipped schema, each naming it", () => {
    const r = cli(["check", "--json", ZLIB, BAD, join(tmp, "missing.dmg")]);
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    const validate = ajv.compile(
      JSON.parse(readFileSync(join(ROOT, "schema", "report.schema.json"), "utf8")),
    );
    const lines = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(validate(line) ? [] : validate.errors).toEqual([]);
      expect(line.schema).toBe("https://dmg-validate.dev/schema/report/1");
    }
    expect(lines.map((l) => l.ok)).toEqual([true, false, false]);
  });
});

describe("quiet, verbose, version", () => {
  it("--quiet prints nothing and keeps the exit code; --verbose adds costs; -V the version", () => {
    const q = cli(["check", "--quiet", ZLIB, BAD]);
    expect(q.status).toBe(1);
    expect(q.out).toBe("");
    const v = cli(["check", "--verbose", ZLIB]);
    expect(v.out).toMatch(/\n {2}checksums: data fork ok, tables ok, master ok\n {2}cost: /);
    expect(cli(["-V"]).out).toMatch(/^dmg-validate \d+\.\d+\.\d+/);
    expect(cli(["info", "--format", "sarif", ZLIB]).status).toBe(2);
  });
});

describe("inputs", () => {
  it("reads - from standard input through a private copy it removes", () => {
    const r = cli(["check", "-"], {}, new Uint8Array(readFileSync(ZLIB)));
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/^OK {2}- \(8\.96 MiB/);
    const info = cli(["info", "--json", "-"], {}, new Uint8Array(readFileSync(ZLIB)));
    expect(JSON.parse(info.out).file).toBe("-");
    const cat = spawnSync(process.execPath, [BIN, "cat", "-", "--length", "512"], {
      input: new Uint8Array(readFileSync(ZLIB)),
    });
    expect(cat.status).toBe(0);
    expect(cat.stdout.length).toBe(512);
    const big = cli(["check", "--max-stdin-bytes", "1000", "-"], {}, new Uint8Array(5000));
    expect(big.status).toBe(1);
    expect(big.out).toContain("BUDGET_STDIN_BYTES");
    const stale = spawnSync("sh", ["-c", `ls ${tmpdir()} | grep -c dmg-validate-stdin- || true`]);
    expect(stale.stdout.toString().trim()).toBe("0");
  });

  it("checks every .dmg below a directory, and expands patterns itself", () => {
    const dir = join(tmp, "tree");
    mkdirSync(join(dir, "a", "b"), { recursive: true });
    copyFileSync(ZLIB, join(dir, "one.dmg"));
    copyFileSync(RAW, join(dir, "a", "b", "two.DMG"));
    writeFileSync(join(dir, "a", "notes.txt"), "not an image");
    const r = cli(["check", dir]);
    expect(r.status).toBe(0);
    expect(r.out).toContain("2 files: 2 valid, 0 invalid");
    const p = cli(["check", "tree/**/*.DMG", "tree/*.dmg"]);
    expect(p.out).toContain("OK  tree/a/b/two.DMG");
    expect(p.out).toContain("OK  tree/one.dmg");
    const none = cli(["check", "tree/*.nothing"]);
    expect(none.status).toBe(3);
    expect(none.out).toContain("no .dmg file found");
  });
});
