/**
 * File-system identification (src/inspect/fs): the real images' partitions against sleuthkit
 * (mmls, fsstat), libfsapfs (fsapfsinfo), blkid and isosize; superblocks built byte by byte
 * for every type and every inconsistency; mkfs.fat volumes; and a property that mutated
 * superblocks give findings, never exceptions, and never a read outside the partition.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FileSystemInfo, identifyFileSystem } from "../src/index.js";
import { fletcher64 } from "../src/inspect/fs/apfs.js";
import { openDmg } from "../src/node/index.js";
import { REAL } from "./helpers/corpus.js";
import { fcParams, testTimeout } from "./helpers/prop-config.js";
import { requireTool, type SkipContext } from "./helpers/reference.js";

const FS_TOOLS = "apt-get install -y sleuthkit libfsapfs-utils dosfstools";

/** A read over `disk` that fails the test when a probe reads outside [start, start+length). */
function reader(disk: Uint8Array, start = 0, length = disk.length) {
  const reads: Array<[number, number]> = [];
  const read = async (o: number, n: number) => {
    reads.push([o, n]);
    if (o < start || n < 0 || o + n > start + length || o + n > disk.length) {
      throw new Error(`read ${o}+${n} outside the partition ${start}+${length}`);
    }
    return disk.slice(o, o + n);
  };
  return { read, reads };
}

async function identify(
  disk: Uint8Array,
  start = 0,
  length = disk.length,
): Promise<FileSystemInfo> {
  return identifyFileSystem(reader(disk, start, length).read, start, length);
}

function codes(info: FileSystemInfo): string[] {
  return info.findings.map((f) => f.code);
}

// ---- Builders: superblocks written byte by byte from the specifications. ----

