/**
 * JSON: one object per file per line (NDJSON), each with the `schema` it follows
 * (schema/report.schema.json in the package, `$id` below).
 */
import { jsonText } from "../../core/text.js";
import { type Io, writeOut } from "../io.js";
import { findingJson, reportJson } from "../output.js";
import { internalFinding, type Outcome, type Reporter } from "./reporter.js";

/** The schema of each line; a new major number only when a field changes meaning. */
export const REPORT_SCHEMA = "https://dmg-validate.dev/schema/report/1";

/** The JSON object of one file's outcome. */
export function outcomeJson(name: string, outcome: Outcome): Record<string, unknown> {
  if ("internal" in outcome) {
    const error = findingJson(internalFinding(outcome.internal));
    return { schema: REPORT_SCHEMA, file: name, ok: false, errors: [error] };
  }
  return { schema: REPORT_SCHEMA, ...reportJson(name, outcome.report) };
}

export function jsonReporter(io: Io): Reporter {
  return {
    file: (name, outcome) => writeOut(io.stdout, `${jsonText(outcomeJson(name, outcome))}\n`),
    end: async () => undefined,
  };
}
