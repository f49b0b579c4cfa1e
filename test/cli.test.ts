/**
 * The dmg-validate command line, run as users run it (`node bin/dmg-validate.js`): exit codes,
 * human and JSON output, extract / cat / create, and no stack trace ever reaching the user.
 * A few cases that need a fault injected run main() in-process.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseSize, UsageError } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { BIG_WORK, Progress } from "../src/cli/progress.js";
import { BUDGET_KEYS } from "../src/core/limits.js";
import { openDmg } from "../src/index.js";
import { memoryIo } from "./helpers/cli-io.js";
import { AES, BIN, ISO, RAW, ROOT, type Run, runCli, ZLIB } from "./helpers/cli-run.js";

// In-process runs see a validateDmg that fails like a bug would for a file named "boom.dmg".
vi.mock("../src/node/index.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../src/node/index.js")>();
  return {
    ...real,
    validateDmg: (source: unknown, options?: object) => {
      if (typeof source === "string" && source.endsWith("boom.dmg")) {
        throw new TypeError("cannot read properties of undefined (reading 'boom')");
      }
      return real.validateDmg(source as string, options);
    },
  };
});

const tmp = mkdtempSync(join(tmpdir(), "dmg-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Newest modification time of the .ts files under `dir`. */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith(".ts")) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