function be(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function put(b: Uint8Array, at: number, s: string): void {
  for (let i = 0; i < s.length; i++) b[at + i] = s.charCodeAt(i);
}

interface HfsPlusSpec {
  sig?: string;
  version?: number;
  blockSize?: number;
  totalBlocks?: number;
  freeBlocks?: number;
  catalog?: [number, number, number]; // fork total blocks, first extent start, count
}

/** An HFS+ volume header at `base` + 1024 of `disk`. */
function writeHfsPlus(disk: Uint8Array, base: number, s: HfsPlusSpec = {}): void {
  const v = be(disk.subarray(base + 1024, base + 1536));
  put(disk, base + 1024, s.sig ?? "H+");
  v.setUint16(2, s.version ?? (s.sig === "HX" ? 5 : 4));
  v.setUint32(40, s.blockSize ?? 4096);
  v.setUint32(44, s.totalBlocks ?? 16);
  v.setUint32(48, s.freeBlocks ?? 10);
  const [fork, start, count] = s.catalog ?? [2, 4, 2];
  v.setUint32(272 + 12, fork);
  v.setUint32(272 + 16, start);
  v.setUint32(272 + 20, count);
}

function hfsPlus(s: HfsPlusSpec = {}, size = 65536): Uint8Array {
  const disk = new Uint8Array(size);
  writeHfsPlus(disk, 0, s);
  return disk;
}

/** An HFS master directory block; with `embed`, a wrapper of an HFS+ volume at those blocks. */
function hfs(
  opts: {
    name?: string;
    nameLength?: number;
    allocSize?: number;
    embed?: [number, number];
    inner?: boolean;
  } = {},
): Uint8Array {
  const disk = new Uint8Array(131072);
  const v = be(disk.subarray(1024, 1024 + 162));
  put(disk, 1024, "BD");
  const allocSize = opts.allocSize ?? 1024;
  v.setUint16(18, 120); // allocation blocks
  v.setUint32(20, allocSize);
  v.setUint16(28, 8); // first allocation block at sector 8
  v.setUint16(34, 20);
  const name = opts.name ?? "Wrapped";
  disk[1024 + 36] = opts.nameLength ?? name.length;
  put(disk, 1024 + 37, name);
  if (opts.embed) {
    put(disk, 1024 + 124, "H+");
    v.setUint16(126, opts.embed[0]);
    v.setUint16(128, opts.embed[1]);
    if (opts.inner !== false) {
      writeHfsPlus(disk, 8 * 512 + opts.embed[0] * allocSize, {
        blockSize: 1024,
        totalBlocks: opts.embed[1],
        freeBlocks: 1,
      });
    }
  }
  return disk;
}

/** An APFS container superblock in block 0, checksummed unless `badChecksum`. */
function apfs(
  opts: {
    blockSize?: number;
    blockCount?: number;
    maxFs?: number;
    volumes?: number;
    badChecksum?: boolean;
    keybag?: boolean;
  } = {},
  size = 65536,
): Uint8Array {
  const disk = new Uint8Array(size);
  const bs = opts.blockSize ?? 4096;
  const v = new DataView(disk.buffer);
  v.setUint32(24, 0x80000001, true);
  put(disk, 32, "NXSB");
  v.setUint32(36, bs, true);
  v.setUint32(40, opts.blockCount ?? size / 4096, true);
  v.setUint32(180, opts.maxFs ?? 1, true);
  for (let i = 0; i < (opts.volumes ?? 1); i++) v.setUint32(184 + 8 * i, 1026 + i, true);
  if (opts.keybag) v.setUint32(1296, 7, true);
  const block = disk.subarray(0, Math.min(bs, size));
  const [c1, c2] = fletcher64(block);
  v.setUint32(0, opts.badChecksum ? c1 ^ 1 : c1, true);
  v.setUint32(4, c2, true);
  return disk;
}

interface FatSpec {
  bps?: number;
  spc?: number;
  reserved?: number;
  fats?: number;
  rootEntries?: number;
  total?: number;
  fatSize?: number;
  label?: string;
  signature?: boolean;
}

/** A FAT12/16 boot sector (the BPB of DOS 4). */
function fat(s: FatSpec = {}, size = 1 << 20): Uint8Array {
  const disk = new Uint8Array(size);
  const v = new DataView(disk.buffer);
  disk.set([0xeb, 0x3c, 0x90]);
  put(disk, 3, "MSDOS5.0");
  v.setUint16(11, s.bps ?? 512, true);
  disk[13] = s.spc ?? 4;
  v.setUint16(14, s.reserved ?? 1, true);
  disk[16] = s.fats ?? 2;
  v.setUint16(17, s.rootEntries ?? 512, true);
  const total = s.total ?? size / 512;
  if (total < 0x10000) v.setUint16(19, total, true);
  else v.setUint32(32, total, true);
  disk[21] = 0xf8;
  v.setUint16(22, s.fatSize ?? 2, true);
  disk[38] = 0x29;
  put(disk, 43, (s.label ?? "HANDMADE").padEnd(11, " "));
  put(disk, 54, "FAT12   ");
  if (s.signature !== false) disk.set([0x55, 0xaa], 510);
  return disk;
}

/** An exFAT main boot sector: 512-byte sectors, 4 KiB clusters. */
function exfat(
  o: {
    volume?: number;
    fatOffset?: number;
    heap?: number;
    clusters?: number;
    root?: number;
    shift?: number;
    dirty?: boolean;
  } = {},
  size = 1 << 20,
): Uint8Array {
  const disk = new Uint8Array(size);
  const v = new DataView(disk.buffer);
  disk.set([0xeb, 0x76, 0x90]);
  put(disk, 3, "EXFAT   ");
  if (o.dirty) disk[20] = 1;
  v.setUint32(72, o.volume ?? size / 512, true);
  v.setUint32(80, o.fatOffset ?? 128, true);
  v.setUint32(84, 8, true);
  v.setUint32(88, o.heap ?? 256, true);
  v.setUint32(92, o.clusters ?? 200, true);
  v.setUint32(96, o.root ?? 4, true);
  v.setUint16(104, 0x100, true);
  disk[108] = o.shift ?? 9;
  disk[109] = 3;
  disk[110] = 1;
  disk.set([0x55, 0xaa], 510);
  return disk;
}

/** An NTFS boot sector: 512-byte sectors, 4 KiB clusters. */
function ntfs(
  o: { bps?: number; spc?: number; total?: number; mft?: number } = {},
  size = 1 << 20,
): Uint8Array {
  const disk = new Uint8Array(size);
  const v = new DataView(disk.buffer);
  disk.set([0xeb, 0x52, 0x90]);
  put(disk, 3, "NTFS    ");
  v.setUint16(11, o.bps ?? 512, true);
  disk[13] = o.spc ?? 8;
  v.setUint32(40, o.total ?? size / 512 - 1, true);
  v.setUint32(48, o.mft ?? 4, true);
  v.setUint32(56, 8, true);
  disk.set([0x55, 0xaa], 510);
  return disk;
}

/** An ISO 9660 image: a primary volume descriptor then the set terminator. */
function iso(
  o: { blocks?: number; blocksBe?: number; blockSize?: number; primary?: boolean } = {},
  size = 40960,
): Uint8Array {
  const disk = new Uint8Array(size);
  const v = new DataView(disk.buffer);
  const pvd = 0x8000;
  disk[pvd] = o.primary === false ? 2 : 1;
  put(disk, pvd + 1, "CD001");
  disk[pvd + 6] = 1;
  put(disk, pvd + 8, "LINUX".padEnd(32, " "));
  put(disk, pvd + 40, "HAND_MADE".padEnd(32, " "));
  const blocks = o.blocks ?? size / 2048;
  v.setUint32(pvd + 80, blocks, true);
  v.setUint32(pvd + 84, o.blocksBe ?? blocks);
  v.setUint16(pvd + 128, o.blockSize ?? 2048, true);
  v.setUint16(pvd + 130, o.blockSize ?? 2048);
  disk[pvd + 2048] = 255;
  put(disk, pvd + 2049, "CD001");
  return disk;
}

// ---- Hand-built superblocks: each type, then each inconsistency. ----

describe("identifyFileSystem on hand-built superblocks", () => {
  it.each([
    ["HFS+", hfsPlus(), { type: "HFS+", blockSize: 4096, totalBytes: 65536 }],
    ["HFSX", hfsPlus({ sig: "HX" }), { type: "HFSX", blockSize: 4096, totalBytes: 65536 }],
    [
      "HFS",
      hfs(),
      { type: "HFS", label: "Wrapped", blockSize: 1024, totalBytes: 8 * 512 + 120 * 1024 },
    ],
    ["APFS", apfs(), { type: "APFS", blockSize: 4096, totalBytes: 65536 }],
    ["FAT12", fat(), { type: "FAT12", label: "HANDMADE", blockSize: 2048, totalBytes: 1 << 20 }],
    ["exFAT", exfat(), { type: "exFAT", blockSize: 4096, totalBytes: 1 << 20 }],
    ["NTFS", ntfs(), { type: "NTFS", blockSize: 4096, totalBytes: (1 << 20) - 512 }],
    ["ISO9660", iso(), { type: "ISO9660", label: "HAND_MADE", blockSize: 2048, totalBytes: 40960 }],
  ] as const)("%s", async (_, disk, want) => {
    const info = await identify(disk);
    expect(info).toMatchObject(want);
    expect(info.findings).toEqual([]);
  });

  it("an HFS wrapper gives the embedded HFS+ volume", async () => {
    const info = await identify(hfs({ embed: [10, 64] }));
    expect(info).toMatchObject({
      type: "HFS+",
      label: "Wrapped",
      blockSize: 1024,
      totalBytes: 65536,
    });
    expect(info.fields).toMatchObject({ wrapper: "HFS", embeddedOffset: 8 * 512 + 10 * 1024 });
    expect(info.findings).toEqual([]);
  });

  it("APFS: volume count, keybag, encryption unknown", async () => {
    const info = await identify(apfs({ maxFs: 4, volumes: 3, keybag: true }));
    expect(info.fields).toMatchObject({
      volumeCount: 3,
      maxFileSystems: 4,
      keybag: true,
      encryption: "unknown",
      checksumValid: true,
    });
  });

  it("a partition inside a disk: offsets are the disk's, reads stay inside", async () => {
    const disk = new Uint8Array(3 << 20);
    disk.set(fat(), 1 << 20);
    const r = reader(disk, 1 << 20, 1 << 20);
    const info = await identifyFileSystem(r.read, 1 << 20, 1 << 20);
    expect(info.type).toBe("FAT12");
    const bad = fat({ total: 4096 });
    disk.set(bad, 1 << 20);
    const worse = await identifyFileSystem(reader(disk, 1 << 20, 1 << 20).read, 1 << 20, 1 << 20);
    expect(worse.findings[0]).toMatchObject({ code: "FS_MALFORMED", offset: (1 << 20) + 19 });
    expect(r.reads.reduce((n, [, len]) => n + len, 0)).toBeLessThanOrEqual(64 * 1024);
  });

  it("zeros, an MBR-like sector and short partitions are unknown, without findings", async () => {
    const mbr = new Uint8Array(4096);
    mbr.set([0x55, 0xaa], 510);
    for (const d of [new Uint8Array(65536), mbr, new Uint8Array(0), hfsPlus().subarray(0, 1030)]) {
      const info = await identify(d);
      expect(info).toEqual({ type: "unknown", fields: {}, findings: [] });
    }
  });

  it("refuses a negative or fractional start as INVALID_ARGUMENT", async () => {
    await expect(identifyFileSystem(reader(new Uint8Array(1)).read, -1, 1)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(identifyFileSystem(reader(new Uint8Array(1)).read, 0, 0.5)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  // Each inconsistency: the type stays what the magic says, one finding names the field.
  it.each([
    ["HFS+ version", hfsPlus({ version: 9 }), "HFS+", 1024 + 2, /version is 9, not 4/],
    ["HFSX version", hfsPlus({ sig: "HX", version: 4 }), "HFSX", 1024 + 2, /version is 4, not 5/],
    ["HFS+ block size", hfsPlus({ blockSize: 3000 }), "HFS+", 1024 + 40, /block size 3000/],
    ["HFS+ block size 256", hfsPlus({ blockSize: 256 }), "HFS+", 1024 + 40, /at least 512/],
    [
      "HFS+ past the partition",
      hfsPlus({ totalBlocks: 17 }),
      "HFS+",
      1024 + 44,
      /past the end of the 65536-byte partition/,
    ],
    [
      "HFS+ free > total",
      hfsPlus({ freeBlocks: 17 }),
      "HFS+",
      1024 + 48,
      /free blocks 17 exceed total blocks 16/,
    ],
    [
      "HFS+ no catalog",
      hfsPlus({ catalog: [0, 0, 0] }),
      "HFS+",
      1024 + 284,
      /catalog file has no blocks/,
    ],
    [
      "HFS+ catalog outside",
      hfsPlus({ catalog: [2, 15, 2] }),
      "HFS+",
      1024 + 288,
      /catalog file's first extent/,
    ],
    ["HFS name length", hfs({ nameLength: 40 }), "HFS", 1024 + 36, /name length 40/],
    [
      "HFS block size",
      hfs({ allocSize: 1000 }),
      "HFS",
      1024 + 20,
      /1000 is not a non-zero multiple of 512/,
    ],
    ["HFS wrapper extent", hfs({ embed: [100, 64] }), "HFS", 1024 + 126, /outside the wrapper/],
    [
      "HFS wrapper, no H+",
      hfs({ embed: [10, 64], inner: false }),
      "HFS",
      8 * 512 + 10 * 1024,
      /has no H\+ header/,
    ],
    ["APFS block size", apfs({ blockSize: 1 << 30 }), "APFS", 36, /block size 1073741824/],
    ["APFS past the partition", apfs({ blockCount: 17 }), "APFS", 40, /past the end/],
    ["APFS max fs", apfs({ maxFs: 101 }), "APFS", 180, /maximum file systems 101/],
    [
      "APFS volumes > max",
      apfs({ maxFs: 1, volumes: 2 }),
      "APFS",
      184,
      /2 volumes exceed the maximum of 1/,
    ],
    ["FAT past the partition", fat({ total: 4096 }), "FAT12", 19, /past the end/],
    [
      "FAT metadata fills the volume",
      fat({ reserved: 2040 }),
      "FAT12",
      14,
      /fill the 2048-sector volume/,
    ],
    ["FAT too short", fat({ fatSize: 1 }), "FAT12", 22, /fewer than the \d+ clusters \+ 2/],
    [
      "FAT bytes per sector",
      fat({ bps: 500, spc: 4 }),
      "unknown",
      11,
      /FAT file system: bytes per sector 500/,
    ],
    ["FAT sectors per cluster", fat({ spc: 3 }), "unknown", 13, /sectors per cluster 3/],
    ["FAT no reserved", fat({ reserved: 0 }), "unknown", 14, /reserved sectors is 0/],
    ["FAT no FAT", fat({ fats: 0 }), "unknown", 16, /FAT count is 0/],
    ["FAT no sectors", fat({ total: 0 }), "unknown", 19, /total sectors is 0/],
    ["exFAT MustBeZero", exfat({ dirty: true }), "exFAT", 20, /MustBeZero/],
    ["exFAT shift", exfat({ shift: 13 }), "exFAT", 108, /sector shift 13/],
    ["exFAT past the partition", exfat({ volume: 4096 }), "exFAT", 72, /past the end/],
    ["exFAT FAT in boot region", exfat({ fatOffset: 12 }), "exFAT", 80, /inside the boot region/],
    ["exFAT heap inside FATs", exfat({ heap: 130 }), "exFAT", 88, /starts inside the FATs/],
    ["exFAT heap past the volume", exfat({ clusters: 5000 }), "exFAT", 92, /cluster heap ends/],
    ["exFAT root cluster", exfat({ root: 1 }), "exFAT", 96, /root directory's cluster 1/],
    ["NTFS bytes per sector", ntfs({ bps: 100 }), "NTFS", 11, /bytes per sector 100/],
    ["NTFS cluster", ntfs({ spc: 3 }), "NTFS", 13, /sectors per cluster/],
    ["NTFS past the partition", ntfs({ total: 4096 }), "NTFS", 40, /past the end/],
    ["NTFS MFT outside", ntfs({ mft: 100_000 }), "NTFS", 48, /MFT \(cluster 100000\) lies past/],
    [
      "ISO both-endian size",
      iso({ blocksBe: 7 }),
      "ISO9660",
      0x8000 + 80,
      /20 little-endian, 7 big-endian/,
    ],
    ["ISO block size", iso({ blockSize: 4096 }), "ISO9660", 0x8000 + 128, /4096 is not 512/],
    ["ISO past the partition", iso({ blocks: 21 }), "ISO9660", 0x8000 + 80, /past the end/],
    ["ISO no primary", iso({ primary: false }), "ISO9660", 0x8000, /no primary volume descriptor/],
  ] as const)("%s is FS_MALFORMED", async (_, disk, type, offset, message) => {
    const info = await identify(disk);
    expect(info.type).toBe(type);
    expect(codes(info)).toContain("FS_MALFORMED");
    const f = info.findings.find((x) => message.test(x.message));
    expect(f, JSON.stringify(info.findings)).toMatchObject({
      severity: "warning",
      code: "FS_MALFORMED",
      offset,
    });
  });

  it("a bad APFS Fletcher-64 is FS_CHECKSUM, with both values", async () => {
    const info = await identify(apfs({ badChecksum: true }));
    expect(info.type).toBe("APFS");
    expect(info.fields.checksumValid).toBe(false);
    expect(info.findings).toEqual([
      expect.objectContaining({ code: "FS_CHECKSUM", offset: 0, severity: "warning" }),
    ]);
  });

  it("a label with terminal escapes is sanitized", async () => {
    const info = await identify(hfs({ name: "a\x1b[2Jb" }));
    expect(info.label).toBe("a\\x1b[2Jb");
  });
});

// ---- Property: mutated superblocks give findings, never exceptions. ----

const SEEDS: Array<[string, () => Uint8Array]> = [
  ["HFS+", () => hfsPlus()],
  ["HFS wrapper", () => hfs({ embed: [10, 64] })],
  ["APFS", () => apfs()],
  ["FAT", () => fat()],
  ["exFAT", () => exfat()],
  ["NTFS", () => ntfs()],
  ["ISO", () => iso()],
];

/** Where the fields live: the first 1.5 KiB, and the ISO descriptors. */
const HOT = [0, 1536, 0x8000, 0x8000 + 4096] as const;

describe("identifyFileSystem on mutated superblocks", () => {
  const RUNS = 300;
  it(
    "reports only FS_MALFORMED / FS_CHECKSUM, reads only inside the partition",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: SEEDS.length - 1 }),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean()), {
            minLength: 1,
            maxLength: 24,
          }),
          fc.nat({ max: 70_000 }),
          async (which, edits, cut) => {
            const disk = SEEDS[which][1]();
            for (const [pos, value, inIso] of edits) {
              const [from, to] = inIso ? [HOT[2], HOT[3]] : [HOT[0], HOT[1]];
              const at = from + (pos % (to - from));
              if (at < disk.length) disk[at] = value;
            }
            const length = Math.min(disk.length, cut === 0 ? disk.length : cut);
            const r = reader(disk, 0, length);
            const info = await identifyFileSystem(r.read, 0, length);
            for (const f of info.findings)
              expect(["FS_MALFORMED", "FS_CHECKSUM"]).toContain(f.code);
            expect(r.reads.reduce((n, [, len]) => n + len, 0)).toBeLessThanOrEqual(
              12 * 2048 + 65536,
            );
            if (info.totalBytes !== undefined)
              expect(Number.isSafeInteger(info.totalBytes)).toBe(true);
          },
        ),
        fcParams(RUNS),
      );
    },
    testTimeout(RUNS, 5),
  );
});

