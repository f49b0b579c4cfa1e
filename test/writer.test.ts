import { spawnSync } from "node:child_process";
import { deflateSync } from "node:zlib";
import { inflate } from "pako";
import { describe, expect, it } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { DmgError } from "../src/core/errors.js";
import { DEFAULT_BUDGET } from "../src/core/limits.js";
import { checksumCrc32 } from "../src/format/checksum.js";
import { KOLY_SIZE, parseKoly } from "../src/format/koly.js";
import { checkMishLayout, type MishTable, parseMish } from "../src/format/mish.js";
import { parsePlist } from "../src/format/plist.js";
import type { ResourceMap } from "../src/format/resources.js";
import { parseResourceFork } from "../src/format/rsrc.js";
import {
  COMMENT,
  SECTOR_SIZE,
  TERMINATOR,
  UDBZ,
  UDIG,
  UDRW,
  UDZE,
  UDZO,
} from "../src/format/types.js";
import {
  type ByteSink,
  buildDmg,
  COMMENT_BEGIN,
  COMMENT_END,
  type ImageModel,
  WHOLE_DEVICE,
  type WriteOptions,
  writeDmg,
  writeDmgBytes,
} from "../src/write/writer.js";
import {
  dmg2img,
  haveTool,
  qemuConvert,
  requireTool,
  sevenZipExtract,
  sevenZipTest,
} from "./helpers/reference.js";

// ---------------------------------------------------------------------------------------------
// Deterministic disk content: pseudo-random, zero and text regions, sizes not multiples of 512.

function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = next() & 0xff;
  return out;
}

function textBytes(n: number, seed: number): Uint8Array {
  const words = ["koly", "mish", "blkx", "sector", "chunk", "zlib", "table", "disk", "\n"];
  const next = prng(seed);
  const out = new Uint8Array(n);
  let i = 0;
  while (i < n) {
    const w = `${words[next() % words.length]} `;
    for (let k = 0; k < w.length && i < n; k++) out[i++] = w.charCodeAt(k);
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** About 3.2 MiB: a whole aligned MiB of zeros (a zero chunk at 2048 sectors), odd total size. */
const DISK = concat([
  randomBytes(64 * KiB + 100, 1),
  new Uint8Array(2 * MiB + 200 * KiB),
  textBytes(300 * KiB + 7, 2),
  randomBytes(40 * KiB, 3),
  new Uint8Array(600 * KiB),
  textBytes(12_345, 4),
]);

/** A small disk for the many-option matrix: about 150 KiB, odd size. */
const SMALL = concat([
  randomBytes(9000, 5),
  new Uint8Array(70 * KiB),
  textBytes(50_001, 6),
  new Uint8Array(20 * KiB + 3),
  randomBytes(777, 7),
]);

/** The disk a reader must produce: the input padded with zeros to whole sectors. */
function padded(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(input.length / SECTOR_SIZE) * SECTOR_SIZE);
  out.set(input);
  return out;
}

function sameBytes(actual: Uint8Array | undefined, expected: Uint8Array, what: string): void {
  expect(actual, `${what}: no output`).toBeDefined();
  const a = actual as Uint8Array;
  expect(a.length, `${what}: length`).toBe(expected.length);
  let first = -1;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== expected[i]) {
      first = i;
      break;
    }
  }
  expect(first, `${what}: first differing byte`).toBe(-1);
}

// ---------------------------------------------------------------------------------------------
// Our own reading of an image: every structure parsed with the project's parsers, every chunk
// decoded, every checksum recomputed.

interface Parsed {
  map: ResourceMap;
  tables: MishTable[];
  disk: Uint8Array;
  fromXml?: ResourceMap;
  fromRsrc?: ResourceMap;
}

function checksumValue(c: { value: Uint8Array }): number {
  return checksumCrc32({ type: 2, bits: 32, value: c.value }) ?? -1;
}

