/**
 * Partition maps of the virtual disk: the real images' maps against sleuthkit's `mmls` and
 * gdisk's `sgdisk -p`, hand-built GPT, APM and MBR disks each broken one way, and a property
 * that mutated maps give findings, never exceptions.
 */
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { crc32 } from "../src/bytes/crc32.js";
import { DmgError } from "../src/core/errors.js";
import { readPartitionMap, tableType } from "../src/inspect/partitions.js";
import { openDmg, validateDmg } from "../src/node/index.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { fcParams } from "./helpers/prop-config.js";
import { requireTool } from "./helpers/reference.js";

const REAL = join(import.meta.dirname, "..", "corpus", "real");
const APFS = "7C3457EF-0000-11AA-AA11-00306543ECAC";
const HFS = "48465300-0000-11AA-AA11-00306543ECAC";

/** The bytes of a GUID written as text (first three fields little-endian). */
function guidBytes(text: string): Uint8Array {
  const h = text.replace(/-/g, "");
  const b = Uint8Array.from({ length: 16 }, (_, i) =>
    Number.parseInt(h.slice(2 * i, 2 * i + 2), 16),
  );
  const swap = (a: number, n: number) => b.subarray(a, a + n).reverse();
  swap(0, 4);
  swap(4, 2);
  swap(6, 2);
  return b;
}

interface GptPart {
  type: string;
  first: number;
  last: number;
  name?: string;
}

interface GptOptions {
  sectors?: number;
  count?: number;
  entrySize?: number;
  backup?: boolean;
  /** Change the header after its CRC is computed. */
  badHeaderCrc?: boolean;
  /** Change the entry array after its CRC is computed. */
  badEntryCrc?: boolean;
}

/** A GPT header at `lba` for an array at `entriesLba`. */
function gptHeader(
  disk: Uint8Array,
  lba: number,
  other: number,
  entriesLba: number,
  count: number,
  entrySize: number,
  entriesCrc: number,
): void {
  const sectors = disk.length / 512;
  const h = new DataView(disk.buffer, lba * 512, 512);
  disk.set(new TextEncoder().encode("EFI PART"), lba * 512);
  h.setUint32(8, 0x10000, true);
  h.setUint32(12, 92, true);
  h.setBigUint64(24, BigInt(lba), true);
  h.setBigUint64(32, BigInt(other), true);
  h.setBigUint64(40, 34n, true);
  h.setBigUint64(48, BigInt(sectors - 34), true);
  disk.set(guidBytes("11111111-2222-3333-4444-555555555555"), lba * 512 + 56);
  h.setBigUint64(72, BigInt(entriesLba), true);
  h.setUint32(80, count, true);
  h.setUint32(84, entrySize, true);
  h.setUint32(88, entriesCrc, true);
  h.setUint32(16, crc32(disk.subarray(lba * 512, lba * 512 + 92)), true);
}

/** A disk with a protective MBR, a GPT of `parts` and (by default) its backup. */
function gptDisk(parts: GptPart[], o: GptOptions = {}): Uint8Array {
  const sectors = o.sectors ?? 2048;
  const count = o.count ?? 128;
  const entrySize = o.entrySize ?? 128;
  const disk = new Uint8Array(sectors * 512);
  const v = new DataView(disk.buffer);
  disk[446 + 4] = 0xee;
  v.setUint32(446 + 8, 1, true);
  v.setUint32(446 + 12, Math.min(sectors - 1, 0xffffffff), true);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  // A huge count is only stated: the array written holds at most 4096 entries.
  const array = new Uint8Array(Math.min(count, 4096) * entrySize);
  const av = new DataView(array.buffer);
  parts.forEach((p, i) => {
    if ((i + 1) * entrySize > array.length) return;
    array.set(guidBytes(p.type), i * entrySize);
    array.set(guidBytes("AAAAAAAA-0000-0000-0000-00000000000A"), i * entrySize + 16);
    av.setBigUint64(i * entrySize + 32, BigInt(p.first), true);
    av.setBigUint64(i * entrySize + 40, BigInt(p.last), true);
    const name = p.name ?? "part";
    for (let k = 0; k < name.length; k++)
      av.setUint16(i * entrySize + 56 + 2 * k, name.charCodeAt(k), true);
  });
  const arrayCrc = crc32(array);
  const arraySectors = Math.ceil(array.length / 512);
  if (2 + arraySectors <= sectors) disk.set(array, 2 * 512);
  gptHeader(disk, 1, sectors - 1, 2, count, entrySize, arrayCrc);
  if (o.backup !== false) {
    const at = sectors - 1 - arraySectors;
    disk.set(array, at * 512);
    gptHeader(disk, sectors - 1, 1, at, count, entrySize, arrayCrc);
  }
  if (o.badHeaderCrc) disk[512 + 48] ^= 1;
  if (o.badEntryCrc) disk[2 * 512 + 56] ^= 1;
  return disk;
}