// ---- Oracles: real images and mkfs.fat volumes. ----

function run(cmd: string, args: string[]): { status: number | null; stdout: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout };
}

function needTools(ctx: SkipContext, tools: string[]): void {
  for (const t of tools) {
    try {
      requireTool(t, ctx);
    } catch (e) {
      throw new Error(`${(e as Error).message} (${FS_TOOLS})`);
    }
  }
}

interface Part {
  start: number;
  length: number;
}

/** The partitions mmls finds (512-byte units), or the whole disk when it finds no map. */
function partitions(path: string, size: number): Part[] {
  const r = run("mmls", [path]);
  if (r.status !== 0) return [{ start: 0, length: size }];
  const parts: Part[] = [];
  for (const line of r.stdout.split("\n")) {
    const m = /^\d+:\s+\d+(?::\d+)?\s+(\d+)\s+\d+\s+(\d+)\s/.exec(line);
    if (m) parts.push({ start: Number(m[1]) * 512, length: Number(m[2]) * 512 });
  }
  return parts;
}

/** What the reference tools say about the file system of one partition. */
function oracle(path: string, part: Part): Partial<FileSystemInfo> & { volumes?: number } {
  const blkid = run("blkid", ["-p", "-O", String(part.start), path]).stdout;
  const tag = (k: string) => new RegExp(`\\b${k}="([^"]*)"`).exec(blkid)?.[1];
  const type = tag("TYPE");
  if (type === undefined) return { type: "unknown" };
  if (type === "apfs") {
    const info = run("fsapfsinfo", ["-o", String(part.start), path]).stdout;
    // The container fills its partition (mmls gives the length); fsapfsinfo counts volumes.
    return {
      type: "APFS",
      blockSize: Number(tag("BLOCK_SIZE")),
      totalBytes: part.length,
      volumes: Number(/Number of volumes\s*:\s*(\d+)/.exec(info)?.[1]),
    };
  }
  if (type === "iso9660") {
    return {
      type: "ISO9660",
      blockSize: Number(tag("BLOCK_SIZE")),
      label: tag("LABEL"),
      totalBytes: Number(run("isosize", [path]).stdout.trim()),
    };
  }
  const fs = run("fsstat", ["-o", String(part.start / 512), path]).stdout;
  const num = (re: RegExp) => Number(re.exec(fs)?.[1]);
  if (type === "hfsplus") {
    const blockSize = num(/Allocation Block Size: (\d+)/);
    const totalBytes = (num(/Block Range: 0 - (\d+)/) + 1) * blockSize;
    // file(1)'s magic reads the volume header on its own: the partition's first 64 KiB, cut
    // out, must give the same block size and count.
    const head = join(dirname(path), "volume-head.img");
    writeFileSync(head, readFileSync(path).subarray(part.start, part.start + 65536));
    const said = run("file", ["-b", head]).stdout;
    expect(said).toMatch(/^Apple HFS Plus/);
    expect(Number(/block size: (\d+)/.exec(said)?.[1])).toBe(blockSize);
    expect(Number(/number of blocks: (\d+)/.exec(said)?.[1]) * blockSize).toBe(totalBytes);
    return { type: "HFS+", blockSize, totalBytes };
  }
  if (type === "vfat") {
    const sector = num(/Sector Size: (\d+)/);
    return {
      type: /File System Type: (FAT\d+)/.exec(fs)?.[1] as FileSystemInfo["type"],
      blockSize: num(/Cluster Size: (\d+)/),
      totalBytes: (num(/Total Range: 0 - (\d+)/) + 1) * sector,
    };
  }
  return { type: "unknown", fields: { blkid: type } };
}