function parseOwn(image: Uint8Array, checksums = true): Parsed {
  const kolyAt = image.length - KOLY_SIZE;
  const k = parseKoly(image.subarray(kolyAt), kolyAt);
  expect(k.version).toBe(4);
  expect(k.headerSize).toBe(512);
  expect(k.flags).toBe(1);
  expect(k.imageVariant).toBe(1);
  expect(k.segmentNumber).toBe(1);
  expect(k.segmentCount).toBe(1);
  expect(k.segmentId).toMatch(/^[0-9a-f]{32}$/);
  expect(k.dataForkOffset).toBe(0);
  expect(k.runningDataForkOffset).toBe(0);
  // Layout: [data fork][rsrc][xml][koly], each part starting where the one before ends.
  let pos = k.dataForkLength;
  let fromRsrc: ResourceMap | undefined;
  let fromXml: ResourceMap | undefined;
  if (k.rsrcForkLength > 0) {
    expect(k.rsrcForkOffset).toBe(pos);
    fromRsrc = parseResourceFork(image.subarray(pos, pos + k.rsrcForkLength), pos, DEFAULT_BUDGET);
    pos += k.rsrcForkLength;
  } else {
    expect(k.rsrcForkOffset).toBe(0);
  }
  if (k.xmlLength > 0) {
    expect(k.xmlOffset).toBe(pos);
    fromXml = parsePlist(image.subarray(pos, pos + k.xmlLength), pos, DEFAULT_BUDGET);
    pos += k.xmlLength;
  } else {
    expect(k.xmlOffset).toBe(0);
  }
  expect(pos).toBe(kolyAt);
  const map = (fromXml ?? fromRsrc) as ResourceMap;
  expect(map).toBeDefined();
  const dataFork = image.subarray(0, k.dataForkLength);
  if (checksums) {
    expect(k.dataForkChecksum.type).toBe(2);
    expect(checksumValue(k.dataForkChecksum)).toBe(crc32(dataFork));
  } else {
    expect(k.dataForkChecksum.type).toBe(0);
    expect(k.masterChecksum.type).toBe(0);
  }
  const tables = map.blkx.map((b, i) => {
    const t = parseMish(b.data, b.fileOffset, { table: i });
    checkMishLayout(t, b.fileOffset, i);
    return t;
  });
  const parts: Uint8Array[] = [];
  let master = 0;
  let nextSector = 0;
  for (const [ti, t] of tables.entries()) {
    expect(t.firstSector).toBe(nextSector);
    nextSector += t.sectorCount;
    const decoded = new Uint8Array(t.sectorCount * SECTOR_SIZE);
    let crc = 0;
    const e = t.entries;
    for (let i = 0; i < t.count; i++) {
      const type = e.type[i];
      if (type === COMMENT || type === TERMINATOR) continue;
      const size = e.sectorCount[i] * SECTOR_SIZE;
      const at = e.sector[i] * SECTOR_SIZE;
      const off = t.dataOffset + e.offset[i];
      expect(off + e.length[i], `table ${ti} chunk ${i} inside the data fork`).toBeLessThanOrEqual(
        k.dataForkLength,
      );
      const payload = dataFork.subarray(off, off + e.length[i]);
      if (type === UDZO) decoded.set(inflate(payload), at);
      else if (type === UDRW) decoded.set(payload, at);
      else expect([UDZE, UDIG]).toContain(type);
      if (type === UDZO || type === UDRW) expect(payload.length).toBeGreaterThan(0);
      if (type === UDIG) continue;
      crc = crc32(decoded.subarray(at, at + size), crc);
    }
    if (checksums) {
      expect(t.checksum.type).toBe(2);
      expect(checksumValue(t.checksum), `table ${ti} CRC`).toBe(crc);
    } else {
      expect(t.checksum.type).toBe(0);
    }
    // Each table contributes the meaningful bytes of its checksum (none for a type-0 one).
    master = crc32(t.checksum.value, master);
    parts.push(decoded);
  }
  expect(nextSector).toBe(k.sectorCount);
  if (checksums) expect(checksumValue(k.masterChecksum)).toBe(master);
  return { map, tables, disk: concat(parts), fromXml, fromRsrc };
}