/** A disk with an MBR of `entries` ([type, first LBA, sectors]). */
function mbrDisk(entries: Array<[number, number, number]>, sectors = 2048): Uint8Array {
  const disk = new Uint8Array(sectors * 512);
  writeMbr(disk, 0, entries);
  return disk;
}

function writeMbr(disk: Uint8Array, lba: number, entries: Array<[number, number, number]>): void {
  const v = new DataView(disk.buffer);
  entries.forEach(([type, first, n], i) => {
    const at = lba * 512 + 446 + 16 * i;
    disk[at + 4] = type;
    v.setUint32(at + 8, first, true);
    v.setUint32(at + 12, n, true);
  });
  disk[lba * 512 + 510] = 0x55;
  disk[lba * 512 + 511] = 0xaa;
}

/** A disk with a DDM and an APM of `entries` ([type, start block, blocks]); `count` overrides. */
function apmDisk(
  entries: Array<[string, number, number]>,
  count?: number,
  sectors = 2048,
): Uint8Array {
  const disk = new Uint8Array(sectors * 512);
  const v = new DataView(disk.buffer);
  v.setUint16(0, 0x4552);
  v.setUint16(2, 512);
  v.setUint32(4, sectors);
  entries.forEach(([type, start, n], i) => {
    const at = (i + 1) * 512;
    v.setUint16(at, 0x504d);
    v.setUint32(at + 4, count ?? entries.length);
    v.setUint32(at + 8, start);
    v.setUint32(at + 12, n);
    disk.set(new TextEncoder().encode(`part${i}`), at + 16);
    disk.set(new TextEncoder().encode(type), at + 48);
  });
  return disk;
}

/** A read of `disk` that fails as `image.read` does outside it, counting the bytes read. */
function reader(disk: Uint8Array, meter = { bytes: 0 }) {
  return async (offset: number, length: number): Promise<Uint8Array> => {
    if (offset + length > disk.length) throw new DmgError("READ_RANGE", "outside the disk");
    meter.bytes += length;
    return disk.slice(offset, offset + length);
  };
}

const codes = (m: { findings: Array<{ code: string }> }) => m.findings.map((f) => f.code);

