/**
 * `dmg-validate [check] FILE...`: validate each file and report it in the chosen format (text,
 * JSON lines, SARIF, JUnit or GitHub's workflow commands).
 */
import { basename } from "node:path";
import { DmgError } from "../core/errors.js";
import { failedReport, type ValidationReport } from "../image/validate.js";
import { validateDmg } from "../node/index.js";
import { EXIT_INTERNAL, EXIT_INVALID, EXIT_IO, EXIT_OK, reportInternal, worse } from "./exit.js";
import { withInputs } from "./inputs.js";
import { type Io, OutputClosed } from "./io.js";
import type { RunArgs } from "./main.js";
import { Progress, progressWanted } from "./progress.js";
import { allOf, fileReporter, type Outcome, reporterFor } from "./report/reporter.js";
import { deadline, removingTempFilesOnSignal } from "./signals.js";

export { reportText } from "./report/text.js";

/** The exit code a report stands for. */
export function reportExitCode(r: ValidationReport): number {
  if (r.ok) return EXIT_OK;
  return r.errors.some((f) => f.code === "IO_ERROR") ? EXIT_IO : EXIT_INVALID;
}

/** Validate `file` (shown as `name`): its outcome, and the exit code it stands for. */
async function checkOne(
  args: RunArgs,
  io: Io,
  name: string,
  file: string,
): Promise<[Outcome, number]> {
  const show = progressWanted(io.stderr, args.format !== "text" || args.quiet);
  const progress = new Progress(io.stderr, basename(name), show);
  try {
    const report = await validateDmg(file, {
      quick: args.quick,
      budget: args.budget,
      threads: args.threads,
      onProgress: progress.update,
      signal: deadline(args),
    });
    return [{ report }, reportExitCode(report)];
  } catch (e) {
    if (!(e instanceof DmgError)) {
      // A bug: report it and go on with the other files.
      progress.clear();
      await reportInternal(io, e);
      return [{ internal: e instanceof Error ? e.message : String(e) }, EXIT_INTERNAL];
    }
    // Only API misuse is thrown by validation; report it like any other finding.
    const report = failedReport(args.quick, e);
    return [{ report }, reportExitCode(report)];
  } finally {
    progress.clear();
  }
}

/**
 * Validate every operand (`-` standard input, directories and patterns expanded); returns the
 * worst exit code.
 */
export function runCheck(args: RunArgs, io: Io): Promise<number> {
  return removingTempFilesOnSignal(() =>
    withInputs(args.operands, true, io, args.maxStdin, async (inputs) => {
      const main = reporterFor(args.format ?? "text", io, args);
      const reporter = args.sarifFile ? allOf([main, fileReporter("sarif", args.sarifFile)]) : main;
      let worst = EXIT_OK;
      try {
        for (const input of inputs) {
          const [outcome, code] = input.error
            ? outcomeOf(failedReport(args.quick, input.error))
            : await checkOne(args, io, input.name, input.path as string);
          worst = worse(worst, code);
          await reporter.file(input.name, outcome);
        }
        await reporter.end();
      } catch (e) {
        // The reader of standard output went away: nobody sees the rest.
        if (e instanceof OutputClosed) return worst;
        throw e;
      }
      return worst;
    }),
  );
}

function outcomeOf(report: ValidationReport): [Outcome, number] {
  return [{ report }, reportExitCode(report)];
}