// ---------------------------------------------------------------------------------------------
// The matrix checked against our parsers and the reference readers.

interface Case {
  name: string;
  input: Uint8Array;
  options: WriteOptions;
  /** dmg2img reads this layout (see the notes at the dmg2img test). */
  dmg2img: boolean;
  /** QEMU reads this image. */
  qemu: boolean;
}

const cases: Case[] = [];
for (const codec of ["zlib", "raw"] as const) {
  for (const layout of ["xml", "rsrc", "both"] as const) {
    for (const chunkSectors of [1, 7, 2048]) {
      cases.push({
        name: `${codec} ${layout} ${chunkSectors}-sector chunks`,
        input: chunkSectors === 1 ? SMALL : DISK,
        options: { codec, layout, chunkSectors },
        dmg2img: true,
        qemu: true,
      });
    }
  }
}
const PARTS = [
  { name: "Driver Descriptor Map (DDM : 0)", sectors: 1 },
  { name: "Apple (Apple_partition_map : 1)", sectors: 63 },
  { name: "disk image (Apple_HFS : 2)", sectors: 5000 },
  { name: "(Apple_Free : 3)", sectors: -1 },
];
cases.push(
  {
    name: "zlib partitions",
    input: DISK,
    options: { partitions: PARTS, chunkSectors: 2048 },
    dmg2img: true,
    qemu: true,
  },
  {
    name: "zlib partitions with table data offsets",
    input: DISK,
    options: { partitions: PARTS, chunkSectors: 7, tableDataOffsets: true },
    // dmg2img 1.6.7 ignores the mish data offset: "opening partition 1 ... ERROR: Inflation failed".
    dmg2img: false,
    qemu: true,
  },
  {
    name: "raw partitions with table data offsets, rsrc",
    input: DISK,
    options: { partitions: PARTS, codec: "raw", tableDataOffsets: true, layout: "rsrc" },
    dmg2img: false,
    qemu: true,
  },
  {
    name: "zlib comments",
    input: SMALL,
    options: {
      comments: true,
      chunkSectors: 7,
      partitions: [
        { name: "Apple (Apple_partition_map : 1)", sectors: 63 },
        { name: "disk image (Apple_HFS : 2)", sectors: 100 },
        { name: "(Apple_Free : 3)", sectors: -1 },
      ],
    },
    dmg2img: true,
    qemu: true,
  },
  {
    name: "zlib ignore chunks",
    input: DISK,
    options: { zeroChunks: "ignore", chunkSectors: 64 },
    dmg2img: true,
    qemu: true,
  },
  {
    name: "zlib zeros encoded like the rest",
    input: SMALL,
    options: { zeroChunks: "none", chunkSectors: 16 },
    dmg2img: true,
    qemu: true,
  },
  {
    name: "raw ignore chunks, both forks",
    input: SMALL,
    options: { codec: "raw", zeroChunks: "ignore", chunkSectors: 3, layout: "both" },
    dmg2img: true,
    qemu: true,
  },
  {
    name: "zlib without checksums",
    input: SMALL,
    options: { checksums: false, chunkSectors: 7 },
    dmg2img: true,
    qemu: true,
  },
  {
    name: "zlib level 9 with node:zlib's deflate",
    input: DISK,
    options: { level: 9, deflate: (raw, level) => deflateSync(raw, { level }) },
    dmg2img: true,
    qemu: true,
  },
);

