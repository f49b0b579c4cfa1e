/**
 * Directories and glob patterns as command-line operands, expanded here for shells that do not
 * (`dist/*.dmg`, `out/**\/*.dmg`): one walk from the pattern's fixed directory, each directory
 * read once, never into a symbolic link where `**` could loop, each file listed once, the whole
 * bounded by {@link WALK_LIMITS}; patterns are matched as sets of positions, in time linear in
 * the path.
 */
import type { Dirent } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { DmgError } from "../core/errors.js";
import { sanitize } from "../core/text.js";
import { fsReason } from "../node/io/file-source.js";
import { UsageError } from "./args.js";
import type { Input } from "./inputs.js";

/** File names of the image kinds read here, by suffix. */
const IMAGE_SUFFIX = /\.(?:dmg|sparseimage)$/i;
/** Folders that are one image each (a sparse bundle): checked whole, never walked into. */
const BUNDLE_SUFFIX = /\.sparsebundle\/*$/i;

/** How far directories and patterns may expand, all operands of one run together. */
export interface WalkLimits {
  /** Most files to check. */
  files: number;
  /** Most directory entries to look at (a pattern over `/`, a tree of millions of files). */
  entries: number;
}

/** The limits of a run of the command line. */
export const WALK_LIMITS: Readonly<WalkLimits> = { files: 1_000_000, entries: 5_000_000 };

/** Add the inputs of `op` (a file, a directory or a pattern) to `w.out`. */
export async function expandOperand(op: string, w: WalkState): Promise<void> {
  const before = w.found;
  const info = await stat(op).catch(() => undefined);
  const pattern = info === undefined ? parsePattern(op) : undefined;
  if (info?.isDirectory() && BUNDLE_SUFFIX.test(op)) {
    w.out.push({ name: op, path: op });
    w.files++;
  } else if (info?.isDirectory()) {
    await walkDir(w, op, [], true, undefined);
    if (w.found === before) w.out.push({ name: op, error: noImages(op, "directory") });
  } else if (pattern !== undefined) {
    const states = startStates(pattern.segments);
    // `dir/**` names `dir` itself, and a directory named is searched like one given.
    const all = states.includes(pattern.segments.length);
    await walkDir(w, pattern.base, states, all, pattern);
    if (w.found === before) w.out.push({ name: op, error: noImages(op, "pattern") });
  } else {
    w.out.push({ name: op, path: op });
    w.files++;
  }
  if (w.files > w.limits.files) {
    throw new DmgError(
      "IO_ERROR",
      `${op}: more than ${w.limits.files} files to check (name fewer directories or a narrower pattern)`,
    );
  }
}

function noImages(op: string, what: string): DmgError {
  return new DmgError("IO_ERROR", `${op}: no .dmg file found (${what})`);
}

/** Progress of one expansion: what was counted against the limits, and what was found. */
export interface WalkState {
  limits: WalkLimits;
  entries: number;
  files: number;
  /** Paths already listed: each file is checked once, however many operands name it. */
  seen: Set<string>;
  /** Files and unreadable directories met, listed before or not. */
  found: number;
  out: Input[];
}

/**
 * Walk `dir` once, each directory below it visited once: a directory behind a symbolic link
 * is not entered (a link to `.` would make the tree endless). `states` are the positions in
 * `pattern` reached at `dir` (empty without a pattern); `all` says `dir` is searched whole,
 * every `.dmg` below it found. Entries go in name order, so the result is sorted by path.
 */
