/**
 * GitHub Actions: each file's text lines in the log, each finding as a workflow command (an
 * `::error` or `::warning` annotation naming the file and the code), and at the end a table in
 * the job summary (the file `GITHUB_STEP_SUMMARY` names), when there is one.
 */
import { appendFile } from "node:fs/promises";
import type { Finding } from "../../core/errors.js";
import { sanitize } from "../../core/text.js";
import { type Io, writeOut } from "../io.js";
import { plural } from "../output.js";
import { findingsOf, findingText, type Reporter, type Verdict, verdict } from "./reporter.js";
import { outcomeText } from "./text.js";

/** A workflow command's message: `%`, CR and LF escaped (after controls are made visible). */
export function commandData(s: string): string {
  return sanitize(s).replaceAll("%", "%25").replaceAll("\r", "%0D").replaceAll("\n", "%0A");
}

/** A workflow command's property value: also `:` and `,`. */
export function commandProperty(s: string): string {
  return commandData(s).replaceAll(":", "%3A").replaceAll(",", "%2C");
}

function annotation(name: string, f: Finding): string {
  const kind = f.severity === "error" ? "error" : "warning";
  return `::${kind} file=${commandProperty(name)},title=${commandProperty(f.code)}::${commandData(findingText(f))}\n`;
}

/** A Markdown table cell: pipes and line breaks escaped, controls visible. */
function cell(s: string): string {
  return sanitize(s).replaceAll("|", "\\|");
}

/** The summary's first-error cell: `CODE: message`, a bug's message alone, or nothing. */
function firstError(result: Verdict, first: Finding | undefined): string {
  if (first === undefined) return "";
  return result === "internal error" ? first.message : `${first.code}: ${first.message}`;
}

/** The reporter of `--format github` (and of check run in a GitHub Actions job). */
export function githubReporter(io: Io): Reporter {
  const rows: string[] = [];
  let bad = 0;
  return {
    async file(name, outcome) {
      const result = verdict(outcome);
      if (result !== "valid") bad++;
      const { errors, warnings } = findingsOf(outcome);
      let text = outcomeText(name, outcome);
      for (const f of [...errors, ...warnings]) text += annotation(name, f);
      await writeOut(io.stdout, text);
      rows.push(
        `| ${cell(name)} | ${result} | ${errors.length} | ${warnings.length} | ${cell(firstError(result, errors[0]))} |`,
      );
    },
    async end() {
      const path = io.env.GITHUB_STEP_SUMMARY;
      if (!path) return;
      const summary = [
        `### dmg-validate: ${plural(rows.length, "file")}, ${bad === 0 ? "all valid" : `${bad} not valid`}`,
        "",
        "| file | result | errors | warnings | first error |",
        "| --- | --- | --- | --- | --- |",
        ...rows,
        "",
      ].join("\n");
      await appendFile(path, `${summary}\n`).catch(() => undefined);
    },
  };
}
