/**
 * JUnit XML (GitLab, Jenkins, Azure Pipelines test reports): a testsuite for the invocation, a
 * testcase per file; a file with errors fails, each error a `<failure>` with its code, offset
 * and message; warnings go to the testcase's system-out.
 */
import { sanitize } from "../../core/text.js";
import { type Io, writeOut } from "../io.js";
import { findingsOf, findingText, type Outcome, type Reporter, verdict } from "./reporter.js";

/**
 * Characters XML 1.0 does not allow: C0 controls but tab, LF and CR, lone surrogates, U+FFFE
 * and U+FFFF. One of them makes the whole report unreadable to a strict parser (a CI job that
 * drops every test result because one image held a NUL).
 */
const NOT_XML = /[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/**
 * `lines`, each made safe to show (controls, bidi controls and line separators as visible
 * escapes, attack class G40), joined by newlines, as XML character data or attribute value:
 * markup escaped, characters XML does not allow replaced.
 */
export function xmlLines(lines: readonly string[]): string {
  return lines
    .map(sanitize)
    .join("\n")
    .replace(NOT_XML, "\ufffd")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** `s` as one line of XML character data or attribute value (see {@link xmlLines}). */
export function xmlText(s: string): string {
  return xmlLines([s]);
}

/** The `<testcase>` of one file that took `seconds`; a failure or error when not valid. */
function testcase(name: string, outcome: Outcome, seconds: number): string {
  const head = `    <testcase classname="dmg-validate" name="${xmlText(name)}" time="${seconds.toFixed(3)}"`;
  const { errors, warnings } = findingsOf(outcome);
  const first = errors[0];
  if (verdict(outcome) === "internal error") {
    // A bug, not a finding about the file: JUnit's <error>, not <failure>.
    return `${head}>\n      <error type="${xmlText(first.code)}" message="${xmlText(first.message)}"/>\n    </testcase>`;
  }
  const body: string[] = [];
  if (verdict(outcome) !== "valid") {
    body.push(
      `      <failure type="${xmlText(first?.code ?? "FAILED")}" message="${xmlText(first ? findingText(first) : "failed")}">${xmlLines(errors.map(findingText))}</failure>`,
    );
  }
  if (warnings.length > 0) {
    body.push(`      <system-out>${xmlLines(warnings.map(findingText))}</system-out>`);
  }
  return body.length ? `${head}>\n${body.join("\n")}\n    </testcase>` : `${head}/>`;
}

/** The JUnit XML document of a run: each file's name, outcome and seconds taken. */
export function junitXml(files: ReadonlyArray<[string, Outcome, number]>): string {
  let failures = 0;
  let errors = 0;
  let time = 0;
  const cases: string[] = [];
  for (const [name, outcome, seconds] of files) {
    time += seconds;
    const v = verdict(outcome);
    if (v === "internal error") errors++;
    else if (v !== "valid") failures++;
    cases.push(testcase(name, outcome, seconds));
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
