/** Text: a line per file (`OK` or `FAIL`), its findings under it, and a summary line at the end. */
import { sanitize } from "../../core/text.js";
import type { ValidationReport } from "../../image/validate.js";
import { type Io, writeOut } from "../io.js";
import { checksumSummary, findingLine, humanBytes, plural } from "../output.js";
import { type Outcome, type Reporter, verdict } from "./reporter.js";

/** The human lines for one report. */
export function reportText(name: string, r: ValidationReport, verbose = false): string {
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
  if (verbose) {
    const c = r.checksums;
    lines.push(
      `  checksums: data fork ${c.dataFork}, tables ${c.tables.join(" ") || "none"}, master ${c.master}`,
      `  cost: ${humanBytes(r.cost.bytesDecompressed)} decoded, ${r.cost.chunksDecoded} chunks, peak working memory ${humanBytes(r.cost.peakWorkingMemory)}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The human lines for one outcome: its report's, or one FAIL line for a bug (told on stderr). */
export function outcomeText(name: string, outcome: Outcome, verbose = false): string {
  if ("report" in outcome) return reportText(name, outcome.report, verbose);
  return `FAIL ${sanitize(name)} (internal error)\n`;
}

export function textReporter(io: Io, verbose: boolean): Reporter {
  const counts = { files: 0, ok: 0, invalid: 0, failed: 0 };
  return {
    async file(name, outcome) {
      counts.files++;
      const v = verdict(outcome);
      if (v === "valid") counts.ok++;
      else if (v === "internal error") counts.failed++;
      else counts.invalid++;
      await writeOut(io.stdout, outcomeText(name, outcome, verbose));
    },
    async end() {
      if (counts.files < 2) return;
      const parts = [`${counts.ok} valid`, `${counts.invalid} invalid`];
      if (counts.failed > 0) parts.push(`${counts.failed} internal errors`);
      await writeOut(io.stdout, `${plural(counts.files, "file")}: ${parts.join(", ")}\n`);
    },
  };
}