beforeAll(() => {
  // The CLI runs from dist/: build it when missing or older than the sources.
  const built = join(ROOT, "dist", "cli", "main.js");
  if (!existsSync(built) || statSync(built).mtimeMs < newest(join(ROOT, "src"))) {
    spawnSync(
      process.execPath,
      [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
      {
        cwd: ROOT,
        stdio: "ignore",
      },
    );
  }
  expect(existsSync(built)).toBe(true);
});

/** Run the CLI to completion. */
function cli(args: string[], env: Record<string, string> = {}): Run {
  return runCli(args, tmp, env);
}

/** No stack trace ("    at foo (file:line)") in `text`. */
function expectNoStack(text: string): void {
  expect(text).not.toMatch(/^\s+at .*[:(]/m);
}

/** Byte-for-byte equality (toEqual is far too slow on megabytes). */
function expectSameBytes(got: Uint8Array, want: Uint8Array): void {
  expect(got.length).toBe(want.length);
  const a = Buffer.from(got.buffer, got.byteOffset, got.length);
  const b = Buffer.from(want.buffer, want.byteOffset, want.length);
  expect(a.equals(b)).toBe(true);
}

/** A copy of `file` in the temporary directory, changed by `edit`. */
function variant(name: string, file: string, edit: (b: Uint8Array) => Uint8Array): string {
  const p = join(tmp, name);
  writeFileSync(p, edit(new Uint8Array(readFileSync(file))));
  return p;
}

/** An image of 64 MiB of zeros (big enough to fill a pipe, and to want a progress bar). */
function bigImage(): string {
  const big = join(tmp, "big.dmg");
  if (!existsSync(big)) {
    const raw = join(tmp, "big.raw");
    writeFileSync(raw, new Uint8Array(0));
    truncateSync(raw, 64 << 20);
    expect(cli(["create", raw, big]).status).toBe(0);
  }
  return big;
}

/** The virtual disk as the library reads it. */
async function diskOf(file: string, offset = 0, length?: number): Promise<Uint8Array> {
  const image = await openDmg(new Uint8Array(readFileSync(file)));
  try {
    return await image.read(offset, length ?? image.size - offset);
  } finally {
    await image.close();
  }
}

describe("check: exit code 0", () => {
  it("passes valid images with one OK line each, and a summary line for several", () => {
    const r = cli([ZLIB, RAW]);
    expect(r.status).toBe(0);
    const lines = r.out.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("2 files: 2 valid, 0 invalid");
    expect(lines[0]).toBe(`OK  ${ZLIB} (8.96 MiB, 1 table, 6 chunks, checksums ok)`);
    expect(lines[1]).toMatch(
      /^OK {2}.*compression-raw\.dmg \(5\.00 MiB, 5 tables, 7 chunks, checksums ok\)$/,
    );
    expect(r.err).toBe("");
  });

  it("accepts the explicit check command and --quick", () => {
    const r = cli(["check", "--quick", ZLIB]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/structure only/);
  });
});

describe("check: exit code 1", () => {
  it("rejects an ISO 9660 file as NOT_UDIF, with the ISO hint", () => {
    const r = cli([ISO]);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(
      /^FAIL .*brettcs_dtrx_test\.dmg\n {2}error NOT_UDIF at offset 0x[0-9a-f]+: .*ISO 9660/,
    );
  });

  it("rejects an encrypted image as ENCRYPTED", () => {
    const r = cli([AES]);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/error ENCRYPTED at offset 0x0: .*encrypted/);
  });

  it("rejects a corrupt chunk and a truncated file", () => {
    const corrupt = variant("corrupt.dmg", ZLIB, (b) => {
      for (let i = 300; i < 600; i++) b[i] ^= 0xa5;
      return b;
    });
    const truncated = variant("truncated.dmg", ZLIB, (b) => b.subarray(0, b.length - 1000));
    const r = cli(["--json", corrupt, truncated]);
    expect(r.status).toBe(1);
    const [a, b] = r.out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(a.ok).toBe(false);
    expect(a.errors.map((e: { code: string }) => e.code)).toContain("CRC_DATA_FORK");
    expect(a.errors.some((e: { code: string }) => e.code.startsWith("DECODE_"))).toBe(true);
    expect(b.ok).toBe(false);
    expect(b.errors.length).toBeGreaterThan(0);
    expectNoStack(r.err);
  });

  it("reports a budget set too low as BUDGET_* and overBudget", () => {
    const r = cli(["--max-chunks", "2", "--json", ZLIB]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.overBudget).toBe(true);
    expect(j.errors[0].code).toBe("BUDGET_CHUNKS");
    const human = cli(["--max-decompressed-bytes=1M", ZLIB]);
    expect(human.status).toBe(1);
    expect(human.out).toMatch(/^FAIL .* \(over budget\)\n {2}error BUDGET_DECOMPRESSED/);
  });
});

describe("usage errors: exit code 2", () => {
  const cases: Array<[string, string[], RegExp]> = [
    ["an unknown flag", ["--frobnicate", ZLIB], /unknown option --frobnicate/],
    ["no file", [], /no file given/],
    ["a missing operand", ["extract", ZLIB], /extract needs FILE OUT/],
    ["too many operands", ["info", ZLIB, ZLIB], /unexpected operand/],
    ["a bad number", ["--max-tables", "12Q", ZLIB], /--max-tables needs a non-negative number/],
    ["a flag without its value", [ZLIB, "--max-tables"], /--max-tables needs a value/],
    ["a flag of another command", ["info", "--quick", ZLIB], /--quick does not apply to info/],
    ["--fsync where nothing is written", ["check", "--fsync", ZLIB], /--fsync does not apply/],
    ["a bad choice", ["create", ZLIB, "x", "--codec", "lz4"], /--codec must be one of zlib, raw/],
    [
      "a mistyped command",
      ["extarct", ZLIB, "out"],
      /unknown command extarct \(did you mean extract\?\)/,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(`for ${what}`, () => {
      const r = cli(args);
      expect(r.status).toBe(2);
      expect(r.out).toBe("");
      const lines = r.err.trim().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(message);
      expect(lines[0]).toMatch(/^dmg-validate: /);
      expect(lines[1]).toBe("see dmg-validate --help");
    });
  }
});

describe("I/O errors: exit code 3", () => {
  it("for a missing file and a directory holding no image", () => {
    const missing = join(tmp, "missing.dmg");
    // Its own empty directory: other tests leave images in `tmp`, which check would expand.
    const empty = mkdtempSync(join(tmp, "empty-"));
    const r = cli([missing, empty]);
    expect(r.status).toBe(3);
    expect(r.out).toContain(
      `FAIL ${missing}\n  error IO_ERROR: cannot open ${missing}: no such file or directory`,
    );
    expect(r.out).toContain(`error IO_ERROR: ${empty}: no .dmg file found (directory)`);
    expectNoStack(r.err);
  });

  it("for info on a directory", () => {
    const r = cli(["info", tmp]);
    expect(r.status).toBe(3);
    expect(r.err).toMatch(/IO_ERROR: .*is a directory/);
  });

  it("for info on a missing file", () => {
    const r = cli(["info", join(tmp, "missing.dmg")]);
    expect(r.status).toBe(3);
    expect(r.err).toMatch(/^dmg-validate: .*missing\.dmg: IO_ERROR: cannot open/);
  });

  it("the worst code wins over several files: 3 over 1 over 0", () => {
    expect(cli([ZLIB, ISO]).status).toBe(1);
    expect(cli([ZLIB, ISO, join(tmp, "missing.dmg")]).status).toBe(3);
    expect(cli([join(tmp, "missing.dmg"), ISO]).status).toBe(3);
  });
});

describe("--json", () => {
  it("prints one object per file per line, with the documented keys", () => {
    const missing = join(tmp, "missing.dmg");
    const r = cli(["--json", ZLIB, ISO, missing]);
    expect(r.status).toBe(3);
    const lines = r.out.trim().split("\n");
    expect(lines).toHaveLength(3);
    const [ok, iso, gone] = lines.map((l) => JSON.parse(l));
    for (const j of [ok, iso, gone]) {
      expect(Object.keys(j)).toEqual(
        expect.arrayContaining([
          "file",
          "ok",
          "overBudget",
          "errors",
          "warnings",
          "summary",
          "checksums",
          "cost",
        ]),
      );
    }
    expect(ok).toMatchObject({ file: ZLIB, ok: true, overBudget: false, errors: [] });
    expect(ok.summary.size).toBe(9_400_320);
    expect(ok.checksums).toEqual({ dataFork: "ok", tables: ["ok"], master: "ok" });
    expect(ok.cost.chunksDecoded).toBe(4);
    expect(iso.ok).toBe(false);
    expect(iso.errors[0]).toEqual({
      code: "NOT_UDIF",
      message: expect.stringMatching(/ISO 9660/),
      offset: expect.any(Number),
    });
    expect(gone.errors[0].code).toBe("IO_ERROR");
    expect(r.err).toBe("");
  });

  it("info --json --chunks gives the trailer, tables and every chunk on one line", () => {
    const r = cli(["info", "--json", "--chunks", ZLIB]);
    expect(r.status).toBe(0);
    expect(r.out.trim().split("\n")).toHaveLength(1);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({
      file: ZLIB,
      ok: true,
      size: 9_400_320,
      layout: "xml",
      chunkCount: 6,
    });
    expect(j.koly.dataForkChecksum).toEqual({ type: 2, bits: 32, value: "8f0334a9" });
    expect(j.tables[0].name).toBe("whole disk (Apple_HFS : 0)");
    expect(j.chunks).toHaveLength(6);
    expect(j.chunks[0]).toMatchObject({ index: 0, table: 0, typeName: "zlib", sector: 0 });
  });

  it("info --json of a bad file is ok false with the error", () => {
    const r = cli(["info", "--json", AES]);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ file: AES, ok: false, errors: [{ code: "ENCRYPTED", offset: 0 }] });
  });
});