/** The virtual disk of a real image, or the file itself when it is no image (the ISO). */
async function diskOf(file: string): Promise<Uint8Array> {
  const path = join(REAL, file);
  const password = file.includes("aes256") ? "test123" : undefined;
  try {
    const image = await openDmg(path, password ? { password } : {});
    try {
      const disk = new Uint8Array(image.size);
      const PIECE = 4 << 20;
      for (let at = 0; at < image.size; at += PIECE) {
        disk.set(await image.read(at, Math.min(PIECE, image.size - at)), at);
      }
      return disk;
    } finally {
      await image.close();
    }
  } catch (e) {
    if ((e as { code?: string }).code === "NOT_UDIF") return new Uint8Array(readFileSync(path));
    throw e;
  }
}

/** What the corpus holds (the oracles confirm it; this keeps a tool's silence from passing). */
const EXPECTED: Record<string, string[]> = {
  "brettcs_dtrx_test.dmg": ["ISO9660"],
  "citruz_dmgwiz_input_aes256.dmg": ["APFS"],
  "citruz_dmgwiz_input_lzma.dmg": ["APFS"],
  "ddribin_mameosx_mameosx-template.sparseimage": ["unknown", "HFS+", "unknown"],
  "jhermsmeier_node-udif_compression-adc.dmg": ["FAT12", "FAT12"],
  "jhermsmeier_node-udif_compression-bz2.dmg": ["FAT12", "FAT12"],
  "jhermsmeier_node-udif_compression-lzfse.dmg": ["FAT12", "FAT12"],
  "jhermsmeier_node-udif_compression-raw.dmg": ["FAT12", "FAT12"],
  "jhermsmeier_node-udif_zlib-compressed.dmg": ["HFS+"],
  "sparkle-project_Sparkle_SparkleTestCodeSign_apfs_lzma_aux_files.dmg": ["APFS"],
};

