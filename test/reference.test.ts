/**
 * Differential tests: the bytes this project reads out of an image equal those of the reference
 * readers that accept it (QEMU: zlib/raw/zero/ignore; 7-Zip: every codec; dmg2img: zlib, bzip2,
 * raw). Under CI a missing reader fails these tests instead of skipping them.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UDBZ, UDCO, UDIG, UDRW, UDZE } from "../src/format/types.js";
import { openDmg } from "../src/index.js";
import { buildDmg, type ChunkModel, type ImageModel } from "../src/write/model.js";
import { type WriteOptions, writeDmgBytes } from "../src/write/writer.js";
import { adcEncode } from "./helpers/adc-encode.js";
import { REAL, realExpectations } from "./helpers/corpus.js";
import { pattern } from "./helpers/hostile.js";
import { dmg2img, qemuConvert, requireTool, sevenZipExtract } from "./helpers/reference.js";

/** Byte equality without vitest's element-by-element diffing (minutes on megabytes). */
function same(actual: Uint8Array, expected: Uint8Array | undefined, what: string): void {
  expect(expected, `${what} produced no disk`).toBeDefined();
  expect(actual.length, `${what}: length`).toBe(expected!.length);
  expect(Buffer.compare(actual, expected!), `${what}: bytes differ`).toBe(0);
}

async function ours(image: Uint8Array): Promise<Uint8Array> {
  const img = await openDmg(image);
  return img.read(0, img.size);
}

/** Mixed content: text, random, zeros, in sizes that do not align with chunks. */
function mixed(n: number, seed: number): Uint8Array {
  const out = pattern(n, seed);
  let x = seed;
  for (let i = n / 3; i < n / 2; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[Math.floor(i)] = x >>> 24;
  }
  out.fill(0, Math.floor(n / 2), Math.floor(n / 2) + 3 * 4096);
  return out;
}

const INPUT = mixed(200 * 1024 + 77, 7);

const writerCases: Array<{ name: string; options: WriteOptions; qemu: boolean; dmg2img: boolean }> =
  [
    { name: "zlib 2048 xml", options: {}, qemu: true, dmg2img: true },
    {
      name: "zlib 7 rsrc",
      options: { chunkSectors: 7, layout: "rsrc" },
      qemu: true,
      dmg2img: true,
    },
    {
      name: "zlib 1 both",
      options: { chunkSectors: 1, layout: "both" },
      qemu: true,
      dmg2img: true,
    },
    { name: "raw 7 xml", options: { codec: "raw", chunkSectors: 7 }, qemu: true, dmg2img: true },
    {
      name: "zlib ignore",
      options: { chunkSectors: 8, zeroChunks: "ignore" },
      qemu: true,
      dmg2img: true,
    },
    {
      name: "zlib comments",
      options: { chunkSectors: 16, comments: true },
      qemu: true,
      dmg2img: true,
    },
    {
      name: "zlib partitions with data offsets",
      options: {
        chunkSectors: 32,
        tableDataOffsets: true,
        partitions: [
          { name: "MBR : 0", sectors: 1 },
          { name: "FAT : 1", sectors: 150 },
          { name: "free : 2", sectors: -1 },
        ],
      },
      qemu: true,
      // dmg2img ignores the mish data offset and reads the wrong bytes.
      dmg2img: false,
    },
  ];

function compressWith(cmd: string, args: string[], data: Uint8Array): Uint8Array {
  const r = spawnSync(cmd, args, { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/** An image with every chunk type the writer cannot encode: bzip2 and ADC, with raw and zeros. */
function everyCodecModel(): { model: ImageModel; disk: Uint8Array } {
  const parts: Array<{ chunk: ChunkModel; data: Uint8Array }> = [];
  const a = mixed(8 * 512, 1);
  parts.push({
    chunk: { type: UDBZ, sectors: 8, payload: compressWith("bzip2", ["-c", "-9"], a) },
    data: a,
  });
  const b = mixed(6 * 512, 2);
  parts.push({ chunk: { type: UDCO, sectors: 6, payload: adcEncode(b) }, data: b });
  parts.push({ chunk: { type: UDZE, sectors: 3 }, data: new Uint8Array(3 * 512) });
  const c = mixed(2 * 512, 3);
  parts.push({ chunk: { type: UDRW, sectors: 2, payload: c }, data: c });
  parts.push({ chunk: { type: UDIG, sectors: 2 }, data: new Uint8Array(2 * 512) });
  const disk = new Uint8Array(parts.reduce((s, p) => s + p.data.length, 0));
  let pos = 0;
  for (const p of parts) {
    disk.set(p.data, pos);
    pos += p.data.length;
  }
  const decoded = disk.slice();
  return {
    model: { tables: [{ name: "every codec", chunks: parts.map((p) => p.chunk), decoded }] },
    disk,
  };
}

describe("reader vs reference readers on writer images", () => {
  for (const c of writerCases) {
    it(`${c.name}: QEMU, 7-Zip${c.dmg2img ? ", dmg2img" : ""} and this project agree`, async (ctx) => {
      requireTool("7zz", ctx);
      requireTool("qemu-img", ctx);
      requireTool("dmg2img", ctx);
      const image = await writeDmgBytes(INPUT, c.options);
      const mine = await ours(image);
      const seven = sevenZipExtract(image);
      expect(seven.status, seven.stderr).toBe(0);
      same(mine, seven.disk, "7-Zip");
      if (c.qemu) {
        const q = qemuConvert(image);
        expect(q.status, q.stderr).toBe(0);
        same(mine, q.disk, "qemu-img");
      }
      if (c.dmg2img) {
        const d = dmg2img(image);
        expect(d.status, d.stdout + d.stderr).toBe(0);
        same(mine, d.disk, "dmg2img");
      }
    });
  }

  it("bzip2, ADC, zero, raw and ignore chunks: 7-Zip and this project agree", async (ctx) => {
    requireTool("7zz", ctx);
    requireTool("bzip2", ctx);
    const { model, disk } = everyCodecModel();
    const image = buildDmg(model);
    const mine = await ours(image);
    same(mine, disk, "the model");
    const seven = sevenZipExtract(image);
    expect(seven.status, seven.stderr).toBe(0);
    same(mine, seven.disk, "7-Zip");
  });
});

describe("reader vs reference readers on real files", () => {
  for (const row of realExpectations().filter((r) => r.size !== undefined)) {
    it(`${row.file}: 7-Zip and this project agree`, async (ctx) => {
      requireTool("7zz", ctx);
      const image = new Uint8Array(readFileSync(join(REAL, row.file)));
      const seven = sevenZipExtract(image);
      expect(seven.status, seven.stderr).toBe(0);
      same(await ours(image), seven.disk, "7-Zip");
    });
  }
});