describe("writeDmg: images read back by our own parsers", () => {
  it.each(cases)("$name", async (c) => {
    const image = await writeDmgBytes(c.input, c.options);
    const own = parseOwn(image, c.options.checksums !== false);
    sameBytes(own.disk, padded(c.input), "decoded disk");
    const layout = c.options.layout ?? "xml";
    expect(own.fromXml !== undefined).toBe(layout !== "rsrc");
    expect(own.fromRsrc !== undefined).toBe(layout !== "xml");
    if (own.fromXml && own.fromRsrc) {
      // Both forks describe the same tables.
      expect(own.fromRsrc.blkx.map((b) => [b.id, b.name, [...b.data]])).toEqual(
        own.fromXml.blkx.map((b) => [b.id, b.name, [...b.data]]),
      );
    }
    const parts = c.options.partitions;
    expect(own.map.blkx.map((b) => b.name)).toEqual(
      parts ? parts.map((p) => p.name) : ["whole disk (Apple_HFS : 0)"],
    );
    const chunkSectors = c.options.chunkSectors ?? 2048;
    for (const [ti, t] of own.tables.entries()) {
      expect(t.blockDescriptors).toBe(own.tables.length === 1 ? WHOLE_DEVICE : ti);
      expect(own.map.blkx[ti].id).toBe(own.tables.length === 1 ? 0 : ti - 1);
      const e = t.entries;
      const last = t.count - 1;
      expect(e.type[last]).toBe(TERMINATOR);
      expect(e.sector[last]).toBe(t.sectorCount);
      expect(e.sectorCount[last]).toBe(0);
      expect(e.length[last]).toBe(0);
      let max = 0;
      for (let i = 0; i < t.count; i++) {
        if (e.type[i] !== COMMENT && e.type[i] !== TERMINATOR) {
          max = Math.max(max, e.sectorCount[i]);
          expect(e.sectorCount[i]).toBeLessThanOrEqual(chunkSectors);
        }
      }
      expect(t.buffersNeeded).toBe(max + 8);
      if (c.options.comments) {
        expect([e.type[0], e.comment[0], e.sectorCount[0]]).toEqual([COMMENT, COMMENT_BEGIN, 0]);
        expect([e.type[last - 1], e.comment[last - 1]]).toEqual([COMMENT, COMMENT_END]);
      }
      if (c.options.tableDataOffsets && t.sectorCount > 0) {
        // The data offset is the file offset of the table's first chunk, whose offset is 0.
        const first = c.options.comments ? 1 : 0;
        expect(e.offset[first]).toBe(0);
        if (ti > 0) expect(t.dataOffset).toBeGreaterThan(0);
      } else {
        expect(t.dataOffset).toBe(0);
      }
    }
    const types = own.tables.flatMap((t) => [...t.entries.type.subarray(0, t.count)]);
    const zero = c.options.zeroChunks ?? "zero";
    expect(types.includes(UDZE)).toBe(zero === "zero");
    expect(types.includes(UDIG)).toBe(zero === "ignore");
    expect(types.includes(c.options.codec === "raw" ? UDRW : UDZO)).toBe(true);
  });
});

describe("writeDmg: images read back by QEMU", () => {
  it.for(cases.filter((c) => c.qemu))("$name", async (c, ctx) => {
    requireTool("qemu-img", ctx);
    const image = await writeDmgBytes(c.input, c.options);
    const r = qemuConvert(image);
    expect(r.status, r.stderr).toBe(0);
    // Debian's qemu-img warns about optional decoder modules (bzip2, LZFSE) that are not installed.
    expect(r.stderr.replace(/^qemu: module .* not found.*\n/gm, "")).toBe("");
    sameBytes(r.disk, padded(c.input), "qemu-img convert");
  });
});

