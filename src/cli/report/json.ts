/**
 * JSON: one object per file per line (NDJSON), each with the `schema` it follows
 * (schema/report.schema.json in the package, `$id` below).
 */
import { jsonText } from "../../core/text.js";
import { outcomeJson } from "../../report/json.js";
import { type Io, writeOut } from "../io.js";
import type { Reporter } from "./reporter.js";

export function jsonReporter(io: Io): Reporter {
  return {
    file: (name, outcome) => writeOut(io.stdout, `${jsonText(outcomeJson(name, outcome))}\n`),
    end: async () => undefined,
  };
}