async function walkDir(
  w: WalkState,
  dir: string,
  states: readonly number[],
  all: boolean,
  pattern: Pattern | undefined,
): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    // One unreadable directory (EACCES) fails alone; the rest of the tree is still checked.
    w.found++;
    if (w.seen.has(dir)) return;
    w.seen.add(dir);
    w.out.push({
      name: dir,
      error: new DmgError("IO_ERROR", `cannot read directory ${dir}: ${fsReason(e)}`),
    });
    return;
  }
  w.entries += entries.length;
  // A pattern over `/` or a tree of millions of entries would run (and grow) without end.
  if (w.entries > w.limits.entries) {
    throw new DmgError(
      "IO_ERROR",
      `more than ${w.limits.entries} directory entries to look at below ${dir} (name a narrower directory or pattern)`,
    );
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const segments = pattern?.segments ?? [];
  for (const e of entries) {
    const path = join(dir, e.name);
    const isDir = e.isDirectory();
    const next = states.length === 0 ? states : step(segments, states, e.name, isDir);
    const matched = next.includes(segments.length) && (isDir || !pattern?.dirOnly);
    // A link to a directory is entered where the pattern names it by name and goes on below
    // it without `**` (`builds/*/latest/*.dmg`): the pattern's length bounds the depth. Links
    // met by a wildcard, by `**` or in a directory searched whole are never followed (a link
    // to `.` would list each image again under another path).
    if (!isDir && e.isSymbolicLink() && !all && !matched && named(segments, states, e.name, next)) {
      if ((await stat(path).catch(() => undefined))?.isDirectory()) {
        await walkDir(w, path, next, false, pattern);
        continue;
      }
    }
    if (isDir && BUNDLE_SUFFIX.test(e.name)) {
      // A sparse bundle is one image: its bands are not walked for images of their own.
      if (all || matched) addFile(w, path);
      continue;
    }
    if (isDir) {
      // Entered only when something below can still match.
      if (all || matched || next.length > 0) await walkDir(w, path, next, all || matched, pattern);
      continue;
    }
    const wanted =
      matched || (all && IMAGE_SUFFIX.test(e.name) && (e.isFile() || e.isSymbolicLink()));
    if (!wanted) continue;
    if (e.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isDirectory()) continue;
    addFile(w, path);
  }
}

/**
 * True when a segment without wildcards at `states` names `name`, and the positions `next`
 * after it go on below without `**` (a walk from them has a bounded depth).
 */
function named(
  segments: readonly Segment[],
  states: readonly number[],
  name: string,
  next: readonly number[],
): boolean {
  const literal = states.some(
    (k) => k < segments.length && isLiteral(segments[k]) && matchSegment(segments[k], name),
  );
  return literal && next.length > 0 && next.every((k) => k < segments.length && !segments[k].deep);
}

function addFile(w: WalkState, path: string): void {
  w.found++;
  if (w.seen.has(path)) return;
  w.seen.add(path);
  w.out.push({ name: path, path });
  w.files++;
  if (w.files > w.limits.files) {
    throw new DmgError(
      "IO_ERROR",
      `more than ${w.limits.files} files to check (name fewer directories or a narrower pattern)`,
    );
  }
}

/** One character position of a segment pattern. */
type Token =
  | { kind: "char"; char: string }
  | { kind: "any" }
  | { kind: "star" }
  | { kind: "set"; negated: boolean; ranges: [string, string][] };

/** A path segment of a pattern: `**` (any number of directories) or a list of tokens. */
interface Segment {
  deep: boolean;
  tokens: Token[];
  /** Starts with a dot: only such a segment matches a hidden name. */
  dot: boolean;
}

/** A parsed pattern: the directory it starts from, and the segments below it. */
interface Pattern {
  base: string;
  segments: Segment[];
  /** The pattern ends with a separator: it matches directories only. */
  dirOnly: boolean;
}

/** Names compare without case where the file system does. */
const FOLD = process.platform === "win32";

/**
 * `op` as a pattern (segments split at `/` or `\`; `*`, `?`, `[...]` and `**` for any depth),
 * or undefined when it has no wildcard.
 *
 * @throws UsageError for a character class that can match nothing, like `[z-a]`.
 */
function parsePattern(op: string): Pattern | undefined {
  const parts = op.split(/[\\/]+/);
  const absolute = parts.length > 1 && parts[0] === "";
  if (absolute) parts.shift();
  const dirOnly = parts.length > 1 && parts[parts.length - 1] === "";
  if (dirOnly) parts.pop();
  const segments = parts.map((p) => parseSegment(p, op));
  // The leading segments without a wildcard name the one directory the walk starts from.
  let fixed = 0;
  while (fixed < segments.length && isLiteral(segments[fixed])) fixed++;
  if (fixed === segments.length) return undefined;
  const head = parts.slice(0, fixed).join("/");
  const base = absolute ? `/${head}` : head === "" ? "." : head;
  return { base, segments: segments.slice(fixed), dirOnly };
}

function isLiteral(s: Segment): boolean {
  return !s.deep && s.tokens.every((t) => t.kind === "char");
}

/** One segment of `pattern` (for messages) as tokens. */
function parseSegment(text: string, pattern: string): Segment {
  if (text === "**") return { deep: true, tokens: [], dot: false };
  const chars = [...(FOLD ? text.toLowerCase() : text)];
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "*") {
      // Runs of stars are one star: the matcher's work then stays linear.
      if (tokens[tokens.length - 1]?.kind !== "star") tokens.push({ kind: "star" });
    } else if (c === "?") tokens.push({ kind: "any" });
    else if (c === "[") {
      const set = parseSet(chars, i, pattern);
      if (set === undefined) tokens.push({ kind: "char", char: c });
      else {
        tokens.push(set.token);
        i = set.end;
      }
    } else tokens.push({ kind: "char", char: c });
  }
  return { deep: false, tokens, dot: text.startsWith(".") };
}

