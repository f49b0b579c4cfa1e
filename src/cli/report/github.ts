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
import type { Outcome, Reporter } from "./reporter.js";
import { reportText } from "./text.js";

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
  const at = f.offset >= 0 ? ` at offset ${f.offset}` : "";
  return `::${kind} file=${commandProperty(name)},title=${commandProperty(f.code)}::${commandData(`${f.code}${at}: ${f.message}`)}\n`;
}

/** A Markdown table cell: pipes and line breaks escaped, controls visible. */
function cell(s: string): string {
  return sanitize(s).replaceAll("|", "\\|");
}

export function githubReporter(io: Io): Reporter {
  const rows: string[] = [];
  let bad = 0;
  return {
    async file(name, outcome: Outcome) {
      if ("internal" in outcome) {
        bad++;
        const f: Finding = {
          severity: "error",
          code: "INTERNAL_ERROR" as Finding["code"],
          message: outcome.internal,
          offset: -1,
        };
        await writeOut(
          io.stdout,
          `FAIL ${sanitize(name)} (internal error)\n${annotation(name, f)}`,
        );
        rows.push(`| ${cell(name)} | internal error | 1 | 0 | ${cell(outcome.internal)} |`);
        return;
      }
      const r = outcome.report;
      if (!r.ok) bad++;
      let text = reportText(name, r);
      for (const f of r.errors) text += annotation(name, f);
      for (const f of r.warnings) text += annotation(name, f);
      await writeOut(io.stdout, text);
      const first = r.errors[0];
      const result = r.ok ? "valid" : r.overBudget ? "over budget" : "invalid";
      const firstText = first ? `${first.code}: ${first.message}` : "";
      rows.push(
        `| ${cell(name)} | ${result} | ${r.errors.length} | ${r.warnings.length} | ${cell(firstText)} |`,
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
