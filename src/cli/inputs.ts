/**
 * What the command line's file operands name: a file, `-` (standard input, copied to a private
 * temporary file under the `--max-stdin-bytes` cap, and removed on every way out), a directory
 * (every image below it, recursively), or a glob pattern (expanded here, for shells that do not:
 * `dist/*.dmg`, `out/**\/*.dmg`).
 */
import { createWriteStream } from "node:fs";
import { lstat, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DmgError } from "../core/errors.js";
import { trackTempFile, untrackTempFile } from "../node/io/file-sink.js";
import { fsReason } from "../node/io/file-source.js";

/** File names of the image kinds read here, by suffix. */
const IMAGE_SUFFIX = /\.dmg$/i;
/** Largest copy of standard input, unless `--max-stdin-bytes` says otherwise. */
export const DEFAULT_MAX_STDIN = 16 * 1024 ** 3;
/** Most files a directory or pattern may expand to. */
const MAX_FILES = 1_000_000;

/** True when operand `op` names standard input. */
export function isStdin(op: string | undefined): boolean {
  return op === "-" || op === "/dev/stdin";
}

/** One input: the name shown for it and the path to read (or the error that stands for it). */
export interface Input {
  name: string;
  path?: string;
  error?: DmgError;
}

/** Standard input, as the CLI reads it. */
export type InStream = AsyncIterable<Uint8Array | string>;

/** The inputs of `operands`, and a `close()` that removes what was made for them. */
export interface Inputs {
  list: Input[];
  close(): Promise<void>;
}

/**
 * Expand `operands`. With `many` false (info, extract, cat) each operand is one file, `-` for
 * standard input; with `many` true (check) directories and patterns expand too.
 */