describe("info", () => {
  it("prints the trailer, layout, size, tables and warnings", () => {
    const r = cli(["info", ZLIB]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/virtual size +9400320 bytes \(8\.96 MiB\), 18360 sectors/);
    expect(r.out).toMatch(/layout +xml/);
    expect(r.out).toMatch(/data fork +0x0, 14241 bytes, checksum crc32 0x8f0334a9/);
    expect(r.out).toMatch(/0: whole disk \(Apple_HFS : 0\)\n +first sector 0, 18360 sectors/);
    expect(r.out).toMatch(/entries: zlib 4, ignore 2, terminator 1/);
    expect(r.out).toMatch(/warnings +none/);
    expect(r.out).not.toMatch(/ index table entry/);
  });

  it("--chunks adds the chunk table", () => {
    const r = cli(["info", "--chunks", ZLIB]);
    expect(r.out).toMatch(/ index table entry/);
    expect(r.out).toMatch(/^ +0 +0 +0 zlib +0 +2048 +0x0 +\d+$/m);
  });

  it("reports image errors as FILE: CODE at offset: message, exit 1", () => {
    const r = cli(["info", ISO]);
    expect(r.status).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(
      /^dmg-validate: .*brettcs_dtrx_test\.dmg: NOT_UDIF at offset 0x[0-9a-f]+: not a UDIF image/,
    );
  });
});