describe("writeDmg: images read back by 7-Zip", () => {
  it.for(cases)("$name", async (c, ctx) => {
    requireTool("7zz", ctx);
    const image = await writeDmgBytes(c.input, c.options);
    const x = sevenZipExtract(image);
    expect(x.status, x.stderr).toBe(0);
    sameBytes(x.disk, padded(c.input), "7zz x");
    expect(x.names.length).toBe(c.options.partitions?.length ?? 1);
    const t = sevenZipTest(image);
    expect(t.status, t.stdout + t.stderr).toBe(0);
    expect(t.stdout).toContain("Everything is Ok");
    // 7-Zip still says "Everything is Ok" after a master CRC mismatch; it is a warning.
    expect(t.stdout + t.stderr).not.toMatch(/warning|error/i);
  });

  it("names each table N.name, numbered from 0 in table order", async (ctx) => {
    requireTool("7zz", ctx);
    const partitions = Array.from({ length: 12 }, (_, i) => ({
      name: `part ${i} (Apple_HFS : ${i})`,
      sectors: i === 11 ? -1 : 3 + i,
    }));
    const x = sevenZipExtract(await writeDmgBytes(SMALL, { partitions, chunkSectors: 5 }));
    expect(x.status).toBe(0);
    expect(x.names.map((n) => Number.parseInt(n, 10))).toEqual(partitions.map((_, i) => i));
    for (const n of x.names) expect(n).toMatch(/^\d+\.\S/);
    sameBytes(x.disk, padded(SMALL), "7zz x, 12 tables");
  });

  it("refuses an image whose table CRC is wrong", async (ctx) => {
    requireTool("7zz", ctx);
    const image = await writeDmgBytes(SMALL, { codec: "raw", chunkSectors: 7 });
    image[100] ^= 1; // a raw chunk's byte: the table and data fork CRCs no longer match
    const t = sevenZipTest(image);
    expect(t.status).not.toBe(0);
    expect(t.stdout + t.stderr).not.toContain("Everything is Ok");
  });
});

describe("writeDmg: images read back by dmg2img", () => {
  it.for(cases.filter((c) => c.dmg2img))("$name", async (c, ctx) => {
    requireTool("dmg2img", ctx);
    const image = await writeDmgBytes(c.input, c.options);
    const r = dmg2img(image);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    sameBytes(r.disk, padded(c.input), "dmg2img");
  });
});

// ---------------------------------------------------------------------------------------------
// Writer behaviour.

