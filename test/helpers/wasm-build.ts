/**
 * The check every WebAssembly codec's tests make: the embedded modules are exactly what their C
 * sources build (scripts/build-wasm.mjs --check), so the binaries cannot drift from the
 * reviewed C. Needs clang-14 and wasm-ld-14: fails under CI without them, skips otherwise.
 */
import { spawnSync } from "node:child_process";
import { expect } from "vitest";
import { haveTool, type SkipContext } from "./reference.js";

export function expectEmbeddedModulesBuilt(t: SkipContext): void {
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
}

/**
 * Run `decode` with a codec's TypeScript engine (`setMode("js")`), then with its WebAssembly one
 * (`setMode("auto")`, `ready()` resolving true): both results, for the caller to compare.
 */
export async function withBothEngines<T>(
  setMode: (mode: "auto" | "js") => void,
  ready: () => Promise<boolean>,
  decode: () => Promise<T>,
): Promise<{ js: T; wasm: T }> {
  setMode("js");
  const js = await decode();
  setMode("auto");
  expect(await ready()).toBe(true);
  const wasm = await decode();
  return { js, wasm };
}
