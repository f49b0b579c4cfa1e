/**
 * SARIF 2.1.0 (GitHub code scanning and other viewers): one run for the whole invocation, one
 * rule per error and warning code (help from SECURITY.md), one result per finding, located at
 * the file and the byte offset it applies to.
 */
import type { Finding } from "../../core/errors.js";
import { jsonText } from "../../core/text.js";
import { version } from "../help.js";
import { type Io, writeOut } from "../io.js";
import { findingsOf, type Outcome, type Reporter } from "./reporter.js";
import { INTERNAL, rules } from "./rules.js";

const SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI = "https://github.com/dmg-validate/dmg-validate";

/** A file's path as a URI reference relative to the working directory (SARIF wants URIs). */
export function fileUri(name: string): string {
  const slashes = name.replaceAll("\\", "/");
  return slashes.split("/").map(encodeURIComponent).join("/");
}

export function sarifLog(files: ReadonlyArray<[string, Outcome]>): Record<string, unknown> {
  const all = rules();
  const index = new Map(all.map((r, i) => [r.id, i]));
  const results: unknown[] = [];
  const result = (file: number, uri: string, f: Finding) => {
    const location: Record<string, unknown> = { artifactLocation: { uri, index: file } };
    if (f.offset >= 0) location.region = { byteOffset: f.offset };
    const r: Record<string, unknown> = {
      ruleId: f.code,
      ruleIndex: index.get(f.code) ?? index.get(INTERNAL.id),
      level: f.severity,
      message: { text: f.message },
      locations: [{ physicalLocation: location }],
    };
    if (f.table !== undefined) r.properties = { table: f.table, chunk: f.chunk };
    results.push(r);
  };
  files.forEach(([name, outcome], i) => {
    const uri = fileUri(name);
    const { errors, warnings } = findingsOf(outcome);
    for (const f of errors) result(i, uri, f);
    for (const f of warnings) result(i, uri, f);
  });
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "dmg-validate",
            version: version(),
            informationUri: INFORMATION_URI,
            rules: all.map((r) => ({
              id: r.id,
              shortDescription: { text: r.short },
              fullDescription: { text: r.help },
              help: { text: r.help },
              defaultConfiguration: { level: r.level },
            })),
          },
        },
        artifacts: files.map(([name]) => ({ location: { uri: fileUri(name) } })),
        results,
      },
    ],
  };
}

export function sarifReporter(io: Io): Reporter {
  const files: Array<[string, Outcome]> = [];
  return {
    file: async (name, outcome) => {
      files.push([name, outcome]);
    },
    end: () => writeOut(io.stdout, `${jsonText(sarifLog(files))}\n`),
  };
}