describe("writeDmg", () => {
  it("pads an input that is not a multiple of 512 with zeros", async () => {
    const input = randomBytes(1000, 9);
    const image = await writeDmgBytes(input, { codec: "raw", chunkSectors: 1 });
    const own = parseOwn(image);
    expect(own.disk.length).toBe(1024);
    sameBytes(own.disk.subarray(0, 1000), input, "data");
    expect([...own.disk.subarray(1000)].every((b) => b === 0)).toBe(true);
  });

  it("writes an empty input as a zero-sector image", async () => {
    const image = await writeDmgBytes(new Uint8Array(0));
    const own = parseOwn(image);
    expect(own.disk.length).toBe(0);
    expect(own.tables[0].count).toBe(1);
  });

  it("takes a Blob or ArrayBuffer as input", async () => {
    const expected = await writeDmgBytes(SMALL, { chunkSectors: 9 });
    sameBytes(
      await writeDmgBytes(new Blob([SMALL.slice().buffer]), { chunkSectors: 9 }),
      expected,
      "Blob",
    );
    sameBytes(
      await writeDmgBytes(SMALL.slice().buffer, { chunkSectors: 9 }),
      expected,
      "ArrayBuffer",
    );
  });

  it("is deterministic and agrees with writeDmgBytes", async () => {
    const got: Uint8Array[] = [];
    const summary = await writeDmg(
      SMALL,
      { write: async (b) => void got.push(b.slice()) },
      {
        chunkSectors: 7,
      },
    );
    const streamed = concat(got);
    expect(streamed.length).toBe(summary.fileSize);
    sameBytes(await writeDmgBytes(SMALL, { chunkSectors: 7 }), streamed, "second run");
    expect(summary.sectors).toBe(Math.ceil(SMALL.length / 512));
    expect(summary.tables).toBe(1);
    expect(summary.chunks).toBe(Math.ceil(summary.sectors / 7));
  });

  it("streams: each chunk reaches the sink before the next is read", async () => {
    const events: string[] = [];
    const source = {
      size: SMALL.length,
      read: async (offset: number, length: number) => {
        events.push(`read ${length}`);
        return SMALL.slice(offset, offset + length);
      },
    };
    const sink: ByteSink = { write: async (b) => void events.push(`write ${b.length}`) };
    const summary = await writeDmg(source, sink, {
      codec: "raw",
      zeroChunks: "none",
      chunkSectors: 4,
    });
    // read, write, read, write, ... then the tail in one write.
    expect(events.length).toBe(summary.chunks * 2 + 1);
    for (let i = 0; i < summary.chunks; i++) {
      expect(events[2 * i]).toMatch(/^read /);
      expect(events[2 * i + 1]).toMatch(/^write /);
      expect(Number(events[2 * i + 1].slice(6))).toBeLessThanOrEqual(4 * 512);
    }
  });

  it("reports progress up to the input size", async () => {
    const seen: Array<[number, number]> = [];
    await writeDmg(
      SMALL,
      { write: async () => {} },
      { chunkSectors: 50, onProgress: (d, t) => void seen.push([d, t]) },
    );
    expect(seen.length).toBe(Math.ceil(Math.ceil(SMALL.length / 512) / 50));
    for (let i = 1; i < seen.length; i++) expect(seen[i][0]).toBeGreaterThan(seen[i - 1][0]);
    expect(seen.at(-1)).toEqual([SMALL.length, SMALL.length]);
  });

  it("keeps chunk entries compact for a 1,000,000-chunk image", async () => {
    // One sector per chunk over 1,000,000 zero sectors read from a source that holds nothing.
    const sectors = 1_000_000;
    const zeros = new Uint8Array(512);
    const source = { size: sectors * 512, read: async () => zeros };
    let size = 0;
    const before = process.memoryUsage().heapUsed;
    let peak = before;
    const summary = await writeDmg(
      source,
      {
        write: async (b) => {
          size += b.length;
        },
      },
      {
        chunkSectors: 1,
        onProgress: (d) => {
          if (d % (100_000 * 512) === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
        },
      },
    );
    expect(summary.chunks).toBe(sectors);
    expect(summary.dataForkLength).toBe(0);
    // Entries are 40 bytes each in typed arrays (40 MB); an object per chunk would need several times that.
    expect(peak - before).toBeLessThan(150 * MiB);
    expect(size).toBe(summary.fileSize);
  }, 300_000);

  it("refuses bad options with INVALID_ARGUMENT", async () => {
    const bad: WriteOptions[] = [
      { chunkSectors: 0 },
      { chunkSectors: 1.5 },
      { level: 10 },
      { codec: "bzip2" as "zlib" },
      { layout: "json" as "xml" },
      { zeroChunks: "skip" as "zero" },
      { partitions: [] },
      { partitions: [{ name: "a", sectors: 5 }] }, // does not cover the disk
      {
        partitions: [
          { name: "a", sectors: 500 },
          { name: "b", sectors: -1 },
        ],
      }, // exceeds it
      {
        partitions: [
          { name: "a", sectors: -1 },
          { name: "b", sectors: 1 },
        ],
      }, // -1 not last
      { layout: "rsrc", partitions: [{ name: "\u0101", sectors: -1 }] }, // not Latin-1
      { layout: "both", partitions: [{ name: "x".repeat(256), sectors: -1 }] }, // over 255
      { onProgress: "tick" as unknown as () => void }, // not a function
      {
        onProgress: () => {
          throw new Error("caller's bug");
        },
      },
    ];
    for (const options of bad) {
      const e = await writeDmgBytes(randomBytes(20_000, 1), options).catch((x) => x);
      expect(e, JSON.stringify(options)).toBeInstanceOf(DmgError);
      expect((e as DmgError).code).toBe("INVALID_ARGUMENT");
    }
  });

  it("turns sink, source and deflate failures into DmgErrors", async () => {
    const sinkFail = await writeDmg(SMALL, {
      write: async () => {
        throw new Error("disk full");
      },
    }).catch((x) => x);
    expect(sinkFail).toBeInstanceOf(DmgError);
    expect((sinkFail as DmgError).code).toBe("IO_ERROR");
    expect((sinkFail as DmgError).message).toContain("disk full");

    const sourceFail = await writeDmgBytes({
      size: 4096,
      read: async () => {
        throw new Error("gone");
      },
    }).catch((x) => x);
    expect((sourceFail as DmgError).code).toBe("IO_ERROR");

    const deflateFail = await writeDmgBytes(SMALL, {
      deflate: () => {
        throw new Error("no zlib");
      },
    }).catch((x) => x);
    expect((deflateFail as DmgError).code).toBe("INVALID_ARGUMENT");
    expect((deflateFail as DmgError).message).toContain("no zlib");
  });
});

// ---------------------------------------------------------------------------------------------
// The model builder.

/** The chunks writeDmg makes of `disk` with raw encoding and `n`-sector chunks. */
function rawModelChunks(disk: Uint8Array, n: number): ImageModel["tables"][number]["chunks"] {
  const chunks = [];
  for (let s = 0; s * 512 < disk.length; s += n) {
    const bytes = disk.subarray(s * 512, (s + n) * 512);
    const zero = bytes.every((b) => b === 0);
    chunks.push(
      zero
        ? { type: UDZE, sectors: bytes.length / 512 }
        : { type: UDRW, sectors: bytes.length / 512, payload: bytes },
    );
  }
  return chunks;
}

describe("reference reader helpers", () => {
  it("fail under CI and skip otherwise when a tool is missing", () => {
    const ctx = {
      skip: (note?: string): never => {
        throw new Error(`skipped: ${note}`);
      },
    };
    const saved = process.env.CI;
    try {
      process.env.CI = "1";
      expect(() => requireTool("no-such-reader-tool", ctx)).toThrow(/CI requires it/);
      delete process.env.CI;
      expect(() => requireTool("no-such-reader-tool", ctx)).toThrow(/^skipped: .*not installed/);
      expect(haveTool("sh")).toBe(true);
      expect(haveTool("no-such-reader-tool")).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.CI;
      else process.env.CI = saved;
    }
  });
});

describe("buildDmg", () => {
  it("lays out a model exactly as writeDmg lays out the same chunks", async () => {
    const disk = padded(SMALL);
    const image = buildDmg({
      tables: [
        {
          name: "whole disk (Apple_HFS : 0)",
          cfName: "whole disk (Apple_HFS : 0)",
          chunks: rawModelChunks(disk, 7),
          decoded: disk,
        },
      ],
    });
    sameBytes(
      image,
      await writeDmgBytes(SMALL, { codec: "raw", chunkSectors: 7 }),
      "buildDmg vs writeDmg",
    );
  });

  it("computes table CRCs from decoded bytes, leaving ignore chunks out", () => {
    const disk = padded(SMALL);
    const chunks = rawModelChunks(disk, 8).map((c) => (c.type === UDZE ? { ...c, type: UDIG } : c));
    const image = buildDmg({ tables: [{ name: "t", chunks, decoded: disk }] });
    const own = parseOwn(image);
    sameBytes(own.disk, disk, "decoded");
    let crc = 0;
    for (const [i, c] of chunks.entries()) {
      if (c.type !== UDIG) crc = crc32(disk.subarray(i * 8 * 512, (i * 8 + c.sectors) * 512), crc);
    }
    expect(checksumCrc32(own.tables[0].checksum)).toBe(crc);
  });

  it("honours overrides for hostile layouts", () => {
    const payload = randomBytes(512, 3);
    const image = buildDmg({
      tables: [
        {
          name: "odd",
          chunks: [
            { type: UDRW, sectors: 1, payload },
            { type: UDRW, sectors: 1, offset: 0, length: 512, sector: 5 }, // aliases the first payload
          ],
          checksum: { type: 2, bits: 32, value: new Uint8Array([1, 2, 3, 4]) },
          terminator: false,
          sectorCount: 99,
          firstSector: 7,
          dataOffset: 0,
        },
      ],
      dataForkChecksum: false,
      masterChecksum: false,
      sectorCount: 12345,
      extraTrailingBytes: new Uint8Array([1, 2, 3]),
    });
    expect([...image.subarray(-3)]).toEqual([1, 2, 3]);
    const kolyAt = image.length - 515;
    const k = parseKoly(image.subarray(kolyAt, kolyAt + 512), kolyAt);
    expect(k.sectorCount).toBe(12345);
    expect(k.dataForkChecksum.type).toBe(0);
    expect(k.masterChecksum.type).toBe(0);
    const map = parsePlist(
      image.subarray(k.xmlOffset, k.xmlOffset + k.xmlLength),
      k.xmlOffset,
      DEFAULT_BUDGET,
    );
    const t = parseMish(map.blkx[0].data, 0, { table: 0 });
    expect(t.count).toBe(2);
    expect(t.firstSector).toBe(7);
    expect(t.sectorCount).toBe(99);
    expect([...t.checksum.value]).toEqual([1, 2, 3, 4]);
    expect([t.entries.sector[1], t.entries.offset[1], t.entries.length[1]]).toEqual([5, 0, 512]);
    expect(() => checkMishLayout(t, 0, 0)).toThrow(DmgError);
  });

  it("leaves type-0 table checksums out of the master CRC, as 7-Zip checks it", (ctx) => {
    requireTool("7zz", ctx);
    const a = padded(textBytes(3000, 1));
    const b = padded(randomBytes(1000, 2));
    const image = buildDmg({
      tables: [
        { name: "a", chunks: [{ type: UDRW, sectors: a.length / 512, payload: a }], decoded: a },
        { name: "b", chunks: [{ type: UDRW, sectors: b.length / 512, payload: b }] }, // no CRC
      ],
    });
    const k = parseKoly(image.subarray(image.length - 512), image.length - 512);
    const map = parsePlist(
      image.subarray(k.xmlOffset, k.xmlOffset + k.xmlLength),
      k.xmlOffset,
      DEFAULT_BUDGET,
    );
    const tables = map.blkx.map((x, i) => parseMish(x.data, x.fileOffset, { table: i }));
    expect(tables.map((t) => t.checksum.type)).toEqual([2, 0]);
    expect(checksumCrc32(tables[0].checksum)).toBe(crc32(a));
    expect(checksumCrc32(k.masterChecksum)).toBe(crc32(tables[0].checksum.value));
    const t = sevenZipTest(image);
    expect(t.stdout).toContain("Everything is Ok");
    expect(t.stdout).not.toContain("Master CRC error");
  });

  it("refuses fields that cannot be stored", () => {
    const e = (() => {
      try {
        buildDmg({ tables: [{ name: "t", chunks: [{ type: UDZE, sectors: -1 }] }] });
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(DmgError);
    expect((e as DmgError).code).toBe("INVALID_ARGUMENT");
  });

  it("carries payloads made elsewhere: bzip2 chunks read back by 7-Zip and dmg2img", (ctx) => {
    requireTool("7zz", ctx);
    const disk = padded(concat([textBytes(20_000, 8), new Uint8Array(4096), randomBytes(3000, 9)]));
    const bz = (b: Uint8Array) =>
      new Uint8Array(
        spawnSync("7zz", ["a", "-tbzip2", "-an", "-si", "-so"], { input: b, maxBuffer: 64 * MiB })
          .stdout,
      );
    const n = 16;
    const chunks = rawModelChunks(disk, n).map((c, i) =>
      c.type === UDRW
        ? {
            type: UDBZ,
            sectors: c.sectors,
            payload: bz(disk.subarray(i * n * 512, (i * n + c.sectors) * 512)),
          }
        : c,
    );
    chunks.unshift({ type: COMMENT, sectors: 0, comment: COMMENT_BEGIN });
    chunks.push({ type: COMMENT, sectors: 0, comment: COMMENT_END });
    const image = buildDmg({
      tables: [{ name: "whole disk (Apple_HFS : 0)", chunks, decoded: disk }],
      layout: "both",
    });
    const x = sevenZipExtract(image);
    expect(x.status, x.stderr).toBe(0);
    sameBytes(x.disk, disk, "7zz x, bzip2 chunks");
    expect(sevenZipTest(image).stdout).toContain("Everything is Ok");
    requireTool("dmg2img", ctx);
    sameBytes(dmg2img(image).disk, disk, "dmg2img, bzip2 chunks");
  });
});
