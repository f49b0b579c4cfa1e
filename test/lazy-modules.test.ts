/**
 * What a command loads. Module source survives young-generation collections, and enough of it
 * makes V8 double its new space for the rest of a run: the honest sequential path of the CLI
 * must not load what only index points or a faulty chunk need (pako, the block-boundary and
 * snapshot machinery), and the paths that do need it must still find it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { cliSandbox, runCli, ZLIB } from "./helpers/cli-run.js";

const box = cliSandbox("dmg-lazy-");

/** Modules only index points and judging need. */
const EXTRAS =
  /\/(pako[^/]*|zlib-points|zlib-snapshot|zlib-boundary|native-zlib-bits|native-zlib-points|native-zlib-extras)\.m?js$/;

/** Run the CLI with a loader hook that writes every module URL it loads to `log`. */
function loaded(args: string[]): { status: number | null; out: string; modules: string[] } {
  const log = join(box.tmp, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const hook = join(box.tmp, "hook.mjs");
  writeFileSync(
    hook,
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(log)}, url + "\\n");
  return next(url, context);
}`,
  );
  const register = join(box.tmp, "register.mjs");
  writeFileSync(
    register,
    `import { register } from "node:module";
register(${JSON.stringify(pathToFileURL(hook).href)});`,
  );
  writeFileSync(log, "");
  const r = runCli(args, box.tmp, { NODE_OPTIONS: `--import=${pathToFileURL(register).href}` });
  return { status: r.status, out: r.out, modules: readFileSync(log, "utf8").split("\n") };
}

describe("modules a command loads", () => {
  it("extracting an honest zlib image loads no pako and no index-point code", () => {
    const r = loaded(["extract", "--threads", "1", ZLIB, join(box.tmp, "disk.img")]);
    expect(r.status).toBe(0);
    expect(r.modules.some((m) => m.endsWith("/native-zlib-codec.js"))).toBe(true);
    expect(r.modules.filter((m) => EXTRAS.test(m))).toEqual([]);
  });

  it("a chunk native zlib finds fault with still gets pako's verdict", () => {
    const bytes = new Uint8Array(readFileSync(ZLIB));
    bytes[100] ^= 0xff;
    const bad = box.file("bad.dmg", bytes);
    const r = loaded(["check", "--threads", "1", bad]);
    expect(r.status).toBe(1);
    expect(r.out).toContain("DECODE_CORRUPT");
    expect(r.modules.some((m) => m.endsWith("/native-zlib-extras.js"))).toBe(true);
  });
});