export async function expandInputs(
  operands: readonly string[],
  many: boolean,
  stdin: InStream | undefined,
  maxStdin: number,
): Promise<Inputs> {
  const list: Input[] = [];
  const made: string[] = [];
  const close = async () => {
    for (const dir of made) {
      untrackTempFile(join(dir, "stdin.dmg"));
      await rm(dir, { recursive: true, force: true });
    }
  };
  try {
    for (const op of operands) {
      if (isStdin(op)) {
        const dir = await mkdtemp(join(tmpdir(), "dmg-validate-stdin-"));
        made.push(dir);
        const path = join(dir, "stdin.dmg");
        trackTempFile(path);
        try {
          await spool(stdin, path, maxStdin);
          list.push({ name: "-", path });
        } catch (e) {
          if (!(e instanceof DmgError)) throw e;
          list.push({ name: "-", error: e });
        }
        continue;
      }
      if (!many) {
        list.push({ name: op, path: op });
        continue;
      }
      const info = await stat(op).catch(() => undefined);
      if (info?.isDirectory()) {
        const found = await imagesBelow(op);
        if (found.length === 0) list.push({ name: op, error: noImages(op, "directory") });
        for (const f of found) list.push({ name: f, path: f });
      } else if (info === undefined && hasWildcard(op)) {
        // A directory matched is searched like one given.
        const found: string[] = [];
        for (const f of await glob(op)) {
          if ((await stat(f).catch(() => undefined))?.isDirectory()) {
            for (const g of await imagesBelow(f)) found.push(g);
          } else found.push(f);
        }
        if (found.length === 0) list.push({ name: op, error: noImages(op, "pattern") });
        for (const f of found) list.push({ name: f, path: f });
      } else {
        list.push({ name: op, path: op });
      }
      if (list.length > MAX_FILES) {
        throw new DmgError("IO_ERROR", `more than ${MAX_FILES} files to check`);
      }
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { list, close };
}

function noImages(op: string, what: string): DmgError {
  return new DmgError("IO_ERROR", `${op}: no .dmg file found (${what})`);
}

/** Copy standard input to `path` (created private), refusing more than `max` bytes. */
async function spool(stdin: InStream | undefined, path: string, max: number): Promise<void> {
  if (!stdin) throw new DmgError("IO_ERROR", "standard input cannot be read here");
  const out = createWriteStream(path, { flags: "wx", mode: 0o600 });
  const done = new Promise<void>((resolve, reject) => {
    out.on("finish", resolve);
    out.on("error", reject);
  });
  let total = 0;
  try {
    for await (const piece of stdin) {
      const bytes = typeof piece === "string" ? Buffer.from(piece) : piece;
      total += bytes.length;
      if (total > max) {
        throw new DmgError(
          "BUDGET_STDIN_BYTES",
          `standard input is more than ${max} bytes (raise --max-stdin-bytes, or give a file)`,
        );
      }
      if (!out.write(bytes)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    out.end();
    await done;
  } catch (e) {
    out.destroy();
    if (e instanceof DmgError) throw e;
    throw new DmgError("IO_ERROR", `cannot read standard input: ${fsReason(e)}`);
  }
}

/** Every image below `dir`, sorted; directories behind symbolic links are not entered. */
async function imagesBelow(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch (e) {
      throw new DmgError("IO_ERROR", `cannot read directory ${d}: ${fsReason(e)}`);
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if ((e.isFile() || e.isSymbolicLink()) && IMAGE_SUFFIX.test(e.name)) out.push(p);
      if (out.length > MAX_FILES) return;
    }
  };
  await walk(dir);
  return out;
}

function hasWildcard(s: string): boolean {
  return /[*?[]/.test(s);
}

/** A path segment's pattern as a regular expression: `*`, `?` and `[...]`. */
function segmentRegex(segment: string): RegExp {
  let re = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = segment.indexOf("]", i + 1);
      if (end < 0) re += "\\[";
      else {
        const body = segment
          .slice(i + 1, end)
          .replace(/^!/, "^")
          .replace(/\\/g, "\\\\");
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, process.platform === "win32" ? "i" : "");
}

/**
 * The paths matching `pattern` (segments split at `/` or `\`; `**` for any depth), sorted.
 * Hidden entries match only a segment that starts with a dot.
 */
export async function glob(pattern: string): Promise<string[]> {
  const parts = pattern.split(/[\\/]+/);
  const absolute = pattern.startsWith("/") || pattern.startsWith("\\");
  const start = absolute ? "/" : ".";
  const out = new Set<string>();
  const join2 = (base: string, name: string) =>
    base === "." ? name : base === "/" ? `/${name}` : `${base}/${name}`;
  const walk = async (base: string, k: number): Promise<void> => {
    if (out.size > MAX_FILES) return;
    if (k === parts.length) {
      out.add(base);
      return;
    }
    const part = parts[k];
    if (part === "" && k === 0) return walk(start, k + 1);
    if (!hasWildcard(part)) {
      const next = join2(base, part);
      if (await lstat(next).catch(() => undefined)) await walk(next, k + 1);
      return;
    }
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(base, { withFileTypes: true });
    } catch {
      return;
    }
    if (part === "**") {
      await walk(base, k + 1);
      for (const e of entries) {
        if (e.isDirectory() && !e.name.startsWith(".")) await walk(join2(base, e.name), k);
      }
      return;
    }
    const re = segmentRegex(part);
    for (const e of entries) {
      if (e.name.startsWith(".") && !part.startsWith(".")) continue;
      if (re.test(e.name)) await walk(join2(base, e.name), k + 1);
    }
  };
  await walk(start, 0);
  return [...out].sort();
}

/**
 * Run `fn` over the inputs of `operands` (see {@link expandInputs}), removing what was made for
 * them afterwards, and on SIGINT, SIGTERM or SIGHUP meanwhile.
 */
export async function withInputs<T>(
  operands: readonly string[],
  many: boolean,
  io: { stdin?: InStream },
  maxStdin: number | undefined,
  fn: (inputs: Input[]) => Promise<T>,
): Promise<T> {
  const inputs = await expandInputs(operands, many, io.stdin, maxStdin ?? DEFAULT_MAX_STDIN);
  try {
    return await fn(inputs.list);
  } finally {
    await inputs.close();
  }
}