describe("hand-built partition maps", () => {
  it("reads a GPT with its types, names and no findings", async () => {
    const disk = gptDisk([
      { type: APFS, first: 40, last: 1000, name: "disk image" },
      { type: HFS, first: 1001, last: 2000 },
    ]);
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.scheme).toBe("GPT");
    expect(m.diskGuid).toBe("11111111-2222-3333-4444-555555555555");
    expect(m.partitions.map((p) => [p.index, p.typeName, p.name, p.start, p.length])).toEqual([
      [1, "Apple_APFS", "disk image", 40 * 512, 961 * 512],
      [2, "Apple_HFS", "part", 1001 * 512, 1000 * 512],
    ]);
    expect(m.findings).toEqual([]);
  });

  it("GPT with a wrong header CRC gives GPT_CRC", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1000 }], { badHeaderCrc: true });
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(codes(m)).toContain("GPT_CRC");
    expect(m.findings.find((f) => f.code === "GPT_CRC")?.message).toMatch(/header CRC32/);
  });

  it("GPT with a wrong entry array CRC gives GPT_CRC", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1000 }], { badEntryCrc: true });
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.findings.find((f) => f.code === "GPT_CRC")?.message).toMatch(/entry array CRC32/);
  });

  it("overlapping GPT entries give PARTITION_OVERLAP", async () => {
    const disk = gptDisk([
      { type: APFS, first: 40, last: 1000 },
      { type: HFS, first: 900, last: 1100 },
    ]);
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(codes(m)).toEqual(["PARTITION_OVERLAP"]);
  });

  it("a huge GPT entry count is PARTMAP_MALFORMED, and the array is never read", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1000 }], {
      count: 0x7fffffff,
      backup: false,
    });
    const meter = { bytes: 0 };
    const m = await readPartitionMap(reader(disk, meter), disk.length);
    expect(codes(m)).toContain("PARTMAP_MALFORMED");
    expect(m.partitions).toEqual([]);
    expect(meter.bytes).toBeLessThan(64 * 1024);
  });

  it("an entry size that is not a multiple of 8 is PARTMAP_MALFORMED", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1000 }], { entrySize: 130 });
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.findings[0]?.message).toMatch(/entry size 130/);
  });

  it("a GPT entry past the disk gives PARTITION_OUT_OF_RANGE", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 5000 }]);
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(codes(m)).toContain("PARTITION_OUT_OF_RANGE");
    expect(m.partitions[0].fileSystem).toBeUndefined();
  });

  it("a GPT without its backup gives GPT_BACKUP_MISMATCH", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1000 }], { backup: false });
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(codes(m)).toEqual(["GPT_BACKUP_MISMATCH"]);
  });

  it("a GPT whose backup disagrees gives GPT_BACKUP_MISMATCH", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1000 }]);
    // The backup's disk GUID changed, its CRC made to match again.
    const last = disk.length - 512;
    disk[last + 56] ^= 0xff;
    new DataView(disk.buffer).setUint32(last + 16, 0, true);
    new DataView(disk.buffer).setUint32(
      last + 16,
      crc32(disk.subarray(last, last + 92).map((b, i) => (i >= 16 && i < 20 ? 0 : b))),
      true,
    );
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.findings.map((f) => f.message)).toEqual([expect.stringMatching(/disk GUID/)]);
  });

  it("reads an MBR and its extended chain", async () => {
    const disk = mbrDisk([
      [0x0c, 64, 512],
      [0x05, 1024, 1000],
    ]);
    writeMbr(disk, 1024, [
      [0x83, 8, 100],
      [0x05, 200, 300],
    ]);
    writeMbr(disk, 1224, [[0x83, 8, 50]]);
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.scheme).toBe("MBR");
    expect(
      m.partitions.map((p) => [p.index, p.type, p.typeName, p.start / 512, p.length / 512]),
    ).toEqual([
      [1, "0x0c", "FAT32 (LBA)", 64, 512],
      [2, "0x05", "Extended", 1024, 1000],
      [5, "0x83", "Linux", 1032, 100],
      [6, "0x83", "Linux", 1232, 50],
    ]);
    expect(m.findings).toEqual([]);
  });

  it("an extended chain that loops is PARTMAP_MALFORMED", async () => {
    const disk = mbrDisk([[0x05, 1024, 1000]]);
    writeMbr(disk, 1024, [
      [0x83, 8, 100],
      [0x05, 0, 300], // points back at itself
    ]);
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.findings.map((f) => f.message)).toEqual([expect.stringMatching(/loops/)]);
  });

  it("overlapping MBR entries give PARTITION_OVERLAP", async () => {
    const disk = mbrDisk([
      [0x0c, 64, 512],
      [0x83, 500, 100],
    ]);
    expect(codes(await readPartitionMap(reader(disk), disk.length))).toEqual(["PARTITION_OVERLAP"]);
  });

  it("a boot sector whose table bytes are code is no MBR", async () => {
    const disk = mbrDisk([]);
    disk[446] = 0xeb; // not a status byte
    expect((await readPartitionMap(reader(disk), disk.length)).scheme).toBe("none");
  });

  it("reads an APM", async () => {
    const disk = apmDisk([
      ["Apple_partition_map", 1, 63],
      ["Apple_HFS", 64, 1900],
      ["Apple_Free", 1964, 84],
    ]);
    const m = await readPartitionMap(reader(disk), disk.length);
    expect(m.scheme).toBe("APM");
    expect(
      m.partitions.map((p) => [p.index, p.type, p.name, p.start / 512, p.length / 512]),
    ).toEqual([
      [1, "Apple_partition_map", "part0", 1, 63],
      [2, "Apple_HFS", "part1", 64, 1900],
      [3, "Apple_Free", "part2", 1964, 84],
    ]);
    expect(m.findings).toEqual([]);
  });

  it("an APM with a huge entry count is PARTMAP_MALFORMED and reads a bounded number of blocks", async () => {
    const disk = apmDisk([["Apple_HFS", 64, 100]], 0xffffffff, 4096);
    const meter = { bytes: 0 };
    const m = await readPartitionMap(reader(disk, meter), disk.length);
    expect(codes(m)[0]).toBe("PARTMAP_MALFORMED");
    expect(meter.bytes).toBeLessThan(300 * 512);
  });

  it("an APM entry past the disk gives PARTITION_OUT_OF_RANGE", async () => {
    const disk = apmDisk([["Apple_HFS", 64, 100_000]]);
    expect(codes(await readPartitionMap(reader(disk), disk.length))).toEqual([
      "PARTITION_OUT_OF_RANGE",
    ]);
  });

  it("reads a UDIF table's type from its name", () => {
    expect(tableType("disk image (Apple_HFS : 2)")).toBe("Apple_HFS");
    expect(tableType(" (Apple_Free : 3)")).toBe("Apple_Free");
    expect(tableType("disk (sparse image bands)")).toBeUndefined();
  });
});

