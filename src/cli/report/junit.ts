/**
 * JUnit XML (GitLab, Jenkins, Azure Pipelines test reports): a testsuite for the invocation, a
 * testcase per file; a file with errors fails, each error a `<failure>` with its code, offset
 * and message; warnings go to the testcase's system-out.
 */
import type { Finding } from "../../core/errors.js";
import { type Io, writeOut } from "../io.js";
import type { Outcome, Reporter } from "./reporter.js";

/** `s` as XML character data or attribute value: markup escaped, non-XML characters replaced. */
export function xmlText(s: string): string {
  return s
    .replace(/[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu, "\ufffd")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function findingText(f: Finding): string {
  const at = f.offset >= 0 ? ` at offset ${f.offset}` : "";
  return `${f.code}${at}: ${f.message}`;
}

export function junitXml(files: ReadonlyArray<[string, Outcome, number]>): string {
  let failures = 0;
  let errors = 0;
  let time = 0;
  const cases: string[] = [];
  for (const [name, outcome, seconds] of files) {
    time += seconds;
    const head = `    <testcase classname="dmg-validate" name="${xmlText(name)}" time="${seconds.toFixed(3)}"`;
    if ("internal" in outcome) {
      errors++;
      cases.push(
        `${head}>\n      <error type="INTERNAL_ERROR" message="${xmlText(outcome.internal)}"/>\n    </testcase>`,
      );
      continue;
    }
    const r = outcome.report;
    const body: string[] = [];
    if (!r.ok) {
      failures++;
      const first = r.errors[0];
      body.push(
        `      <failure type="${first?.code ?? "FAILED"}" message="${xmlText(first ? findingText(first) : "failed")}">${xmlText(r.errors.map(findingText).join("\n"))}</failure>`,
      );
    }
    if (r.warnings.length > 0) {
      body.push(
        `      <system-out>${xmlText(r.warnings.map(findingText).join("\n"))}</system-out>`,
      );
    }
    cases.push(body.length ? `${head}>\n${body.join("\n")}\n    </testcase>` : `${head}/>`);
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="dmg-validate" tests="${files.length}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">`,
    `  <testsuite name="dmg-validate" tests="${files.length}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">`,
    ...cases,
    "  </testsuite>",
    "</testsuites>",
    "",
  ].join("\n");
}

export function junitReporter(io: Io): Reporter {
  const files: Array<[string, Outcome, number]> = [];
  let last = performance.now();
  return {
    file: async (name, outcome) => {
      const now = performance.now();
      files.push([name, outcome, (now - last) / 1000]);
      last = now;
    },
    end: () => writeOut(io.stdout, junitXml(files)),
  };
}