describe("identifyFileSystem against sleuthkit, libfsapfs, blkid, isosize and file", () => {
  const files = readdirSync(REAL)
    .filter((f) => f !== "README.md")
    .sort();

  it("covers every real image", () => {
    expect(files).toEqual(Object.keys(EXPECTED).sort());
  });
});

describe.each(Object.keys(EXPECTED).sort())("real image %s", (file) => {
  it("agrees with the reference tools on every partition", async (ctx) => {
    needTools(ctx, ["mmls", "fsstat", "fsapfsinfo", "blkid", "isosize", "file"]);
    const disk = await diskOf(file);
    await withTempDirAsync(async (dir) => {
      const path = join(dir, "disk.img");
      writeFileSync(path, disk);
      const parts = partitions(path, disk.length);
      const types: string[] = [];
      for (const part of parts) {
        const info = await identifyFileSystem(
          reader(disk, part.start, part.length).read,
          part.start,
          part.length,
        );
        types.push(info.type);
        expect(info.findings).toEqual([]);
        const want = oracle(path, part);
        const { volumes, ...rest } = want;
        expect(info, `${file} at ${part.start}`).toMatchObject(rest);
        if (volumes !== undefined) expect(info.fields.volumeCount).toBe(volumes);
        if (info.type === "APFS") expect(info.fields.checksumValid).toBe(true);
      }
      expect(types).toEqual(EXPECTED[file]);
    });
  }, 120_000);
});