describe("the map of an image", () => {
  const tables = (size: number) => [
    { name: "Protective Master Boot Record (MBR : 0)", sectors: 1 },
    { name: "GPT Header (Primary GPT Header : 1)", sectors: 1 },
    { name: "GPT Partition Data (Primary GPT Table : 2)", sectors: 38 },
    { name: "disk image (Apple_APFS : 3)", sectors: size },
    { name: " (Apple_Free : 4)", sectors: -1 },
  ];

  it("image.partitions() and a full check agree with the tables", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1039 }]);
    const dmg = await writeDmgBytes(disk, { partitions: tables(1000), codec: "raw" });
    const image = await openDmg(dmg);
    try {
      const m = await image.partitions();
      expect(m.scheme).toBe("GPT");
      expect(m.findings).toEqual([]);
    } finally {
      await image.close();
    }
    const r = await validateDmg(dmg);
    expect(r.ok).toBe(true);
    expect(r.warnings.filter((f) => f.code !== "CODESIGN_UNSIGNED")).toEqual([]);
  });

  it("a table named for a partition that is not there gives TABLE_PARTITION_MISMATCH", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1039 }]);
    const dmg = await writeDmgBytes(disk, { partitions: tables(900), codec: "raw" });
    const image = await openDmg(dmg);
    try {
      expect(codes(await image.partitions())).toEqual(["TABLE_PARTITION_MISMATCH"]);
    } finally {
      await image.close();
    }
    const r = await validateDmg(dmg);
    expect(r.warnings.map((f) => f.code)).toContain("TABLE_PARTITION_MISMATCH");
    const quick = await validateDmg(dmg, { quick: true });
    expect(quick.warnings.map((f) => f.code)).not.toContain("TABLE_PARTITION_MISMATCH");
  });

  it("a broken map is an error of a full check", async () => {
    const disk = gptDisk([{ type: APFS, first: 40, last: 1039 }], { badEntryCrc: true });
    const r = await validateDmg(await writeDmgBytes(disk, { codec: "raw" }));
    expect(r.ok).toBe(false);
    expect(r.errors.map((f) => f.code)).toEqual(["GPT_CRC"]);
  });
});

describe("mutated maps", () => {
  const seeds = [
    gptDisk(
      [
        { type: APFS, first: 40, last: 1000 },
        { type: HFS, first: 1001, last: 1500 },
      ],
      { sectors: 1600 },
    ),
    apmDisk(
      [
        ["Apple_partition_map", 1, 63],
        ["Apple_HFS", 64, 1000],
      ],
      undefined,
      1600,
    ),
    (() => {
      const d = mbrDisk(
        [
          [0x05, 100, 1000],
          [0x06, 1200, 100],
        ],
        1600,
      );
      writeMbr(d, 100, [
        [0x83, 8, 10],
        [0x05, 50, 100],
      ]);
      return d;
    })(),
  ];
  // Mutations land where the maps are: the first 40 sectors, the EBRs and the backup GPT.
  const hot = [0, 40 * 512, 100 * 512, 101 * 512, 150 * 512, 151 * 512, 1566 * 512, 1600 * 512];
  const position = fc
    .integer({ min: 0, max: hot.length / 2 - 1 })
    .chain((k) => fc.integer({ min: hot[2 * k], max: hot[2 * k + 1] - 1 }));

  it("give findings or DmgErrors, never another exception", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: seeds.length - 1 }),
        fc.array(fc.tuple(position, fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 24,
        }),
        async (which, edits) => {
          const disk = seeds[which].slice();
          for (const [at, b] of edits) disk[at] = b;
          try {
            const m = await readPartitionMap(reader(disk), disk.length);
            for (const p of m.partitions) {
              expect(Number.isSafeInteger(p.start) && Number.isSafeInteger(p.length)).toBe(true);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(DmgError);
          }
        },
      ),
      fcParams(300),
    );
  }, 60_000);
});

/** What a reference tool says a partition is: start and length in sectors, a description. */
interface Row {
  start: number;
  length: number;
  what: string;
}

