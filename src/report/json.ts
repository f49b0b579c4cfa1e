/**
 * The JSON report of one file (a line of `check --format json`, the page's download): the
 * report's fields as they are, each document naming the `schema` it follows
 * (schema/report.schema.json in the package).
 */
import type { Finding } from "../core/errors.js";
import type { ValidationReport } from "../image/validate.js";
import { internalFinding, type Outcome } from "./outcome.js";

/** The schema of each document; a new major number only when a field changes meaning. */
export const REPORT_SCHEMA = "https://dmg-validate.dev/schema/report/1";

/** A finding as JSON: code, message, offset, and table and chunk when known. */
export function findingJson(f: Finding): Record<string, unknown> {
  const o: Record<string, unknown> = { code: f.code, message: f.message, offset: f.offset };
  if (f.table !== undefined) o.table = f.table;
  if (f.chunk !== undefined) o.chunk = f.chunk;
  return o;
}

/** The fields of one file's report. */
export function reportJson(file: string, r: ValidationReport): Record<string, unknown> {
  return {
    file,
    ok: r.ok,
    overBudget: r.overBudget,
    mode: r.mode,
    errors: r.errors.map(findingJson),
    warnings: r.warnings.map(findingJson),
    dropped: r.dropped,
    summary: r.summary ?? null,
    checksums: r.checksums,
    cost: r.cost,
  };
}

/** The JSON document of one file's outcome. */
export function outcomeJson(name: string, outcome: Outcome): Record<string, unknown> {
  if ("internal" in outcome) {
    const error = findingJson(internalFinding(outcome.internal));
    return { schema: REPORT_SCHEMA, file: name, ok: false, errors: [error] };
  }
  return { schema: REPORT_SCHEMA, ...reportJson(name, outcome.report) };
}
