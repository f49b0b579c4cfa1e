/**
 * The operands of `check` as users give them: invalid patterns, patterns over trees with
 * links and many levels, unreadable directories, and standard input that fails to copy, never
 * ends, or is a terminal.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { expandInputs, glob, WALK_LIMITS } from "../src/cli/inputs.js";
import { DmgError } from "../src/core/errors.js";
import { BIN, RAW, runCli } from "./helpers/cli-run.js";

const tmp = mkdtempSync(join(tmpdir(), "dmg-inputs-"));
afterAll(() => {
  // Undo chmod 000, or the removal fails for a user that is not root.
  spawnSync("chmod", ["-R", "u+rwx", tmp]);
  rmSync(tmp, { recursive: true, force: true });
});

/** A new directory under the test's temporary directory. */
function fresh(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The file names of the `OK`/`FAIL` lines of a text report, in order. */
function checked(out: string): string[] {
  return [...out.matchAll(/^(?:OK|FAIL) {1,2}(\S+)/gm)].map((m) => m[1]);
}

/**
 * tree/one.dmg, tree/a/b/two.dmg, tree/a/b/c/d/three.dmg, a non-image, some empty directories,
 * a link to `.` inside (a loop), and a link to an image file.
 */
function makeTree(root: string): void {
  for (const d of ["a/b/c/d", "a/e", "f/g/h"]) mkdirSync(join(root, d), { recursive: true });
  copyFileSync(RAW, join(root, "one.dmg"));
  copyFileSync(RAW, join(root, "a/b/two.dmg"));
  copyFileSync(RAW, join(root, "a/b/c/d/three.dmg"));
  writeFileSync(join(root, "a/notes.txt"), "not an image");
  symlinkSync(".", join(root, "a/loop"));
  symlinkSync("../one.dmg", join(root, "f/linked.dmg"));
}

describe("patterns", () => {
  it("refuses an invalid character class as a usage error, not an internal error", () => {
    const dir = fresh("class");
    for (const pattern of ["[z-a]", "sub/[z-a]*.dmg"]) {
      const r = runCli(["check", pattern], dir);
      expect(r.status).toBe(2);
      expect(r.err).toContain("runs backwards (write a-z)");
      expect(r.err).not.toContain("internal error");
    }
    // A file of that name is a file, not a pattern.
    copyFileSync(RAW, join(dir, "[z-a]"));
    expect(runCli(["check", "[z-a]"], dir).status).toBe(0);
  });

  it("checks each image once, however many ways `**` reaches it, and never through a link", () => {
    const root = fresh("tree");
    makeTree(root);
    const want = [
      "tree/a/b/c/d/three.dmg",
      "tree/a/b/two.dmg",
      "tree/f/linked.dmg",
      "tree/one.dmg",
    ];
    for (const pattern of ["tree/**", "tree/**/**/**", "tree/**/*.dmg", "tree/**/**/**/*.dmg"]) {
      const r = runCli(["check", pattern], tmp);
      expect(r.status, pattern).toBe(0);
      expect(checked(r.out), pattern).toEqual(want);
    }
    // A directory named by `*` is searched, a file named is checked; the link to `.` is not
    // followed.
    expect(checked(runCli(["check", "tree/*/*"], tmp).out)).toEqual([
      "tree/a/b/c/d/three.dmg",
      "tree/a/b/two.dmg",
      "tree/a/notes.txt",
      "tree/f/linked.dmg",
    ]);
    expect(checked(runCli(["check", "tree/a/*/*/*/*.dmg"], tmp).out)).toEqual([
      "tree/a/b/c/d/three.dmg",
    ]);
    // The same image named by two operands is checked once.
    expect(checked(runCli(["check", "tree", "tree/*.dmg"], tmp).out)).toEqual(want);
  });

  it("follows a link to a directory that the pattern names by name, as a shell does", () => {
    const root = fresh("builds");
    mkdirSync(join(root, "macos/v2"), { recursive: true });
    copyFileSync(RAW, join(root, "macos/v2/app.dmg"));
    symlinkSync("v2", join(root, "macos/latest"));
    const r = runCli(["check", "builds/*/latest/*.dmg"], tmp);
    expect(r.status).toBe(0);
    expect(checked(r.out)).toEqual(["builds/macos/latest/app.dmg"]);
    // Met by a wildcard, the same link is not followed: the image is listed once, by its path.
    expect(checked(runCli(["check", "builds/*/*/*.dmg"], tmp).out)).toEqual([
      "builds/macos/v2/app.dmg",
    ]);
  });

  it("matches without backtracking: a long name against many stars", async () => {
    const dir = fresh("stars");
    const long = "a".repeat(250);
    writeFileSync(join(dir, long), "");
    writeFileSync(join(dir, `${long}b`), "");
    // A regular expression takes ~name^9 steps here to say no; a match is found at once.
    const found = await glob(join(dir, "*a*a*a*a*a*a*a*a*a*b"));
    expect(found.map((i) => i.path)).toEqual([join(dir, `${long}b`)]);
    const none = await glob(join(dir, "*a*a*a*a*a*a*a*a*a*c"));
    expect(none.map((i) => i.error?.message)).toEqual([
      `${join(dir, "*a*a*a*a*a*a*a*a*a*c")}: no .dmg file found (pattern)`,
    ]);
    const classes = await glob(join(dir, "[!b]*[a-a][^b]"));
    expect(classes.map((i) => i.path)).toEqual([join(dir, long)]);
  });

  it("stops with IO_ERROR past the bound on directory entries looked at", async () => {
    const root = fresh("bounded");
    makeTree(root);
    const e = await glob(join(root, "**/*.dmg"), { ...WALK_LIMITS, entries: 5 }).catch((x) => x);
    expect(e).toBeInstanceOf(DmgError);
    expect((e as DmgError).code).toBe("IO_ERROR");
    expect((e as DmgError).message).toMatch(/more than 5 directory entries to look at below /);
    const many = await glob(join(root, "**/*.dmg"), { files: 2, entries: 1000 }).catch((x) => x);
    expect((many as DmgError).message).toContain("more than 2 files to check");
  });
});

describe("unreadable directories", () => {
  /**
   * Run the CLI where a directory of mode 000 cannot be read. Root reads any directory through
   * its DAC-override capabilities: as root the CLI runs without them (setpriv), which gives the
   * real EACCES. Undefined when that is impossible here.
   */
  function cliWithoutOverride(
    args: string[],
    cwd: string,
  ): { status: number | null; out: string } | undefined {
    if (process.getuid?.() !== 0) {
      const r = runCli(args, cwd);
      return { status: r.status, out: r.out };
    }
    const drop = ["--bounding-set=-dac_override,-dac_read_search"];
    if (spawnSync("setpriv", [...drop, "true"]).status !== 0) return undefined;
    const r = spawnSync("setpriv", [...drop, process.execPath, BIN, ...args], {
      cwd,
      env: { ...process.env, DMG_VALIDATE_DEBUG: "", GITHUB_ACTIONS: "" },
    });
    return { status: r.status, out: r.stdout.toString() };
  }

  it("reports a directory it cannot read as that entry's IO_ERROR and checks the rest", (ctx) => {
    const root = fresh("locked-tree");
    mkdirSync(join(root, "ok"));
    mkdirSync(join(root, "shut/in"), { recursive: true });
    copyFileSync(RAW, join(root, "ok/one.dmg"));
    copyFileSync(RAW, join(root, "shut/in/two.dmg"));
    chmodSync(join(root, "shut"), 0o000);
    const r = cliWithoutOverride(["check", "locked-tree"], tmp);
    // Root without setpriv reads any directory: there is no EACCES to see.
    if (r === undefined) return ctx.skip();
    expect(r.status).toBe(3);
    expect(checked(r.out)).toEqual(["locked-tree/ok/one.dmg", "locked-tree/shut"]);
    expect(r.out).toContain(
      "error IO_ERROR: cannot read directory locked-tree/shut: permission denied (EACCES)",
    );
    expect(r.out).toContain("OK  locked-tree/ok/one.dmg");
    // A pattern below it says why nothing was found.
    const p = cliWithoutOverride(["check", "locked-tree/shut/*/*.dmg"], tmp);
    expect(p?.status).toBe(3);
    expect(p?.out).toContain("cannot read directory locked-tree/shut: permission denied (EACCES)");
    expect(p?.out).not.toContain("no .dmg file found");
    chmodSync(join(root, "shut"), 0o755);
  });
});

describe("standard input", () => {
  /** The spool files left in `dir`. */
  const left = (dir: string) => readdirSync(dir).filter((n) => n.startsWith("dmg-validate-stdin-"));

  it("reports a write error of the copy (EFBIG under ulimit -f) as IO_ERROR, leaving no file", () => {
    const dir = fresh("spool-efbig");
    const script = `trap "" XFSZ; ulimit -f 100; head -c 300000 /dev/zero | "${process.execPath}" "${BIN}" check -`;
    const r = spawnSync("bash", ["-c", script], { env: { ...process.env, TMPDIR: dir } });
    const out = r.stdout.toString();
    expect(r.stderr.toString()).not.toContain("internal error");
    expect(r.status).toBe(3);
    expect(out).toContain("FAIL -");
    expect(out).toMatch(/IO_ERROR: cannot write the copy of standard input .*\(EFBIG\)/);
    expect(left(dir)).toEqual([]);
  });

  it("reports a temporary directory that does not exist as IO_ERROR (exit 3)", () => {
    const missing = join(tmp, "no-such-dir");
    const r = runCli(["check", "-"], tmp, { TMPDIR: missing }, new Uint8Array(1000));
    expect(r.status).toBe(3);
    expect(r.out).toContain(`cannot create a temporary copy of standard input in ${missing}`);
    expect(r.out).toContain("(ENOENT)");
  });

  it("refuses a terminal, and standard input given twice, as usage errors", async () => {
    const tty = Object.assign((async function* () {})(), { isTTY: true });
    const e = await expandInputs(["-"], true, tty, { maxStdin: 100 }).catch((x) => x);
    expect(e.name).toBe("UsageError");
    expect(e.message).toContain("standard input is a terminal; pipe an image into it");
    const twice = runCli(["check", "-", "/dev/stdin"], tmp, {}, new Uint8Array(10));
    expect(twice.status).toBe(2);
    expect(twice.err).toContain("standard input (-) can be given only once");
    // Through a real terminal, where `script` can make one.
    if (spawnSync("script", ["--version"]).status === 0) {
      const t = spawnSync(
        "script",
        ["-qec", `"${process.execPath}" "${BIN}" check -`, "/dev/null"],
        {
          timeout: 60_000,
        },
      );
      expect(t.status).toBe(2);
      expect(t.stdout.toString()).toContain("standard input is a terminal");
    }
  });

  it("maps a read error of standard input to IO_ERROR", async () => {
    const failing = (async function* () {
      yield new Uint8Array(10);
      throw Object.assign(new Error("EIO: i/o error, read"), { code: "EIO" });
    })();
    const inputs = await expandInputs(["-"], false, failing, { maxStdin: 100 });
    expect(inputs.list[0].error?.code).toBe("IO_ERROR");
    expect(inputs.list[0].error?.message).toBe(
      "cannot read standard input: input/output error (EIO)",
    );
    await inputs.close();
  });

  /** Start `check --timeout T -` with a standard input that is never written nor closed. */
  function stalled(dir: string, timeout: string) {
    const child = spawn(process.execPath, [BIN, "check", "--timeout", timeout, "-"], {
      env: { ...process.env, TMPDIR: dir, DMG_VALIDATE_DEBUG: "" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.on("exit", (code, signal) => resolve({ code, signal })),
    );
    return { child, exit, out: () => out };
  }

  async function spoolFile(dir: string): Promise<string> {
    for (let i = 0; i < 600; i++) {
      const names = left(dir);
      if (names.length > 0) return join(dir, names[0]);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("no copy of standard input appeared");
  }

  it("ends a stalled standard input with BUDGET_TIME at --timeout, leaving no file", async () => {
    const dir = fresh("spool-stall");
    const run = stalled(dir, "2s");
    const file = await spoolFile(dir);
    // One private file, no directory.
    const s = statSync(file);
    expect(s.isFile()).toBe(true);
    expect(s.mode & 0o777).toBe(0o600);
    const { code } = await run.exit;
    run.child.stdin.destroy();
    expect(code).toBe(1);
    expect(run.out()).toContain(
      "error BUDGET_TIME: standard input did not end before the --timeout",
    );
    expect(left(dir)).toEqual([]);
  });

  it("removes the copy when a signal ends the run", async () => {
    const dir = fresh("spool-signal");
    const run = stalled(dir, "10m");
    run.child.stdin.write(new Uint8Array(4096));
    await spoolFile(dir);
    run.child.kill("SIGTERM");
    const { signal } = await run.exit;
    expect(signal).toBe("SIGTERM");
    expect(left(dir)).toEqual([]);
  });
});
