/** `dmg-validate [check] FILE...`: validate each file and print one result per file. */

import { basename } from "node:path";
import { DmgError } from "../core/errors.js";
import { jsonText, sanitize } from "../core/text.js";
import { failedReport, type ValidationReport } from "../image/validate.js";
import { validateDmg } from "../node/index.js";
import { EXIT_INTERNAL, EXIT_INVALID, EXIT_IO, EXIT_OK, reportInternal, worse } from "./exit.js";
import { type Io, OutputClosed, writeOut } from "./io.js";
import type { RunArgs } from "./main.js";
import { checksumSummary, findingLine, humanBytes, plural, reportJson } from "./output.js";
import { Progress, progressWanted } from "./progress.js";
import { deadline } from "./signals.js";

/** The exit code a report stands for. */
export function reportExitCode(r: ValidationReport): number {
  if (r.ok) return EXIT_OK;
  return r.errors.some((f) => f.code === "IO_ERROR") ? EXIT_IO : EXIT_INVALID;
}

/** The human lines for one report. */
export function reportText(name: string, r: ValidationReport): string {
  const file = sanitize(name);
  const lines: string[] = [];
  if (r.ok && r.summary) {
    const s = r.summary;
    lines.push(
      `OK  ${file} (${humanBytes(s.size)}, ${plural(s.tables.length, "table")}, ${plural(s.chunkCount, "chunk")}, ${checksumSummary(r)})`,
    );
  } else {
    lines.push(`FAIL ${file}${r.overBudget ? " (over budget)" : ""}`);
  }
  for (const f of r.errors) lines.push(`  ${findingLine(f)}`);
  for (const f of r.warnings) lines.push(`  ${findingLine(f)}`);
  return `${lines.join("\n")}\n`;
}

/** Validate every operand; returns the worst exit code. */
export async function runCheck(args: RunArgs, io: Io): Promise<number> {
  let worst = EXIT_OK;
  for (const file of args.operands) {
    const progress = new Progress(io.stderr, basename(file), progressWanted(io.stderr, args.json));
    let report: ValidationReport;
    try {
      report = await validateDmg(file, {
        quick: args.quick,
        budget: args.budget,
        threads: args.threads,
        onProgress: progress.update,
        signal: deadline(args),
      });
    } catch (e) {
      progress.clear();
      if (!(e instanceof DmgError)) {
        // A bug: report it and go on with the other files.
        await reportInternal(io, e);
        if (args.json) {
          const message = e instanceof Error ? e.message : String(e);
          const line = {
            file,
            ok: false,
            errors: [{ code: "INTERNAL_ERROR", message, offset: -1 }],
          };
          await writeOut(io.stdout, `${jsonText(line)}\n`).catch(() => undefined);
        }
        worst = worse(worst, EXIT_INTERNAL);
        continue;
      }
      // Only API misuse is thrown by validation; report it like any other finding.
      report = failedReport(args.quick, e);
    }
    progress.clear();
    const text = args.json ? `${jsonText(reportJson(file, report))}\n` : reportText(file, report);
    worst = worse(worst, reportExitCode(report));
    try {
      await writeOut(io.stdout, text);
    } catch (e) {
      // The reader of standard output went away: nobody sees the rest.
      if (e instanceof OutputClosed) return worst;
      throw e;
    }
  }
  return worst;
}
