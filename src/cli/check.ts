/**
 * `dmg-validate [check] FILE...`: validate each file and report it in the chosen format (text,
 * JSON lines, SARIF, JUnit or GitHub's workflow commands).
 */
import { basename } from "node:path";
import { DmgError } from "../core/errors.js";
import { failedReport, type ValidationReport } from "../image/validate.js";
import { validateDmg } from "../node/index.js";
import { checkOutputPath } from "../node/io/file-sink.js";
import type { HttpSource, HttpStats } from "../sources/http.js";
import {
  EXIT_INTERNAL,
  EXIT_INVALID,
  EXIT_IO,
  EXIT_OK,
  isIoCode,
  reportFailure,
  reportInternal,
  worse,
} from "./exit.js";
import { type Input, withInputs } from "./inputs.js";
import { type Io, OutputClosed, writeOut } from "./io.js";
import type { RunArgs } from "./main.js";
import { Progress, progressWanted } from "./progress.js";
import { openRemote, statsText } from "./remote.js";
import { fileReporter, type Outcome, type Reporter, reporterFor } from "./report/reporter.js";
import { deadline, removingTempFilesOnSignal } from "./signals.js";

export { reportText } from "./report/text.js";

/** The exit code a report stands for: 3 when the file could not be read, else 1. */
export function reportExitCode(r: ValidationReport): number {
  if (r.ok) return EXIT_OK;
  return r.errors.some((f) => isIoCode(f.code)) ? EXIT_IO : EXIT_INVALID;
}

/** One checked input: its outcome, the exit code it stands for, and what HTTP cost. */
interface Checked {
  outcome: Outcome;
  code: number;
  http?: { stats: HttpStats; size: number };
}

/**
 * Validate `input` (a path, or a URL: its source is opened and closed here, and read in this
 * thread only, as lanes read local files): its outcome and the exit code it stands for.
 */
async function checkOne(args: RunArgs, io: Io, input: Input): Promise<Checked> {
  const show = progressWanted(io.stderr, args.format !== "text" || args.quiet);
  const progress = new Progress(io.stderr, basename(input.name), show);
  const signal = deadline(args);
  let remote: HttpSource | undefined;
  try {
    if (input.url !== undefined) remote = await openRemote(input.url, args.headers, signal);
    const report = await validateDmg(remote ?? (input.path as string), {
      quick: args.quick,
      requireSignature: args.requireSignature,
      ...(args.trustRoots ? { trustRoots: args.trustRoots } : {}),
      budget: args.budget,
      password: args.password,
      threads: args.threads,
      onProgress: progress.update,
      signal,
    });
    return { outcome: { report }, code: reportExitCode(report), http: costOf(remote) };
  } catch (e) {
    if (!(e instanceof DmgError)) {
      // A bug: report it and go on with the other files.
      progress.clear();
      await reportInternal(io, e);
      return {
        outcome: { internal: e instanceof Error ? e.message : String(e) },
        code: EXIT_INTERNAL,
      };
    }
    // Only API misuse (or a URL that cannot be opened) is thrown; reported like a finding.
    const report = failedReport(args.quick, e);
    return { outcome: { report }, code: reportExitCode(report), http: costOf(remote) };
  } finally {
    progress.clear();
    await remote?.close();
  }
}

/** What reading `src` cost, for --verbose. */
function costOf(src: HttpSource | undefined): Checked["http"] {
  return src && { stats: src.stats(), size: src.size };
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
  // What a URL cost goes with --verbose text, under the file's lines.
  const costs = args.verbose && !args.quiet && args.format === "text";
  for (const input of inputs) {
    const { outcome, code, http } = input.error
      ? outcomeOf(failedReport(args.quick, input.error))
      : await checkOne(args, io, input);
    worst = worse(worst, code);
    await sarif?.file(input.name, outcome);
    if (open) open = await unlessClosed(shown.file(input.name, outcome));
    if (open && costs && http) {
      open = await unlessClosed(
        writeOut(io.stdout, `  http: ${statsText(http.stats, http.size)}\n`),
      );
    }
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

function outcomeOf(report: ValidationReport): Checked {
  return { outcome: { report }, code: reportExitCode(report) };
}
