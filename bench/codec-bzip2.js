/**
 * `node bench/codec-bzip2.js [--mib 64] [--runs 5] [--image PATH]`: the bzip2 codec's
 * single-thread decode speed, WebAssembly and TypeScript engines, against the system
 * `bzip2 -d` and 7-Zip in the same run.
 *
 * Makes the synthetic disk of bench/images.js (text, random and zero segments), writes it as a
 * UDBZ image whose 2048-sector (1 MiB) chunks are `bzip2 -9` streams, holds the image in memory
 * and decodes every UDBZ chunk through the codec interface (no extraction around it, no file
 * reads): with the WebAssembly block stages, then with the TypeScript ones. `bzip2 -dc`
 * decodes the chunks' payloads back to back; `7zz e -so -tdmg` (default threads and -mmt1)
 * extracts the image. `--image` keeps the image at PATH (made there when missing; --mib then
 * has no say). Child processes are timed by GNU time (wall, user + system CPU). Figures are
 * medians of --runs runs, interleaved; the machine may be shared, so CPU seconds are the
 * steadier measure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { bzip2Codec } from "../dist/codecs/bzip2/bzip2.js";
import { bzip2WasmReady } from "../dist/codecs/bzip2/wasm/bzip2-wasm.js";
import { setWasmMode } from "../dist/codecs/wasm/embedded.js";
import { UDBZ } from "../dist/format/types.js";
import { chunksOfType, decodeChunks, syntheticDisk, TOOLS, writeToolImage } from "./images.js";
import { codecBenchArgs, cpuRow, findExecutable, machineLine, timed } from "./measure.js";

const MIB = 1024 * 1024;

/** Decode every chunk with the engine `mode` ("auto": WebAssembly, "js": TypeScript). */
async function decodeWith(mode, bytes, chunks) {
  setWasmMode(mode);
  if (mode === "auto" && !(await bzip2WasmReady())) throw new Error("WebAssembly did not load");
  return decodeChunks(bzip2Codec, bytes, chunks);
}

async function main() {
  const opts = codecBenchArgs(
    process.argv.slice(2),
    "usage: node bench/codec-bzip2.js [--mib N (64)] [--runs N (5)] [--image PATH]",
  );
  if (!findExecutable("bzip2")) throw new Error("needs the system bzip2 to make the image");
  const dir = mkdtempSync(join(os.tmpdir(), "codec-bzip2-"));
  try {
    const path = opts.image ?? join(dir, "bzip2.dmg");
    const t = performance.now();
    if (!opts.image || !existsSync(path))
      await writeToolImage(syntheticDisk(opts.mib * MIB), path, TOOLS.bzip2);
    const bytes = new Uint8Array(readFileSync(path));
    const { chunks, payloads, out } = await chunksOfType(bytes, UDBZ);
    const cat = join(dir, "payloads.bz2");
    writeFileSync(cat, Buffer.concat(payloads));
    console.log(
      `${chunks.length} UDBZ chunks (${(out / 1e6).toFixed(1)} MB out, ${(bytes.length / 1e6).toFixed(1)} MB image), made in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    console.log(machineLine(opts.runs));
    const runs = { wasm: [], js: [], bzip2: [], z7: [], z7one: [] };
    // One warm-up pass each, so both are measured optimized.
    await decodeWith("auto", bytes, chunks.slice(0, 4));
    await decodeWith("js", bytes, chunks.slice(0, 4));
    const z7 = findExecutable("7zz");
    for (let r = 0; r < opts.runs; r++) {
      // Interleaved, so load on the machine hits every contender alike.
      for (const mode of ["auto", "js"]) {
        const a = await decodeWith(mode, bytes, chunks);
        if (a.bytes !== out) throw new Error(`decoded ${a.bytes} bytes, expected ${out}`);
        runs[mode === "auto" ? "wasm" : "js"].push(a);
      }
      runs.bzip2.push(timed("bzip2", ["-dc", cat]));
      if (z7) {
        runs.z7.push(timed(z7, ["e", "-so", "-tdmg", path]));
        runs.z7one.push(timed(z7, ["e", "-so", "-tdmg", "-mmt1", path]));
      }
    }
    if (process.env.BENCH_DEBUG) console.log(JSON.stringify(runs));
    cpuRow("bzip2 codec, WebAssembly", runs.wasm, out, "codec only, in-process, one thread");
    cpuRow("bzip2 codec, TypeScript", runs.js, out, "codec only, in-process, one thread");
    cpuRow("bzip2 -dc", runs.bzip2, out, "the payloads back to back, whole process");
    if (z7) {
      cpuRow("7zz e -tdmg", runs.z7, out, "whole extract, default threads");
      cpuRow("7zz e -tdmg -mmt1", runs.z7one, out, "whole extract, one thread");
    } else console.log("7zz: not installed");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
