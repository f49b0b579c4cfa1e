/**
 * The library core must run in browsers and workers: nothing outside src/node and src/cli may
 * import a Node module or touch Node-only globals, and a Blob works as a source.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { openDmg } from "../src/index.js";
import { smallImage } from "./helpers/hostile.js";

const SRC = join(import.meta.dirname, "..", "src");
const NODE_ONLY = ["node", "cli"];

function coreFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return NODE_ONLY.includes(relative(SRC, p)) ? [] : coreFiles(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

describe("browser-safe core", () => {
  it("imports no Node module and uses no Node-only global", () => {
    const files = coreFiles(SRC);
    expect(files.length).toBeGreaterThan(20);
    const offenders: string[] = [];
    for (const f of files) {
      const code = readFileSync(f, "utf8")
        .replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/\/\/.*$/gm, "");
      for (const bad of [
        /from "node:/,
        /require\(/,
        /\bBuffer\b/,
        /\bprocess\./,
        /\b__dirname\b/,
      ]) {
        if (bad.test(code)) offenders.push(`${relative(SRC, f)}: ${bad}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("reads an image through a Blob", async () => {
    const { image, disk } = smallImage();
    const img = await openDmg(new Blob([new Uint8Array(image)]));
    expect(Buffer.compare(await img.read(0, img.size), disk)).toBe(0);
  });
});
