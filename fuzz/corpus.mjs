/**
 * Rebuilding the seed corpora: the seeds of fuzz/seeds.mjs added, and each corpus minimized
 * with libFuzzer's -merge=1 (`npm run fuzz -- seeds`, `npm run fuzz -- minimize`).
 */
import { createHash } from "node:crypto";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { codecDecodes } from "./codec-harness.js";
import { BUILD, corpusDir, fileSeeds, merge, ROOT } from "./jazzer.mjs";
import { collectSeeds } from "./seeds.mjs";

const sha1 = (bytes) => createHash("sha1").update(bytes).digest("hex");

/**
 * Replace a target's corpus by the smallest set of `sources` inputs with the same coverage
 * (libFuzzer -merge=1 into an empty directory). For the whole-file targets, the files of
 * corpus/real and corpus/regressions count as already there, so only what they miss is kept.
 * A codec target whose type is not decodable yet keeps every input (all give one coverage).
 */
export async function rebuildCorpus(name, sources) {
  const dest = corpusDir(name);
  const merged = join(BUILD, "minimize", name);
  rmSync(merged, { recursive: true, force: true });
  mkdirSync(merged, { recursive: true });
  const copy = (dir, prefix = "") => {
    // Folders (a sparse bundle, a segmented set in corpus/regressions) are no single input.
    for (const f of readdirSync(dir)) {
      if (statSync(join(dir, f)).isFile()) copyFileSync(join(dir, f), join(merged, prefix + f));
    }
  };
  if (!(await codecDecodes(name))) {
    for (const dir of sources) copy(dir);
  } else {
    const preset = fileSeeds(name);
    for (const dir of preset) copy(dir, "preset-");
    await merge(name, merged, sources, join(BUILD, "minimize", `${name}.log`));
    for (const f of readdirSync(merged)) if (f.startsWith("preset-")) rmSync(join(merged, f));
  }
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dirname(dest), { recursive: true });
  renameSync(merged, dest);
  const files = readdirSync(dest);
  const bytes = files.reduce((n, f) => n + readFileSync(join(dest, f)).length, 0);
  console.log(`${relative(ROOT, dest)}: ${files.length} inputs, ${bytes} bytes`);
}

/** Write the seeds and rebuild each corpus from them and the inputs it has. */
export async function seeds() {
  const all = await collectSeeds();
  for (const [name, inputs] of Object.entries(all)) {
    const staging = join(BUILD, "seeds", name);
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    for (const bytes of inputs) writeFileSync(join(staging, sha1(bytes)), bytes);
    mkdirSync(corpusDir(name), { recursive: true });
    await rebuildCorpus(name, [staging, corpusDir(name)]);
  }
}
