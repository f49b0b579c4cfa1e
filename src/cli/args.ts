/**
 * Command-line parsing: the command, its operands, and flags checked against the command they
 * are given to. Any mistake is a {@link UsageError} (exit code 2).
 */
import { BUDGET_KEYS, type Budget } from "../core/limits.js";
import type { WriteOptions } from "../write/writer.js";

/** A mistake in the command line. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const COMMANDS = ["check", "info", "extract", "cat", "create"] as const;
export type Command = (typeof COMMANDS)[number];

/** Output formats: every command speaks text and JSON; check also SARIF, JUnit and GitHub's. */
export const FORMATS = ["text", "json", "sarif", "junit", "github"] as const;
export type Format = (typeof FORMATS)[number];
/** The formats of check only (whole-run documents and CI annotations). */
const CHECK_FORMATS: readonly Format[] = ["sarif", "junit", "github"];

/** Operands each command takes: [min, max, names for messages]. */
const OPERANDS: Record<Command, [number, number, string]> = {
  check: [1, Number.POSITIVE_INFINITY, "FILE..."],
  info: [1, 1, "FILE"],
  extract: [2, 2, "FILE OUT"],
  cat: [1, 1, "FILE"],
  create: [2, 2, "RAW OUT"],
};

/** The parsed command line. */
export interface Args {
  command: Command;
  /** The command was named (not the default `check`). */
  explicitCommand: boolean;
  operands: string[];
  help: boolean;
  version: boolean;
  /** The output format asked for (`--format`, or `--json`); undefined: chosen by main. */
  format?: Format;
  /** True when the format is JSON (every command's machine output). */
  json: boolean;
  /** `--quiet`: print nothing on standard output; the exit code says it all. */
  quiet: boolean;
  /** `--verbose`: also what each file cost and each checksum level's outcome. */
  verbose: boolean;
  quick: boolean;
  requireSignature: boolean;
  /** `--trust-roots FILE` (repeatable): certificates the code signature's chain must reach. */
  trustRootFiles: string[];
  /** The contents of `trustRootFiles`, read once by main before any image is opened. */
  trustRoots?: Uint8Array[];
  chunks: boolean;
  /** `--fsync`: flush the output file to disk before renaming it into place. */
  fsync: boolean;
  offset?: number;
  length?: number;
  /** `--timeout`: milliseconds the command may run. */
  timeout?: number;
  /** `--max-stdin-bytes`: the largest copy of standard input (operand `-`). */
  maxStdin?: number;
  /** The name to show for the first operand (`-` when it is a copy of standard input). */
  shownAs?: string;
  /** `--sarif FILE`: also write a SARIF log of the run to FILE (check). */
  sarifFile?: string;
  /** `--header 'Name: value'`, in order: sent with every request to an http(s) operand. */
  headers: Array<[string, string]>;
  budget: Partial<Budget>;
  write: WriteOptions;
  /** `--password-file FILE`: the password of an encrypted image is the file's first line. */
  passwordFile?: string;
  /** `--password-env NAME`: the password is environment variable NAME. */
  passwordEnv?: string;
  /** The password, once read (by main, from the file, the environment or a prompt). */
  password?: string;
}

type Setter = (a: Args, value: string, flag: string) => unknown;

interface FlagSpec {
  /** Commands the flag applies to; undefined: all. */
  commands?: readonly Command[];
  /** Takes a value. */
  value: boolean;
  set: Setter;
}

const READ_COMMANDS: readonly Command[] = ["check", "info", "extract", "cat"];

/** A flag without a value. */
function on(set: (a: Args) => unknown, commands?: readonly Command[]): FlagSpec {
  return { commands, value: false, set };
}

/** A flag with a value. */
function take(set: Setter, commands: readonly Command[]): FlagSpec {
  return { commands, value: true, set };
}

function chunkSectors(v: string, f: string): number {
  const n = parseSize(v, f);
  if (n < 1) throw new UsageError(`${f} must be at least 1`);
  return n;
}

const CREATE: readonly Command[] = ["create"];

