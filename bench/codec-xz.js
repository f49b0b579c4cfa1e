/**
 * `node bench/codec-xz.js [--mib 64] [--runs 5] [--baseline OLD/dist] [--image PATH] [--extract]`:
 * the XZ codec's single-thread decode speed (with its WebAssembly LZMA decoder, and with the
 * TypeScript one it falls back to), against the system `xz -d` and 7-Zip in the same run.
 *
 * Makes the synthetic disk of bench/images.js (text, random and zero segments), writes it as a
 * ULMO image whose 2048-sector (1 MiB) chunks are `xz` streams at the default preset, holds the
 * image in memory and decodes every ULMO chunk through the codec interface (no extraction
 * around it, no file reads): MB/s of output, wall and CPU seconds. `--baseline` names the dist/
 * of an older build whose codec is measured in the same run, runs interleaved with ours.
 * `xz -dc -T1` decodes the chunks' payloads back to back; `7zz e -so -tdmg` (default threads
 * and -mmt1) extracts the image; with `--extract`, `dmg-validate extract` (default threads)
 * too. `--image` keeps the image at PATH (made there when missing; --mib then has no say) so
 * later runs skip the slow compression. Child processes are timed by GNU time (wall, user +
 * system CPU). Figures are medians of --runs runs; the machine may be shared, so CPU seconds
 * are the steadier measure.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ULMO } from "../dist/format/types.js";
import { chunksOfType, decodeChunks, syntheticDisk, TOOLS, writeToolImage } from "./images.js";
import { codecBenchArgs, findExecutable, machineLine, cpuRow as row, timed } from "./measure.js";

const MIB = 1024 * 1024;
const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
const CLI = fileURLToPath(new URL("../bin/dmg-validate.js", import.meta.url));

/** A module of the build whose dist/ is `dist`. */
const from = (dist, p) => import(pathToFileURL(join(dist, p)).href);

async function main() {
  const opts = codecBenchArgs(
    process.argv.slice(2),
    "usage: node bench/codec-xz.js [--mib N (64)] [--runs N (5)] [--baseline OLD/dist] [--image PATH] [--extract]",
    ["--baseline", "--extract"],
  );
  if (!findExecutable("xz")) throw new Error("needs the system xz to make the image");
  const dir = mkdtempSync(join(os.tmpdir(), "codec-xz-"));
  try {
    const path = opts.image ?? join(dir, "xz.dmg");
    const t = performance.now();
    if (!opts.image || !existsSync(path))
      await writeToolImage(syntheticDisk(opts.mib * MIB), path, TOOLS.xz);
    const bytes = new Uint8Array(readFileSync(path));
    const ours = (await from(DIST, "codecs/xz/xz.js")).xzCodec;
    const { chunks, payloads, out } = await chunksOfType(bytes, ULMO);
    const cat = join(dir, "payloads.xz");
    writeFileSync(cat, Buffer.concat(payloads));
    console.log(
      `${opts.mib} MiB synthetic disk, ${chunks.length} ULMO chunks (${(out / 1e6).toFixed(1)} MB out, ${(bytes.length / 1e6).toFixed(1)} MB image), made in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    console.log(machineLine(opts.runs));

    const base = opts.baseline ? (await from(opts.baseline, "codecs/xz/xz.js")).xzCodec : undefined;
    const { setWasmMode } = await from(DIST, "codecs/wasm/embedded.js");
    /** Our codec with the TypeScript LZMA decoder (where WebAssembly is refused). */
    const tsOnly = async () => {
      setWasmMode("js");
      try {
        return await decodeChunks(ours, bytes, chunks);
      } finally {
        setWasmMode("auto");
      }
    };
    const runs = { ours: [], ts: [], base: [], xz: [], z7: [], z7one: [], extract: [] };
    // One warm-up pass each, so both are measured optimized.
    await decodeChunks(ours, bytes, chunks.slice(0, 4));
    if (base) await decodeChunks(base, bytes, chunks.slice(0, 4));
    const z7 = findExecutable("7zz");
    for (let r = 0; r < opts.runs; r++) {
      // Interleaved, so load on the machine hits every contender alike.
      const a = await decodeChunks(ours, bytes, chunks);
      if (a.bytes !== out) throw new Error(`decoded ${a.bytes} bytes, expected ${out}`);
      runs.ours.push(a);
      runs.ts.push(await tsOnly());
      if (base) runs.base.push(await decodeChunks(base, bytes, chunks));
      runs.xz.push(timed("xz", ["-dc", "-T1", cat]));
      if (z7) {
        runs.z7.push(timed(z7, ["e", "-so", "-tdmg", path]));
        runs.z7one.push(timed(z7, ["e", "-so", "-tdmg", "-mmt1", path]));
      }
      if (opts.extract) runs.extract.push(timed(process.execPath, [CLI, "extract", path, "-"]));
    }
    row("dmg-validate xz codec", runs.ours, out, "codec only, in-process, one thread");
    row("  TypeScript LZMA decoder", runs.ts, out, "the same, where WebAssembly is refused");
    if (base) row("baseline xz codec", runs.base, out, `codec only, ${opts.baseline}`);
    row("xz -dc -T1", runs.xz, out, "the payloads back to back, whole process");
    if (z7) {
      row("7zz e -tdmg", runs.z7, out, "whole extract, default threads");
      row("7zz e -tdmg -mmt1", runs.z7one, out, "whole extract, one thread");
    } else console.log("7zz: not installed");
    if (opts.extract)
      row("dmg-validate extract", runs.extract, out, "whole extract, default threads");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