describe("mkfs.fat volumes against fsstat", () => {
  it.for([
    ["12", 2048, "FAT12"],
    ["16", 32768, "FAT16"],
    ["32", 131072, "FAT32"],
  ] as const)("mkfs.fat -F %s", { timeout: 60_000 }, ([bits, kib, type], ctx) => {
    needTools(ctx, ["mkfs.fat", "fsstat", "blkid"]);
    return withTempDirAsync(async (dir) => {
      const path = join(dir, "fat.img");
      const r = run("mkfs.fat", ["-C", "-F", bits, "-n", "ORACLE", path, String(kib)]);
      expect(r.status).toBe(0);
      const disk = new Uint8Array(readFileSync(path));
      const info = await identify(disk);
      expect(info.findings).toEqual([]);
      expect(info).toMatchObject({
        ...oracle(path, { start: 0, length: disk.length }),
        type,
        label: "ORACLE",
      });
    });
  });
});

/** Run `fn` with a fresh temporary directory, removed when its promise settles. */
async function withTempDirAsync<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "dmg-validate-fs-"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("regressions found by fuzzing", () => {
  it("drops a size past 2^53 (2^26 blocks of 128 MiB) with a finding, never an inexact number", async () => {
    const data = new Uint8Array(
      readFileSync(join(REAL, "..", "fuzz", "filesystems", "regression-hfsplus-size-past-2p53")),
    );
    const info = await identifyFileSystem(async (o, n) => data.slice(o, o + n), 0, data.length);
    expect(info.type).toBe("HFS+");
    expect(info.totalBytes).toBeUndefined();
    expect(info.findings.some((f) => /past 2\^53/.test(f.message))).toBe(true);
  });
});