describe("extract", () => {
  it("writes exactly the virtual disk to OUT", async () => {
    const out = join(tmp, "disk.img");
    const r = cli(["extract", ZLIB, out]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/extracted .*: 9400320 bytes/);
    expectSameBytes(readFileSync(out), await diskOf(ZLIB));
    expect(readdirSync(tmp).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("--fsync writes the same disk, flushed before the rename", async () => {
    const out = join(tmp, "synced.img");
    const r = cli(["extract", "--fsync", ZLIB, out]);
    expect(r.status).toBe(0);
    expectSameBytes(readFileSync(out), await diskOf(ZLIB));
    expect(readdirSync(tmp).filter((n) => n.endsWith(".tmp"))).toEqual([]);
  });

  it("- writes the disk to standard output", async () => {
    const r = cli(["extract", RAW, "-"]);
    expect(r.status).toBe(0);
    expectSameBytes(r.stdout, await diskOf(RAW));
    expect(r.err).toBe("");
  });

  it("--json reports the output and byte count", () => {
    const out = join(tmp, "disk-json.img");
    const r = cli(["extract", "--json", RAW, out]);
    expect(JSON.parse(r.out)).toEqual({ file: RAW, ok: true, output: out, bytes: 5_242_880 });
  });

  it("leaves nothing behind when the output directory is missing (exit 3)", () => {
    const out = join(tmp, "no-such-dir", "disk.img");
    const r = cli(["extract", ZLIB, out]);
    expect(r.status).toBe(3);
    expect(r.err).toMatch(/IO_ERROR: cannot create .*no-such-dir/);
    expect(existsSync(join(tmp, "no-such-dir"))).toBe(false);
  });

  it("leaves no output and no temporary file when a chunk is corrupt (exit 1)", () => {
    const corrupt = variant("corrupt-x.dmg", ZLIB, (b) => {
      for (let i = 300; i < 600; i++) b[i] ^= 0xa5;
      return b;
    });
    const dir = join(tmp, "x-out");
    mkdirSync(dir);
    const r = cli(["extract", corrupt, join(dir, "disk.img")]);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/^dmg-validate: .*corrupt-x\.dmg: DECODE_\w+ at offset 0x/);
    expect(readdirSync(dir)).toEqual([]);
    expectNoStack(r.err);
  });

  it("stops quietly when the reader of standard output goes away (| head -c 10)", async () => {
    const big = bigImage();
    const child: ChildProcess = spawn(process.execPath, [BIN, "extract", big, "-"], {
      cwd: tmp,
      env: { ...process.env, DMG_VALIDATE_DEBUG: "" },
    });
    let err = "";
    child.stderr?.on("data", (d) => {
      err += d;
    });
    const got = await new Promise<Buffer>((resolve) => {
      child.stdout?.once("data", (d: Buffer) => {
        child.stdout?.destroy(); // like head -c 10 exiting
        resolve(d.subarray(0, 10));
      });
    });
    const status = await new Promise<number | null>((resolve) =>
      child.on("close", (code) => resolve(code)),
    );
    expect(got).toEqual(Buffer.alloc(10));
    expect(status).toBe(0);
    expect(err).toBe("");
  });
});

describe("cat", () => {
  it("writes the requested range", async () => {
    const r = cli(["cat", ZLIB, "--offset", "1K", "--length", "0x10"]);
    expect(r.status).toBe(0);
    expectSameBytes(r.stdout, await diskOf(ZLIB, 1024, 16));
    expect(r.stdout.subarray(0, 2).toString("latin1")).toBe("H+"); // the HFS+ volume header
  });

  it("crosses chunk boundaries, and defaults to the rest of the disk", async () => {
    const across = cli(["cat", ZLIB, "--offset", String(2048 * 512 - 100), "--length", "1M"]);
    expectSameBytes(across.stdout, await diskOf(ZLIB, 2048 * 512 - 100, 1 << 20));
    const tail = cli(["cat", ZLIB, "--offset=9000000"]);
    expect(tail.stdout.length).toBe(400_320);
    expectSameBytes(tail.stdout, await diskOf(ZLIB, 9_000_000));
  });

  it("refuses a range past the end with READ_RANGE, exit 1", () => {
    const r = cli(["cat", ZLIB, "--offset", "9400000", "--length", "1K"]);
    expect(r.status).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.err).toMatch(/: READ_RANGE: /);
  });
});

describe("create", () => {
  it("round-trips: create, then check and extract give the same disk", async () => {
    const disk = join(tmp, "rt.img");
    writeFileSync(disk, await diskOf(ZLIB));
    const variants: string[][] = [
      [],
      ["--codec", "raw", "--layout", "both", "--chunk-sectors", "100"],
      ["--layout", "rsrc", "--level", "9", "--zero", "ignore"],
      ["--no-checksums", "--zero", "none", "--level", "-1"],
    ];
    for (const [i, flags] of variants.entries()) {
      const out = join(tmp, `rt-${i}.dmg`);
      const made = cli(["create", disk, out, ...flags]);
      expect(made.status).toBe(0);
      expect(made.out).toMatch(/^created .* 18360 sectors, 1 table, \d+ chunks/);
      const check = cli(["--json", out]);
      expect(check.status).toBe(0);
      const j = JSON.parse(check.out);
      expect(j.ok).toBe(true);
      if (flags.includes("--no-checksums")) expect(j.checksums.master).toBe("absent");
      else expect(j.checksums).toEqual({ dataFork: "ok", tables: ["ok"], master: "ok" });
      if (flags.includes("both")) expect(j.summary.layout).toBe("both");
      expectSameBytes(cli(["extract", out, "-"]).stdout, readFileSync(disk));
    }
  });

  it("--json gives the summary; a missing input is exit 3 and leaves no output", () => {
    const disk = join(tmp, "small.img");
    writeFileSync(disk, new Uint8Array(5000).fill(1));
    const r = cli(["create", "--json", disk, join(tmp, "small.dmg")]);
    expect(JSON.parse(r.out)).toMatchObject({
      file: disk,
      ok: true,
      sectors: 10,
      tables: 1,
      chunks: 1,
    });
    const gone = cli(["create", join(tmp, "nope.img"), join(tmp, "nope.dmg")]);
    expect(gone.status).toBe(3);
    expect(existsSync(join(tmp, "nope.dmg"))).toBe(false);
  });
});

describe("help and version", () => {
  it("--help lists every budget flag with its default", () => {
    const r = cli(["--help"]);
    expect(r.status).toBe(0);
    for (const { flag } of BUDGET_KEYS)
      expect(r.out).toMatch(new RegExp(`${flag} N .*\\(default \\w+\\)`));
    expect(r.out).toMatch(/--max-working-memory N .*\(default 32M\)/);
    expect(r.out).toMatch(/--max-tables N .*\(default 1024\)/);
    expect(cli(["-h"]).out).toBe(r.out);
  });

  it("--version prints the package version", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    expect(cli(["--version"]).out).toBe(`dmg-validate ${pkg.version}\n`);
  });

  it("budget flags take every number syntax", () => {
    expect(parseSize("4096", "--x")).toBe(4096);
    expect(parseSize("64K", "--x")).toBe(65536);
    expect(parseSize("32m", "--x")).toBe(32 << 20);
    expect(parseSize("1G", "--x")).toBe(1 << 30);
    expect(parseSize("0x1000", "--x")).toBe(4096);
    for (const bad of ["", "-1", "1.5M", "12Q", "0x", "1e3", "99999999999999999999"]) {
      expect(() => parseSize(bad, "--x")).toThrow(UsageError);
    }
  });
});