const FLAGS = new Map<string, FlagSpec>([
  ["--help", on((a) => Object.assign(a, { help: true }))],
  ["-h", on((a) => Object.assign(a, { help: true }))],
  ["--version", on((a) => Object.assign(a, { version: true }))],
  ["-V", on((a) => Object.assign(a, { version: true }))],
  ["--json", on((a) => Object.assign(a, { format: "json" }))],
  ["--format", take((a, v, f) => Object.assign(a, { format: oneOf(v, f, FORMATS) }), COMMANDS)],
  ["--quiet", on((a) => Object.assign(a, { quiet: true }), ["check"])],
  ["-q", on((a) => Object.assign(a, { quiet: true }), ["check"])],
  ["--verbose", on((a) => Object.assign(a, { verbose: true }), ["check"])],
  ["--sarif", take((a, v) => Object.assign(a, { sarifFile: v }), ["check"])],
  ["--quick", on((a) => Object.assign(a, { quick: true }), ["check"])],
  ["--require-signature", on((a) => Object.assign(a, { requireSignature: true }), ["check"])],
  ["--trust-roots", take((a, v) => a.trustRootFiles.push(v), ["check", "info"])],
  ["--chunks", on((a) => Object.assign(a, { chunks: true }), ["info"])],
  ["--fsync", on((a) => Object.assign(a, { fsync: true }), ["extract", "create"])],
  [
    "--timeout",
    take((a, v, f) => Object.assign(a, { timeout: parseDuration(v, f) }), READ_COMMANDS),
  ],
  [
    "--max-stdin-bytes",
    take((a, v, f) => Object.assign(a, { maxStdin: parseSize(v, f) }), READ_COMMANDS),
  ],
  ["--header", take((a, v, f) => a.headers.push(parseHeader(v, `option ${f}`)), READ_COMMANDS)],
  ["--password-file", take((a, v) => Object.assign(a, { passwordFile: v }), READ_COMMANDS)],
  ["--password-env", take((a, v) => Object.assign(a, { passwordEnv: v }), READ_COMMANDS)],
  ["--offset", take((a, v, f) => Object.assign(a, { offset: parseSize(v, f) }), ["cat"])],
  ["--length", take((a, v, f) => Object.assign(a, { length: parseSize(v, f) }), ["cat"])],
  [
    "--codec",
    take(
      (a, v, f) => Object.assign(a.write, { codec: oneOf(v, f, ["zlib", "raw", "lzfse"]) }),
      CREATE,
    ),
  ],
  [
    "--chunk-sectors",
    take((a, v, f) => Object.assign(a.write, { chunkSectors: chunkSectors(v, f) }), CREATE),
  ],
  [
    "--layout",
    take(
      (a, v, f) => Object.assign(a.write, { layout: oneOf(v, f, ["xml", "rsrc", "both"]) }),
      CREATE,
    ),
  ],
  ["--level", take((a, v, f) => Object.assign(a.write, { level: parseLevel(v, f) }), CREATE)],
  ["--no-checksums", on((a) => Object.assign(a.write, { checksums: false }), CREATE)],
  [
    "--zero",
    take(
      (a, v, f) => Object.assign(a.write, { zeroChunks: oneOf(v, f, ["zero", "ignore", "none"]) }),
      CREATE,
    ),
  ],
  ...BUDGET_KEYS.map(({ key, flag }): [string, FlagSpec] => [
    flag,
    take((a, v, f) => Object.assign(a.budget, { [key]: parseSize(v, f) }), READ_COMMANDS),
  ]),
]);

const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/**
 * A non-negative byte count or number: decimal (`4096`), with a binary suffix (`64K`, `32M`,
 * `1G`, `2T`) or hexadecimal (`0x1000`).
 */
