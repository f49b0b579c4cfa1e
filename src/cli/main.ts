/**
 * The `dmg-validate` command line: parse, run the command, turn every outcome into an exit
 * code. No exception reaches the user as a stack trace unless DMG_VALIDATE_DEBUG is set.
 */
import { existsSync } from "node:fs";
import { sanitize } from "../core/text.js";
import { type Args, isStdin, nearCommand, parseArgs, UsageError } from "./args.js";
import { EXIT_OK, EXIT_USAGE, exitCodeFor, reportFailure, reportInternal, warn } from "./exit.js";
import { guard, type Io, OutputClosed, processIo, writeOut } from "./io.js";
import { resolvePassword } from "./password.js";
import { isUrl, remoteHeaders, urlName } from "./remote.js";
import { removingTempFilesOnSignal } from "./signals.js";

/** The parsed command line with the options main() takes itself. */
export interface RunArgs extends Args {
  /** `--threads N`: threads decoding chunks (check and extract); undefined: one per core. */
  threads?: number;
}

/** Commands `--threads` applies to. */
const THREADED: readonly Args["command"][] = ["check", "extract"];

/**
 * Take `--threads N` (or `--threads=N`) out of `argv`: the number of threads decoding chunks,
 * 1 for this thread only.
 */
function takeThreads(argv: string[]): { rest: string[]; threads?: number } {
  const rest: string[] = [];
  let threads: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      // A loop, not a spread: a command line may hold more operands than a call has arguments.
      for (let j = i; j < argv.length; j++) rest.push(argv[j]);
      break;
    }
    if (arg !== "--threads" && !arg.startsWith("--threads=")) {
      rest.push(arg);
      continue;
    }
    const value = arg === "--threads" ? argv[++i] : arg.slice("--threads=".length);
    if (value === undefined) throw new UsageError("option --threads needs a value");
    if (!/^[1-9]\d{0,3}$/.test(value)) {
      throw new UsageError(`--threads needs a whole number from 1 to 9999, not "${value}"`);
    }
    threads = Number(value);
  }
  return { rest, threads };
}

type Runner = (args: RunArgs, io: Io) => Promise<number>;

/**
 * Each command's module, loaded when it runs: an extract need not load the validator's or
 * the writer's command code (every module loaded stays in resident memory).
 */
const COMMANDS: Record<Args["command"], () => Promise<Runner>> = {
  check: async () => (await import("./check.js")).runCheck,
  info: async () => (await import("./info.js")).runInfo,
  extract: async () => (await import("./extract.js")).runExtract,
  cat: async () => (await import("./extract.js")).runCat,
  create: async () => (await import("./create.js")).runCreate,
};

/**
 * Run the CLI with `argv` (without the node and script paths) and return the exit code:
 * 0 all valid, 1 invalid or over budget, 2 usage error, 3 I/O error, 70 internal error.
 * `io` replaces the process's streams and environment (for tests).
 */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  guard(io.stdout);
  guard(io.stderr);
  let args: RunArgs;
  try {
    const { rest, threads } = takeThreads(argv);
    args = parseArgs(rest);
    // In a GitHub Actions job, check speaks the runner's workflow commands unless told otherwise.
    if (args.format === undefined) {
      args.format =
        args.command === "check" && io.env.GITHUB_ACTIONS === "true" ? "github" : "text";
    }
    if (threads !== undefined) {
      if (!args.help && !args.version && !THREADED.includes(args.command)) {
        throw new UsageError(
          `option --threads does not apply to ${args.command} (it applies to ${THREADED.join(", ")})`,
        );
      }
      args.threads = threads;
    }
    // `dmg-validate extarct x.dmg out` means a mistyped command, not three files to check.
    const first = args.operands[0];
    const meant =
      args.explicitCommand || args.help || args.version ? undefined : nearCommand(first);
    if (meant && !existsSync(first)) {
      throw new UsageError(`unknown command ${first} (did you mean ${meant}?)`);
    }
    // Headers go to URL operands only: the environment's are read (and checked) only then.
    if (!args.help && !args.version && args.operands.some(isUrl)) {
      // `http://[::1/x.dmg` is a mistyped command line, not an image that fails to validate.
      for (const op of args.operands.filter(isUrl)) {
        if (!URL.canParse(op)) throw new UsageError(`${urlName(op)} is not a valid URL`);
      }
      args.headers = remoteHeaders(args, io.env);
    }
  } catch (e) {
    if (!(e instanceof UsageError)) {
      await reportInternal(io, e);
      return exitCodeFor(e);
    }
    return usage(io, e);
  }
  try {
    if (args.help) {
      await writeOut(io.stdout, (await import("./help.js")).helpText());
      return EXIT_OK;
    }
    if (args.version) {
      await writeOut(io.stdout, `dmg-validate ${(await import("./help.js")).version()}\n`);
      return EXIT_OK;
    }
    // An encrypted image's password: read once, before any image is opened.
    args.password = await resolvePassword(args, io);
    if (args.trustRootFiles.length > 0) {
      args.trustRoots = await (await import("./trust.js")).readTrustRoots(args.trustRootFiles);
    }
    const run = await COMMANDS[args.command]();
    // info, extract and cat read standard input for `-`: a private copy of it, removed after.
    const first = args.operands[0];
    if (args.command !== "check" && args.command !== "create" && isStdin(first)) {
      const a = args;
      // Loaded here: a command on a file needs none of the operand expansion code.
      const { withInputs } = await import("./inputs.js");
      return await removingTempFilesOnSignal(() =>
        withInputs([first], false, io, a, async ([input]) => {
          if (input.error) return reportFailure(io, input.name, input.error);
          const operands = [input.path as string, ...a.operands.slice(1)];
          return run({ ...a, operands, shownAs: input.name }, io);
        }),
      );
    }
    return await run(args, io);
  } catch (e) {
    if (e instanceof UsageError) return usage(io, e);
    if (e instanceof OutputClosed) return EXIT_OK;
    return reportFailure(io, args.operands[0] ?? "dmg-validate", e);
  }
}

/**
 * Report a usage error. Its message quotes the command line (an unknown option, a bad value),
 * which a hostile script or a pasted file name can fill with ESC sequences or bidi overrides
 * (attack class G40): shown through sanitize, like every string from outside.
 */
async function usage(io: Io, e: UsageError): Promise<number> {
  await warn(io, `dmg-validate: ${sanitize(e.message)}\nsee dmg-validate --help`);
  return EXIT_USAGE;
}
