/**
 * How `check` reports: one reporter per output format, given each file's report in order,
 * then told that the run is over. Text, JSON lines and GitHub annotations are written file by
 * file; SARIF and JUnit are one document for the whole run, written at the end.
 */

import { writeFile } from "node:fs/promises";
import { DmgError } from "../../core/errors.js";
import type { ValidationReport } from "../../image/validate.js";
import { fsReason } from "../../node/io/file-source.js";
import type { Format } from "../args.js";
import type { Io } from "../io.js";
import { githubReporter } from "./github.js";
import { jsonReporter } from "./json.js";
import { junitReporter } from "./junit.js";
import { sarifReporter } from "./sarif.js";
import { textReporter } from "./text.js";

/** A file's outcome: its report, or the exception that was a bug. */
export type Outcome = { report: ValidationReport } | { internal: string };

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

/** Reporters that all get every file: the format's on standard output, and files beside. */
export function allOf(reporters: Reporter[]): Reporter {
  return {
    async file(name, outcome) {
      for (const r of reporters) await r.file(name, outcome);
    },
    async end() {
      for (const r of reporters) await r.end();
    },
  };
}

/**
 * A reporter of `format` that writes to the file `path` at the end of the run (the SARIF
 * log a CI job uploads while it prints annotations).
 */
export function fileReporter(format: Format, path: string): Reporter {
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
      try {
        await writeFile(path, parts.join(""));
      } catch (e) {
        throw new DmgError("IO_ERROR", `cannot write ${path}: ${fsReason(e)}`);
      }
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
