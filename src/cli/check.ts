/**
 * `dmg-validate [check] FILE...`: validate each file and report it in the chosen format (text,
 * JSON lines, SARIF, JUnit or GitHub's workflow commands).
 */
import { basename } from "node:path";
import { DmgError } from "../core/errors.js";
import { failedReport, type ValidationReport } from "../image/validate.js";
import { validateDmg } from "../node/index.js";
import { checkOutputPath } from "../node/io/file-sink.js";
import {
  EXIT_INTERNAL,
  EXIT_INVALID,
  EXIT_IO,
  EXIT_OK,
  reportFailure,
  reportInternal,
  worse,
} from "./exit.js";
import { type Input, withInputs } from "./inputs.js";
import { type Io, OutputClosed } from "./io.js";
import type { RunArgs } from "./main.js";
import { Progress, progressWanted } from "./progress.js";
import { fileReporter, type Outcome, type Reporter, reporterFor } from "./report/reporter.js";
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
 * worst exit code. With `--sarif FILE`, FILE is refused before any file is checked when it may
 * not be replaced (an input, a FIFO, a device, a directory), and is written whole at the end
 * even when standard output closed early.
 */
export async function runCheck(args: RunArgs, io: Io): Promise<number> {
  const sarifFile = args.sarifFile;
  // A FIFO, a device or a directory is refused before standard input is copied or a directory
  // walked; an input, once the operands are expanded, before any is checked.
  if (sarifFile !== undefined) {
    const refused = await sarifRefused(io, sarifFile, []);
    if (refused !== undefined) return refused;
  }
  return removingTempFilesOnSignal(() =>
    withInputs(args.operands, true, io, args, async (inputs) => {
      if (sarifFile === undefined) return checkAll(args, io, inputs, undefined);
      const paths = inputs.flatMap((i) => (i.path === undefined ? [] : [i.path]));
      const refused = await sarifRefused(io, sarifFile, paths);
      if (refused !== undefined) return refused;
      const sarif = fileReporter("sarif", sarifFile, paths);
      const worst = await checkAll(args, io, inputs, sarif);
      try {
        await sarif.end();
      } catch (e) {
        // A run-level failure: the log's, not any checked file's.
        return worse(worst, await reportFailure(io, `--sarif ${sarifFile}`, e));
      }
      return worst;
    }),
  );
}

/**
 * Check that the SARIF log may be written at `path` without replacing one of `inputs` or a
 * special file (attack class G41: `check --sarif x.dmg x.dmg` replaced the image; a FIFO hung
 * the run at its end). Reports the refusal and returns its exit code (3), or undefined.
 */
async function sarifRefused(
  io: Io,
  path: string,
  inputs: readonly string[],
): Promise<number | undefined> {
  try {
    await checkOutputPath(path, inputs);
    return undefined;
  } catch (e) {
    return reportFailure(io, `--sarif ${path}`, e);
  }
}

/**
 * Check each input and report it on standard output and to `sarif`; the worst exit code. When
 * the reader of standard output goes away, nobody sees the rest: the run stops, unless the
 * SARIF log is still to be written whole.
 */
async function checkAll(
  args: RunArgs,
  io: Io,
  inputs: readonly Input[],
  sarif: Reporter | undefined,
): Promise<number> {
  const shown = reporterFor(args.format ?? "text", io, args);
  let open = true;
  let worst = EXIT_OK;
  for (const input of inputs) {
    const [outcome, code] = input.error
      ? outcomeOf(failedReport(args.quick, input.error))
      : await checkOne(args, io, input.name, input.path as string);
    worst = worse(worst, code);
    await sarif?.file(input.name, outcome);
    if (open) open = await unlessClosed(shown.file(input.name, outcome));
    if (!open && sarif === undefined) return worst;
  }
  if (open) await unlessClosed(shown.end());
  return worst;
}

/** False when `writing` failed because standard output was closed; other errors rethrown. */
async function unlessClosed(writing: Promise<void>): Promise<boolean> {
  try {
    await writing;
    return true;
  } catch (e) {
    if (e instanceof OutputClosed) return false;
    throw e;
  }
}

function outcomeOf(report: ValidationReport): [Outcome, number] {
  return [{ report }, reportExitCode(report)];
}