export function parseSize(text: string, flag: string): number {
  let n: number;
  const dec = /^(\d+)([KMGT]?)$/i.exec(text);
  if (dec) n = Number(dec[1]) * UNITS[dec[2].toUpperCase()];
  else if (/^0x[0-9a-f]+$/i.test(text)) n = Number.parseInt(text.slice(2), 16);
  else {
    throw new UsageError(
      `${flag} needs a non-negative number (like 4096, 64K, 32M, 1G or 0x1000), not "${text}"`,
    );
  }
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} ${text} is too large`);
  return n;
}

/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** An HTTP header value: no CR, LF, NUL or other control character but tab. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * One `Name: value` header (`--header`, a line of DMG_VALIDATE_HTTP_HEADERS). The message of a
 * malformed one never quotes it: it may hold a token, and usage errors are printed.
 */
export function parseHeader(text: string, where: string): [string, string] {
  const colon = text.indexOf(":");
  const name = colon < 0 ? "" : text.slice(0, colon).trim();
  const value = colon < 0 ? "" : text.slice(colon + 1).trim();
  if (!HEADER_NAME.test(name) || !HEADER_VALUE.test(value)) {
    throw new UsageError(
      `${where} needs a header "Name: value" (a name of letters, digits and -, a value without control characters); it is not shown here in case it holds a secret`,
    );
  }
  return [name, value];
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in milliseconds: `30s`, `2m`, `1500ms`, `1h`, or a plain number of seconds. */
export function parseDuration(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  const ms = m ? Number(m[1]) * DURATION_UNITS[m[2] ?? "s"] : Number.NaN;
  if (!(ms >= 1) || !Number.isSafeInteger(Math.ceil(ms)) || ms > 2 ** 31 - 1) {
    throw new UsageError(
      `${flag} needs a duration like 30s, 2m, 1500ms or 1h (at least 1 ms, at most 24 days), not "${text}"`,
    );
  }
  return Math.ceil(ms);
}

function parseLevel(text: string, flag: string): number {
  if (!/^-?\d+$/.test(text) || Number(text) < -1 || Number(text) > 9) {
    throw new UsageError(`${flag} must be an integer from -1 to 9, not "${text}"`);
  }
  return Number(text);
}

function oneOf<T extends string>(text: string, flag: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`${flag} must be one of ${allowed.join(", ")}, not "${text}"`);
  }
  return text as T;
}

/**
 * Parse `argv` (without the node and script paths). The command is the first operand when it
 * names one (and comes before `--`); otherwise it is `check` and every operand is a file.
 */
export function parseArgs(argv: readonly string[]): Args {
  const a: Args = {
    command: "check",
    explicitCommand: false,
    operands: [],
    help: false,
    version: false,
    json: false,
    quiet: false,
    verbose: false,
    quick: false,
    requireSignature: false,
    trustRootFiles: [],
    chunks: false,
    fsync: false,
    headers: [],
    budget: {},
    write: {},
  };
  const seen: string[] = [];
  let explicit = false;
  let afterDashes = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (afterDashes || arg === "-" || !arg.startsWith("-")) {
      if (!afterDashes && !explicit && a.operands.length === 0 && isCommand(arg)) {
        a.command = arg;
        a.explicitCommand = explicit = true;
      } else {
        a.operands.push(arg);
      }
      continue;
    }
    if (arg === "--") {
      afterDashes = true;
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const spec = FLAGS.get(name);
    // A password on the command line is seen by every user (ps) and kept in shell history.
    if (name === "--password") {
      throw new UsageError(
        "there is no --password option: a command line is visible to other users (ps) and kept in shell history; use --password-file FILE or --password-env NAME, or type it at the prompt",
      );
    }
    if (!spec) throw new UsageError(`unknown option ${name}`);
    let value = "";
    if (spec.value) {
      if (eq >= 0) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      else throw new UsageError(`option ${name} needs a value`);
    } else if (eq >= 0) {
      throw new UsageError(`option ${name} takes no value`);
    }
    spec.set(a, value, name);
    seen.push(name);
  }
  if (a.format !== undefined && CHECK_FORMATS.includes(a.format) && a.command !== "check") {
    if (!a.help && !a.version) {
      throw new UsageError(
        `--format ${a.format} applies to check only (other commands: text or json)`,
      );
    }
  }
  a.json = a.format === "json";
  if (a.help || a.version) return a;
  if (a.passwordFile !== undefined && a.passwordEnv !== undefined) {
    throw new UsageError("give --password-file or --password-env, not both");
  }
  for (const name of seen) {
    const allowed = FLAGS.get(name)?.commands;
    if (allowed && !allowed.includes(a.command)) {
      throw new UsageError(
        `option ${name} does not apply to ${a.command} (it applies to ${allowed.join(", ")})`,
      );
    }
  }
  const [min, max, names] = OPERANDS[a.command];
  const what = explicit ? a.command : "dmg-validate";
  if (a.operands.length < min) {
    throw new UsageError(
      a.operands.length === 0 && !explicit
        ? "no file given"
        : `${what} needs ${names} (${min === max ? min : `at least ${min}`} operand${min === 1 ? "" : "s"})`,
    );
  }
  if (a.operands.length > max) {
    throw new UsageError(`${what} takes ${names}; unexpected operand "${a.operands[max]}"`);
  }
  return a;
}

function isCommand(s: string): s is Command {
  return (COMMANDS as readonly string[]).includes(s);
}

/** The command `word` is probably a typo of (edit distance at most 2), or undefined. */
export function nearCommand(word: string): Command | undefined {
  if (!/^[a-z-]+$/.test(word)) return undefined;
  return COMMANDS.find((c) => distance(word, c) <= 2);
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** True when operand `op` names standard input. */
export function isStdin(op: string | undefined): boolean {
  return op === "-" || op === "/dev/stdin";
}
