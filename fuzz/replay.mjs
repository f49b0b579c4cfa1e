/**
 * Replays every corpus through the fuzz targets, without the fuzzer: each target's corpus
 * (corpus/fuzz/<target>/) through its layer function, and the whole files (corpus/real,
 * corpus/regressions, corpus/fuzz/trailer and pipeline) through the trailer search and the
 * public API. `npm run coverage` runs it under c8. Exit status 1 when an input makes a target
 * throw (a finding).
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { corpusDir, fileSeeds, ROOT, TARGETS, targetFile } from "./jazzer.mjs";

function inputs(dir) {
  return readdirSync(dir)
    .filter((f) => !f.endsWith(".md") && !f.startsWith("."))
    .map((f) => join(dir, f))
    .filter((p) => statSync(p).isFile());
}

let failures = 0;
for (const name of Object.keys(TARGETS)) {
  const { fuzz } = await import(targetFile(name));
  const dirs = [corpusDir(name), ...fileSeeds(name)];
  let n = 0;
  for (const file of dirs.flatMap(inputs)) {
    n++;
    try {
      await fuzz(new Uint8Array(readFileSync(file)));
    } catch (e) {
      failures++;
      console.error(`${name}: ${relative(ROOT, file)}: ${e?.stack ?? e}`);
    }
  }
  console.error(`${name}: replayed ${n} inputs`);
}
if (failures > 0) {
  console.error(`${failures} input(s) made a target throw`);
  process.exitCode = 1;
}