/** mmls: the scheme and the allocated rows (not Meta, not Unallocated). */
function mmls(file: string): { scheme: string; rows: Row[] } {
  const r = spawnSync("mmls", [file], { encoding: "utf8" });
  if (r.status !== 0) return { scheme: "none", rows: [] };
  const first = r.stdout.split("\n")[0];
  const scheme = /GUID/.test(first)
    ? "GPT"
    : /MAC/.test(first)
      ? "APM"
      : /DOS/.test(first)
        ? "MBR"
        : first;
  const rows: Row[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /^\d+:\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m || m[1] === "Meta" || m[1].startsWith("---")) continue;
    rows.push({ start: Number(m[2]), length: Number(m[4]), what: m[5].trim() });
  }
  return { scheme, rows };
}

/** sgdisk -p: the partitions it lists (GPT, or an MBR it converts in memory). */
function sgdisk(file: string): Row[] {
  const r = spawnSync("sgdisk", ["-p", file], { encoding: "utf8" });
  const rows: Row[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /^\s+\d+\s+(\d+)\s+(\d+)\s+\S+ \S+\s+([0-9A-F]{4})\s+(.*)$/.exec(line);
    if (m) rows.push({ start: Number(m[1]), length: Number(m[2]) - Number(m[1]) + 1, what: m[3] });
  }
  return rows;
}

/** sgdisk's type codes for the types of the real images. */
const SGDISK_CODES: Record<string, string> = { [APFS]: "AF0A", [HFS]: "AF00" };

describe("real images against mmls and sgdisk", () => {
  const files = readdirSync(REAL).filter((f) => /\.(dmg|sparseimage)$/.test(f));
  for (const name of files) {
    it(name, async (ctx) => {
      requireTool("mmls", ctx);
      requireTool("sgdisk", ctx);
      let image: Awaited<ReturnType<typeof openDmg>>;
      try {
        image = await openDmg(join(REAL, name));
      } catch (e) {
        // Not a disk image, or an encrypted one without its password: no disk to compare.
        expect((e as DmgError).code).toMatch(/^(NOT_UDIF|ENCRYPTED)$/);
        return;
      }
      let compared = 0;
      try {
        const m = await image.partitions();
        expect(m.findings).toEqual([]);
        const dir = mkdtempSync(join(tmpdir(), "dmg-validate-map-"));
        try {
          const file = join(dir, "disk.raw");
          const fd = openSync(file, "w");
          try {
            for await (const piece of image.stream()) writeSync(fd, piece);
          } finally {
            closeSync(fd);
          }
          const ref = mmls(file);
          compared++;
          expect(m.scheme).toBe(ref.scheme);
          const ours = m.partitions.map((p) => ({ start: p.start / 512, length: p.length / 512 }));
          expect(ours).toEqual(ref.rows.map((r) => ({ start: r.start, length: r.length })));
          m.partitions.forEach((p, i) => {
            const what = ref.rows[i].what;
            if (p.scheme === "APM") expect(what).toBe(p.type);
            if (p.scheme === "GPT") expect(what).toBe(p.name);
            if (p.scheme === "MBR") expect(what).toContain(`(${p.type})`);
          });
          const sg = sgdisk(file);
          if (m.scheme === "GPT" || m.scheme === "MBR") {
            expect(ours).toEqual(sg.map((r) => ({ start: r.start, length: r.length })));
            for (const [i, p] of m.partitions.entries()) {
              if (SGDISK_CODES[p.type]) expect(sg[i].what).toBe(SGDISK_CODES[p.type]);
            }
          } else {
            // No GPT or MBR: sgdisk lists nothing (it would make a new, empty GPT).
            expect(sg).toEqual([]);
          }
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      } finally {
        await image.close();
      }
      expect(compared).toBe(1);
    }, 60_000);
  }
});

describe("regressions found by fuzzing", () => {
  it("lists no GPT entry whose byte range is past 2^53 (its LBAs are exact, its bytes not)", async () => {
    const { readFileSync } = await import("node:fs");
    const file = join(import.meta.dirname, "..", "corpus", "fuzz", "partitions");
    const disk = new Uint8Array(readFileSync(join(file, "regression-gpt-lba-past-2p53")));
    const map = await readPartitionMap(async (o, n) => disk.slice(o, o + n), disk.length);
    expect(map.scheme).toBe("GPT");
    for (const p of map.partitions) {
      expect(Number.isSafeInteger(p.start + p.length)).toBe(true);
    }
    expect(map.findings.some((f) => f.code === "PARTITION_OUT_OF_RANGE")).toBe(true);
  });
});