describe("internal errors: exit code 70", () => {
  it("prints a one-line report and how to get the stack, never the stack itself", async () => {
    const boom = join(tmp, "boom.dmg");
    copyFileSync(ZLIB, boom);
    const io = memoryIo();
    expect(await main([ZLIB, boom, ISO], io)).toBe(70);
    expect(io.err()).toMatch(
      /^dmg-validate: internal error: cannot read properties of undefined \(reading 'boom'\)\n/,
    );
    expect(io.err()).toMatch(/DMG_VALIDATE_DEBUG=1/);
    expect(io.err()).toMatch(/file an issue/);
    expectNoStack(io.err());
    // The other files were still checked.
    expect(io.out()).toMatch(/^OK {2}.*\n(.|\n)*FAIL .*brettcs/);
  });

  it("shows the stack when DMG_VALIDATE_DEBUG is set; JSON mode gets an ok false line", async () => {
    const io = memoryIo({ DMG_VALIDATE_DEBUG: "1" });
    expect(await main(["--json", join(tmp, "boom.dmg")], io)).toBe(70);
    expect(io.err()).toMatch(/TypeError: cannot read properties/);
    expect(io.err()).toMatch(/^\s+at /m);
    expect(JSON.parse(io.out())).toMatchObject({ ok: false, errors: [{ code: "INTERNAL_ERROR" }] });
  });
});

describe("progress", () => {
  it("draws on a terminal only for big work, and erases itself", () => {
    const io = memoryIo({}, true);
    const small = new Progress(io.stderr, "small.dmg", true);
    small.update(1, 1000);
    expect(io.err()).toBe("");
    const big = new Progress(io.stderr, "big.dmg", true);
    big.update(BIG_WORK / 2, BIG_WORK);
    expect(io.err()).toMatch(/^\rbig\.dmg \[#+\.+\] +50% 32\.0 MiB \/ 64\.0 MiB/);
    big.clear();
    expect(io.err().endsWith("\r\x1b[K")).toBe(true);
    const off = memoryIo({}, true);
    new Progress(off.stderr, "big.dmg", false).update(BIG_WORK / 2, BIG_WORK);
    expect(off.err()).toBe("");
  });

  it("never reaches a non-terminal stderr", () => {
    const r = cli(["extract", bigImage(), join(tmp, "big.img")]);
    expect(r.status).toBe(0);
    expect(r.err).toBe("");
  });
});
