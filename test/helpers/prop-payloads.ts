/**
 * Payloads for the property suites: content made from a short recipe (so counterexamples print
 * small), a pool of bzip2 payloads compressed once per run by the system `bzip2`, and
 * decompression bombs of each codec (ATTACKS.md E25-E27), each made once and cached.
 */
import { spawnSync } from "node:child_process";
import { deflateSync } from "node:zlib";
import { SECTOR_SIZE } from "../../src/format/types.js";
import { adcLiteral, adcMatch } from "./adc-encode.js";
import { pattern } from "./hostile.js";
import { haveTool } from "./reference.js";

/** What a stretch of content holds. */
export type PartKind = "zeros" | "text" | "random" | "repeat";

/** Content as a seed and weighted parts, filled deterministically to any length. */
export interface ContentRecipe {
  seed: number;
  parts: Array<[PartKind, number]>;
}

/** Next state of a 32-bit xorshift generator (never 0 for a non-zero state). */
function xorshift(x: number): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/** `n` bytes of the content a recipe describes: its parts in order, sized by weight. */
export function fillContent(c: ContentRecipe, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const total = c.parts.reduce((s, [, w]) => s + w, 0);
  let x = c.seed >>> 0 || 1;
  let pos = 0;
  c.parts.forEach(([kind, weight], i) => {
    const len = i === c.parts.length - 1 ? n - pos : Math.floor((n * weight) / total);
    const part = out.subarray(pos, pos + len);
    if (kind === "text") part.set(pattern(len, x));
    else if (kind === "random" || kind === "repeat") {
      const period = kind === "repeat" ? 1 + (x % 13) : len;
      for (let k = 0; k < Math.min(period, len); k++) {
        x = xorshift(x);
        part[k] = x & 0xff;
      }
      for (let k = period; k < len; k++) part[k] = part[k - period];
    }
    x = xorshift(x + i + 1);
    pos += len;
  });
  return out;
}

/** Compress with the system bzip2 at `level` (1-9). */
export function bzip2(data: Uint8Array, level: number): Uint8Array {
  const r = spawnSync("bzip2", ["-c", `-${level}`], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`bzip2 failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** True when bzip2 payloads can be made here; under CI a missing bzip2 is an error. */
export function haveBzip2(): boolean {
  if (haveTool("bzip2")) return true;
  if (process.env.CI) throw new Error("the bzip2 tool is not installed; CI requires it");
  console.warn("SKIPPED: bzip2 chunks (the bzip2 tool is not installed)");
  return false;
}

/** One precompressed bzip2 payload: its sectors, content and compressed bytes. */
export interface PoolEntry {
  sectors: number;
  content: ContentRecipe;
  payload: Uint8Array;
}

const POOL_SECTORS = [1, 1, 2, 3, 4, 5, 7, 8, 11, 16, 17, 24, 31, 32, 40, 48, 57, 63, 64, 64];
const POOL_PARTS: Array<Array<[PartKind, number]>> = [
  [["text", 1]],
  [["random", 1]],
  [["zeros", 1]],
  [["repeat", 3]],
  [
    ["zeros", 2],
    ["text", 3],
    ["random", 1],
  ],
  [
    ["random", 1],
    ["zeros", 5],
  ],
];

/** The fixed recipes of the bzip2 pool (sectors and content), known before compressing. */
export const BZIP2_POOL_RECIPES: ReadonlyArray<{ sectors: number; content: ContentRecipe }> =
  POOL_SECTORS.map((sectors, i) => ({
    sectors,
    content: { seed: 0x1000 + i, parts: POOL_PARTS[i % POOL_PARTS.length] },
  }));

let pool: PoolEntry[] | undefined;

/** The bzip2 pool, compressed on first use (levels 1-9 in turn). */
export function bzip2Pool(): PoolEntry[] {
  pool ??= BZIP2_POOL_RECIPES.map((r, i) => ({
    ...r,
    payload: bzip2(fillContent(r.content, r.sectors * SECTOR_SIZE), 1 + (i % 9)),
  }));
  return pool;
}

const bombs = new Map<string, Uint8Array>();

function cached(key: string, make: () => Uint8Array): Uint8Array {
  let b = bombs.get(key);
  if (b === undefined) {
    b = make();
    bombs.set(key, b);
  }
  return b;
}

/** E25: zlib of `mib` MiB of zeros (about 1 KiB of stream per MiB). */
export function zlibBomb(mib: number): Uint8Array {
  return cached(`zlib${mib}`, () => new Uint8Array(deflateSync(new Uint8Array(mib << 20))));
}

/** E26: bzip2 of `mib` MiB of zeros (runs: under 100 bytes for 64 MiB). */
export function bzip2Bomb(mib: number): Uint8Array {
  return cached(`bzip2${mib}`, () => bzip2(new Uint8Array(mib << 20), 9));
}

/** E27: ADC of one literal zero and `matches` 67-byte matches at distance 1 (22x expansion). */
export function adcBomb(matches: number): Uint8Array {
  return cached(`adc${matches}`, () => {
    const op = adcMatch(67, 1);
    const out = new Uint8Array(2 + op.length * matches);
    out.set(adcLiteral([0]), 0);
    for (let i = 0; i < matches; i++) out.set(op, 2 + i * op.length);
    return out;
  });
}

/** E27: an ADC stream whose first opcode copies from before the start of the output. */
export function adcBackrefBeforeStart(distance: number, length: number): Uint8Array {
  return Uint8Array.from([...adcLiteral([0x41]), ...adcMatch(length, distance, true)]);
}
