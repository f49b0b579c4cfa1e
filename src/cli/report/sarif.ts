/**
 * SARIF 2.1.0 for `check --format sarif`: the core's log (report/sarif.ts), with rule help read
 * from SECURITY.md and the package's version.
 */
import { jsonText } from "../../core/text.js";
import type { Outcome } from "../../report/outcome.js";
import { sarifLog } from "../../report/sarif.js";
import { version } from "../help.js";
import { type Io, writeOut } from "../io.js";
import type { Reporter } from "./reporter.js";
import { rules } from "./rules.js";

/** The SARIF log of `files`, with this package's version and SECURITY.md's help. */
export function cliSarifLog(files: ReadonlyArray<[string, Outcome]>): Record<string, unknown> {
  return sarifLog(files, { version: version(), rules: rules() });
}

export function sarifReporter(io: Io): Reporter {
  const files: Array<[string, Outcome]> = [];
  return {
    file: async (name, outcome) => {
      files.push([name, outcome]);
    },
    end: () => writeOut(io.stdout, `${jsonText(cliSarifLog(files))}\n`),
  };
}
