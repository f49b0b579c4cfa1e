/**
 * SARIF 2.1.0 (GitHub code scanning and other viewers): one run for the whole invocation, one
 * rule per error and warning code, one result per finding, located at the file and the byte
 * offset it applies to. Pure: the caller says which version it is and where rule help comes
 * from (the CLI reads SECURITY.md; a browser has the short descriptions).
 */
import { ErrorCodes, type Finding, WarningCodes } from "../core/errors.js";
import { findingsOf, INTERNAL, type Outcome, type Rule } from "./outcome.js";

const SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json";
const INFORMATION_URI = "https://github.com/dmg-validate/dmg-validate";

/** A file's path as a URI reference relative to the working directory (SARIF wants URIs). */
export function fileUri(name: string): string {
  const slashes = name.replaceAll("\\", "/");
  return slashes.split("/").map(encodeURIComponent).join("/");
}

/** Every rule, errors first, each code once; `help` by code where known, else the short text. */
export function rulesWith(help: ReadonlyMap<string, string>): Rule[] {
  const make = (codes: Record<string, string>, level: Rule["level"]) =>
    Object.entries(codes).map(([id, short]) => ({ id, level, short, help: help.get(id) ?? short }));
  return [...make(ErrorCodes, "error"), ...make(WarningCodes, "warning"), INTERNAL];
}

/** What a SARIF log says of the tool that made it. */
export interface SarifTool {
  /** The tool's version. */
  version: string;
  /** The rules (default: {@link rulesWith} and no help beyond the short descriptions). */
  rules?: Rule[];
}

/** The SARIF log of `files` (each a name and its outcome, in order). */
export function sarifLog(
  files: ReadonlyArray<[string, Outcome]>,
  tool: SarifTool,
): Record<string, unknown> {
  const all = tool.rules ?? rulesWith(new Map());
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
            version: tool.version,
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
