/**
 * What a command loads. Module source survives young-generation collections, and enough of it
 * makes V8 double its new space for the rest of a run: the honest sequential path of the CLI
 * must not load what only index points or a faulty chunk need (pako, the block-boundary and
 * snapshot machinery), and the paths that do need it must still find it.
 *
 * The CLI runs from its bundle (dist/bin/, scripts/build-cli.mjs): the bundle is built again
 * in memory to learn which compiled modules each of its chunks holds.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: a build script, plain JavaScript without types
import { cliBuildOptions } from "../scripts/build-cli.mjs";
import { cliSandbox, ROOT, runCli, ZLIB } from "./helpers/cli-run.js";

const box = cliSandbox("dmg-lazy-");

/** Modules only index points and judging need. */
const EXTRAS =
  /\/(pako[^/]*|zlib-points|zlib-snapshot|zlib-boundary|native-zlib-bits|native-zlib-points|native-zlib-extras)\.m?js$/;

/** The compiled modules in each file of the CLI bundle, by the file's path from the root. */
let chunks = new Map<string, string[]>();

beforeAll(async () => {
  const { metafile } = await build({ ...cliBuildOptions(), write: false, metafile: true });
  chunks = new Map(
    Object.entries(metafile?.outputs ?? {}).map(([file, out]) => [file, Object.keys(out.inputs)]),
  );
});

/**
 * Run the CLI with a loader hook that writes every module URL it loads to a log; the modules
 * loaded, with each bundle file standing for the compiled modules it holds.
 */
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
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter((u) => u.startsWith("file:"))
    .flatMap((url) => {
      const path = relative(ROOT, fileURLToPath(url)).replaceAll("\\", "/");
      if (!path.startsWith("dist/bin/")) return [url];
      const inputs = chunks.get(path);
      // A file the build would not make: dist/bin/ is older than the compiled modules.
      expect(inputs, `${path} is not what the build makes now: run npm run build`).toBeDefined();
      return (inputs ?? []).map((m) => pathToFileURL(join(ROOT, m)).href);
    });
  return { status: r.status, out: r.out, modules };
}

describe("modules a command loads", () => {
  it("runs from the bundle", () => {
    const r = loaded(["--version"]);
    expect(r.status).toBe(0);
    expect(r.modules.some((m) => m.endsWith("/dist/cli/main.js"))).toBe(true);
  });

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
