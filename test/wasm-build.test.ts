/**
 * The embedded WebAssembly modules are exactly what their C sources build (scripts/build-wasm.mjs
 * is reproducible), so the binaries shipped cannot drift from the reviewed sources; and each
 * source is one the script knows.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain JavaScript build script, without declarations
import { WASM_MODULES } from "../scripts/build-wasm.mjs";
import { haveTool } from "./helpers/reference.js";

/** Every C source under src/, as a path from the project root. */
function cSources(dir = "src"): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? cSources(join(dir, e.name))
      : e.name.endsWith(".c")
        ? [join(dir, e.name)]
        : [],
  );
}

describe("WebAssembly modules", () => {
  it("every C source is built and embedded by the build script", () => {
    const built = (WASM_MODULES as { source: string }[]).map((m) => m.source).sort();
    expect(built.length).toBeGreaterThanOrEqual(2);
    expect(built).toEqual(cSources().sort());
  });

  it("the embedded modules are exactly what their sources build", (t) => {
    if (!haveTool("clang-14") || !haveTool("wasm-ld-14")) {
      const message =
        "clang-14 and lld-14 are not installed (Debian: apt-get install -y clang-14 lld-14)";
      if (process.env.CI) throw new Error(`${message}; CI requires them`);
      t.skip(message);
    }
    const r = spawnSync(process.execPath, ["scripts/build-wasm.mjs", "--check"], {
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});