/**
 * The class starting at `chars[open]` (`[abc]`, `[a-z]`, `[!a-z]` or `[^a-z]`; a `]` first is
 * a member), and the index of its `]`; undefined when it is not closed (then `[` is literal).
 */
function parseSet(
  chars: string[],
  open: number,
  pattern: string,
): { token: Token; end: number } | undefined {
  let i = open + 1;
  const negated = chars[i] === "!" || chars[i] === "^";
  if (negated) i++;
  const ranges: [string, string][] = [];
  for (let first = true; i < chars.length; first = false) {
    const c = chars[i];
    if (c === "]" && !first) return { token: { kind: "set", negated, ranges }, end: i };
    if (chars[i + 1] === "-" && i + 2 < chars.length && chars[i + 2] !== "]") {
      const hi = chars[i + 2];
      // `[z-a]` matches nothing: surely a typo, and no file would ever be found.
      if (hi < c) {
        throw new UsageError(
          `invalid pattern ${sanitize(pattern)}: the range ${sanitize(`${c}-${hi}`)} runs backwards (write ${sanitize(`${hi}-${c}`)})`,
        );
      }
      ranges.push([c, hi]);
      i += 3;
    } else {
      ranges.push([c, c]);
      i++;
    }
  }
  return undefined;
}

/** True when token `t` (not a star) matches character `c`. */
function matchOne(t: Token, c: string): boolean {
  if (t.kind === "any") return true;
  if (t.kind === "char") return t.char === c;
  if (t.kind === "set") return t.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== t.negated;
  return false;
}

/**
 * True when `name` matches the segment's tokens. Greedy, going back only to the last star:
 * time at most name × tokens, where a regular expression backtracks exponentially on
 * `*a*a*a*a*b` against a long name of `a`s.
 */
function matchSegment(s: Segment, name: string): boolean {
  const chars = [...(FOLD ? name.toLowerCase() : name)];
  const tokens = s.tokens;
  let t = 0;
  let c = 0;
  let star = -1;
  let resume = 0;
  while (c < chars.length) {
    if (t < tokens.length && tokens[t].kind === "star") {
      star = t++;
      resume = c;
    } else if (t < tokens.length && matchOne(tokens[t], chars[c])) {
      t++;
      c++;
    } else if (star >= 0) {
      t = star + 1;
      c = ++resume;
    } else return false;
  }
  while (t < tokens.length && tokens[t].kind === "star") t++;
  return t === tokens.length;
}

/**
 * The positions of `segments` reachable from `states` without reading a name: past each `**`
 * (which may stand for no directory at all). Sorted, without repeats.
 */
function closure(segments: readonly Segment[], states: Iterable<number>): number[] {
  const at = new Uint8Array(segments.length + 1);
  for (const k of states) at[k] = 1;
  const out: number[] = [];
  for (let k = 0; k <= segments.length; k++) {
    if (!at[k]) continue;
    out.push(k);
    if (k < segments.length && segments[k].deep) at[k + 1] = 1;
  }
  return out;
}

function startStates(segments: readonly Segment[]): number[] {
  return closure(segments, [0]);
}

/**
 * The positions reached after entry `name` from `states`: the pattern is followed as a set of
 * positions (at most one per segment), never by trying each way `**` could split the path, so
 * `**\/**\/**` costs what `**` does.
 */
function step(
  segments: readonly Segment[],
  states: readonly number[],
  name: string,
  isDir: boolean,
): number[] {
  const next: number[] = [];
  const hidden = name.startsWith(".");
  for (const k of states) {
    if (k === segments.length) continue;
    const s = segments[k];
    // `**` goes down into directories that are not hidden (not into .git or a link).
    if (s.deep) {
      if (isDir && !hidden) next.push(k);
    } else if ((!hidden || s.dot) && matchSegment(s, name)) next.push(k + 1);
  }
  return next.length === 0 ? next : closure(segments, next);
}

/**
 * The paths below `pattern`'s directory that it names (a directory named counts as every image
 * below it), in walk order. For tests.
 *
 * @internal
 */
export async function glob(pattern: string, limits: WalkLimits = WALK_LIMITS): Promise<Input[]> {
  const w: WalkState = { limits, entries: 0, files: 0, seen: new Set(), found: 0, out: [] };
  await expandOperand(pattern, w);
  return w.out;
}
