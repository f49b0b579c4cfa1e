/**
 * What the command line's file operands name: a file, `-` (standard input, copied to a private
 * temporary file under the `--max-stdin-bytes` cap, and removed on every way out), a directory
 * (every image below it, recursively), or a glob pattern (expanded here, for shells that do not:
 * `dist/*.dmg`, `out/**\/*.dmg`), or an http:// or https:// URL (read over HTTP, never expanded).
 */
import { DmgError } from "../core/errors.js";
import { type Args, isStdin, UsageError } from "./args.js";
import { expandOperand, WALK_LIMITS, type WalkLimits, type WalkState } from "./glob.js";
import type { StdIn } from "./io.js";
import { isUrl, urlName } from "./remote.js";
import { deadline } from "./signals.js";
import { removeTemp, spool } from "./stdin.js";

export { isStdin } from "./args.js";
export { glob, WALK_LIMITS, type WalkLimits } from "./glob.js";

/** Largest copy of standard input, unless `--max-stdin-bytes` says otherwise. */
export const DEFAULT_MAX_STDIN = 16 * 1024 ** 3;

/**
 * One input: the name shown for it and the path or URL to read (or the error that stands for
 * it).
 */
export interface Input {
  name: string;
  path?: string;
  /** An http(s) URL, as given (credentials and query included: they are sent, never shown). */
  url?: string;
  error?: DmgError;
}

/** Standard input, as the CLI reads it. */
export type InStream = StdIn;

/** The inputs of `operands`, and a `close()` that removes what was made for them. */
export interface Inputs {
  list: Input[];
  close(): Promise<void>;
}

/** Options of {@link expandInputs}. */
export interface ExpandOptions {
  /** Most bytes copied from standard input. */
  maxStdin: number;
  /** Ends the copy of standard input with BUDGET_TIME (`--timeout`). */
  signal?: AbortSignal;
  /** Bounds of directory and pattern expansion; {@link WALK_LIMITS} by default. */
  limits?: WalkLimits;
}

/**
 * Expand `operands`. With `many` false (info, extract, cat) each operand is one file, `-` for
 * standard input; with `many` true (check) directories and patterns expand too. A directory
 * that cannot be read becomes an input with an IO_ERROR, and the rest is still expanded.
 *
 * @throws UsageError for a malformed pattern, standard input given twice or a terminal.
 * @throws DmgError IO_ERROR when the expansion goes past its limits.
 */
export async function expandInputs(
  operands: readonly string[],
  many: boolean,
  stdin: InStream | undefined,
  options: ExpandOptions,
): Promise<Inputs> {
  // Standard input can be read once: a second `-` would silently check an empty file.
  if (operands.filter(isStdin).length > 1) {
    throw new UsageError("standard input (-) can be given only once");
  }
  const list: Input[] = [];
  const made: string[] = [];
  const close = async () => {
    for (const path of made.splice(0)) await removeTemp(path);
  };
  const walk: WalkState = {
    limits: options.limits ?? WALK_LIMITS,
    entries: 0,
    files: 0,
    seen: new Set(),
    found: 0,
    out: list,
  };
  try {
    for (const op of operands) {
      if (isStdin(op)) {
        try {
          const path = await spool(stdin, options.maxStdin, options.signal);
          made.push(path);
          list.push({ name: "-", path });
        } catch (e) {
          if (!(e instanceof DmgError)) throw e;
          list.push({ name: "-", error: e });
        }
        continue;
      }
      // A URL is no path: `https://host/a?b=*` must not be globbed or looked up on disk.
      if (isUrl(op)) {
        list.push({ name: urlName(op), url: op });
        continue;
      }
      if (!many) {
        list.push({ name: op, path: op });
        continue;
      }
      await expandOperand(op, walk);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { list, close };
}

/**
 * Run `fn` over the inputs of `operands` (see {@link expandInputs}), removing what was made for
 * them afterwards. Standard input is read under `args.maxStdin` and `args.timeout`.
 */
export async function withInputs<T>(
  operands: readonly string[],
  many: boolean,
  io: { stdin?: InStream },
  args: Args,
  fn: (inputs: Input[]) => Promise<T>,
): Promise<T> {
  const inputs = await expandInputs(operands, many, io.stdin, {
    maxStdin: args.maxStdin ?? DEFAULT_MAX_STDIN,
    signal: operands.some(isStdin) ? deadline(args) : undefined,
  });
  try {
    return await fn(inputs.list);
  } finally {
    await inputs.close();
  }
}
