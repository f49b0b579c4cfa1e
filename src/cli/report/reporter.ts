/**
 * How `check` reports: one reporter per output format, given each file's report in order,
 * then told that the run is over. Text, JSON lines and GitHub annotations are written file by
 * file; SARIF and JUnit are one document for the whole run, written at the end.
 */

import type { Finding } from "../../core/errors.js";
import { writeFileAtomic } from "../../node/io/file-sink.js";
import type { Outcome } from "../../report/outcome.js";
import type { Format } from "../args.js";
import type { Io } from "../io.js";
import { githubReporter } from "./github.js";
import { jsonReporter } from "./json.js";
import { junitReporter } from "./junit.js";
import { sarifReporter } from "./sarif.js";
import { textReporter } from "./text.js";

export type { Outcome, Verdict } from "../../report/outcome.js";
export { findingsOf, verdict } from "../../report/outcome.js";

/** Receives the outcome of each file in order, then the end of the run. */
export interface Reporter {
  file(name: string, outcome: Outcome): Promise<void>;
  end(): Promise<void>;
}

/** What a reporter may be asked to do. */
export interface ReportOptions {
  verbose: boolean;
  quiet: boolean;
}

/**
 * `CODE at offset N: message`: one finding as annotations and test reports show it. Raw: each
 * format escapes it its own way.
 */
export function findingText(f: Finding): string {
  const at = f.offset >= 0 ? ` at offset ${f.offset}` : "";
  return `${f.code}${at}: ${f.message}`;
}

/**
 * A reporter of `format` that writes to the file `path` at the end of the run (the SARIF
 * log a CI job uploads while it prints annotations). The file is written as every output file
 * is: to a temporary name renamed over `path` when complete, never over one of `inputs`
 * (attack class G41).
 */
export function fileReporter(format: Format, path: string, inputs: readonly string[]): Reporter {
  const parts: string[] = [];
  const out = {
    write(data: Uint8Array | string, cb: (err?: Error | null) => void) {
      parts.push(typeof data === "string" ? data : new TextDecoder().decode(data));
      cb();
      return true;
    },
    on: () => undefined,
  };
  const inner = reporterFor(
    format,
    { stdout: out, stderr: out, env: {} },
    { quiet: false, verbose: false },
  );
  return {
    file: (name, outcome) => inner.file(name, outcome),
    async end() {
      await inner.end();
      const bytes = new TextEncoder().encode(parts.join(""));
      await writeFileAtomic(path, (sink) => sink.write(bytes), { input: inputs });
    },
  };
}

/** The reporter of `format`, writing to `io`. */
export function reporterFor(format: Format, io: Io, options: ReportOptions): Reporter {
  if (options.quiet) return { file: async () => undefined, end: async () => undefined };
  switch (format) {
    case "json":
      return jsonReporter(io);
    case "sarif":
      return sarifReporter(io);
    case "junit":
      return junitReporter(io);
    case "github":
      return githubReporter(io);
    default:
      return textReporter(io, options.verbose);
  }
}
