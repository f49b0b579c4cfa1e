/**
 * Seed corpora for the fuzz targets (corpus/fuzz/<target>/), made from small images of every
 * codec and layout (the writer and buildDmg), the real files and the regression inputs: whole
 * files for the trailer and pipeline targets, and for the layer targets the structures cut
 * out of them (property lists, resource forks, mish blobs, chunk payloads).
 *
 * `collectSeeds()` returns them per target; `npm run fuzz -- seeds` writes them and minimizes
 * each corpus with libFuzzer's -merge=1.
 */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { parseMish } from "../dist/format/mish.js";
import { parsePlist } from "../dist/format/plist.js";
import { parseResourceFork } from "../dist/format/rsrc.js";
import { COMMENT, UDBZ, UDCO, UDIG, UDRW, UDZE, UDZO, ULFO, ULMO } from "../dist/format/types.js";
import { locateKoly } from "../dist/image/locate.js";
import { bytesSource } from "../dist/sources/source.js";
import { buildDmg } from "../dist/write/model.js";
import { writeDmgBytes } from "../dist/write/writer.js";
import { CODEC_TYPES, codecHeader } from "./codec-harness.js";
import {
  adcStream,
  kolyAtStart,
  lzfseStored,
  notImages,
  plistSeeds,
  text,
  xzVariants,
} from "./handmade.mjs";
import { BUDGET } from "./harness.js";
import { ROOT } from "./jazzer.mjs";

const SECTOR = 512;
/** Codec target per chunk type. */
const CODEC_TARGETS = new Map(Object.entries(CODEC_TYPES).map(([name, type]) => [type, name]));

/** A 40-sector disk (less 100 bytes): text, zero runs and a partial last sector. */
function smallDisk() {
  const disk = new Uint8Array(40 * SECTOR - 100);
  for (const s of [0, 16, 32])
    disk.set(text(8 * SECTOR, s + 1).subarray(0, disk.length - s * SECTOR), s * SECTOR);
  return disk;
}

/** Compress with a command-line tool, or undefined when it is not installed. */
function tool(cmd, args, data) {
  try {
    return new Uint8Array(
      execFileSync(cmd, args, { input: data, stdio: ["pipe", "pipe", "ignore"] }),
    );
  } catch {
    console.error(`seeds: ${cmd} not available, its seeds are left out`);
    return undefined;
  }
}

/** Payloads of `sectors` sectors of `data` for each codec the tools here can make. */
function payloads(data) {
  const out = [
    [UDZO, new Uint8Array(deflateSync(data))],
    [UDZO, new Uint8Array(deflateSync(data, { level: 0 }))],
    [UDCO, adcStream(data)],
    [ULFO, lzfseStored(data)],
  ];
  for (const [type, cmd, args] of [
    [UDBZ, "bzip2", ["-c", "-1"]],
    [ULMO, "xz", ["-c", "--check=crc32"]],
    [ULMO, "xz", ["-c", "--check=crc64", "-0"]],
    [ULMO, "xz", ["-c", "--check=sha256"]],
    [ULMO, "xz", ["-c", "--check=none"]],
    [ULMO, "xz", ["-c", "--x86", "--lzma2"]],
    [ULMO, "xz", ["-c", "--delta=dist=2", "--lzma2"]],
  ]) {
    const p = tool(cmd, args, data);
    if (p) out.push([type, p]);
  }
  return out;
}

/** Writer images of every option that changes the layout. */
async function writerImages() {
  const disk = smallDisk();
  const variants = [
    {},
    { codec: "raw" },
    { zeroChunks: "ignore" },
    { zeroChunks: "none", level: 0 },
    { comments: true, level: 9 },
    { layout: "rsrc" },
    { layout: "both", comments: true },
    { checksums: false, chunkSectors: 16 },
    { chunkSectors: 1, codec: "raw" },
    {
      partitions: [
        { name: "Driver Descriptor Map (DDM : 0)", sectors: 1 },
        { name: "Apple_partition_map : 1", sectors: 7 },
        { name: "Apple_HFS : 2", sectors: -1 },
      ],
      tableDataOffsets: true,
      layout: "both",
    },
  ];
  const out = [];
  for (const v of variants) out.push(await writeDmgBytes(disk, { chunkSectors: 8, ...v }));
  return out;
}

/** buildDmg images with the chunk types the writer does not make, and odd trailers. */
function modelImages() {
  const data = text(4 * SECTOR, 7);
  const zero = new Uint8Array(2 * SECTOR);
  const out = [];
  for (const [type, payload] of payloads(data)) {
    const decoded = new Uint8Array(8 * SECTOR);
    decoded.set(data, 0);
    const chunks = [
      { type: COMMENT, sectors: 0, comment: 0x2b626567 },
      { type, sectors: 4, payload },
      { type: UDZE, sectors: 2 },
      { type: UDIG, sectors: 1 },
      { type: UDRW, sectors: 1, payload: zero.subarray(0, SECTOR) },
    ];
    out.push(buildDmg({ tables: [{ name: "Apple_HFS : 0", chunks, decoded }] }));
  }
  const two = (layout, extra = {}) =>
    buildDmg({
      layout,
      tables: [
        { name: "Apple_partition_map : 1", chunks: [{ type: UDZE, sectors: 2 }] },
        {
          name: "Apple_HFS : 2",
          cfName: "Apple_HFS : 2",
          dataOffset: 0,
          chunks: [{ type: UDZO, sectors: 4, payload: new Uint8Array(deflateSync(data)) }],
          decoded: data,
        },
      ],
      otherResources: [
        { type: "plst", id: 0, name: "", attributes: 0x50, data: text(40, 3) },
        { type: "nsiz", id: 0, name: "", attributes: 0x50, data: text(12, 4) },
      ],
      ...extra,
    });
  out.push(two("xml"), two("rsrc"), two("both"));
  out.push(two("xml", { extraTrailingBytes: Uint8Array.of(0, 0, 0) })); // trailer 3 bytes early
  out.push(two("xml", { sectorCount: 0, masterChecksum: false, dataForkChecksum: false }));
  return out;
}

function filesIn(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".dmg"))
    .map((f) => new Uint8Array(readFileSync(join(dir, f))));
}

/** The structures of one image, cut out with the layer functions; whatever parses is kept. */
async function cut(image, seeds) {
  const add = (target, bytes) => seeds[target].push(bytes);
  let koly;
  try {
    koly = await locateKoly(bytesSource(image), []);
  } catch {
    return;
  }
  const slice = (off, len) =>
    len > 0 && off + len <= image.length ? image.subarray(off, off + len) : undefined;
  const maps = [];
  const xml = slice(koly.xmlOffset, koly.xmlLength);
  const rsrc = slice(koly.rsrcForkOffset, koly.rsrcForkLength);
  for (const [target, bytes, parse] of [
    ["plist", xml, parsePlist],
    ["rsrc", rsrc, parseResourceFork],
  ]) {
    if (!bytes) continue;
    add(target, bytes);
    try {
      maps.push(parse(bytes, 0, BUDGET));
    } catch {
      // A hostile map is a seed for its parser only.
    }
  }
  for (const map of maps.slice(0, 1)) {
    for (const [t, r] of map.blkx.entries()) {
      add("mish", r.data);
      let mish;
      try {
        mish = parseMish(r.data, 0, { table: t });
      } catch {
        continue;
      }
      const e = mish.entries;
      for (let i = 0; i < mish.count; i++) {
        const target = CODEC_TARGETS.get(e.type[i]);
        const off = koly.dataForkOffset + mish.dataOffset + e.offset[i];
        const payload = slice(off, e.length[i]);
        if (!target || !payload || e.sectorCount[i] === 0) continue;
        const sectors = Math.min(256, e.sectorCount[i]);
        // Two piece sizes: the reader's, and 13 bytes (every buffer edge).
        add(target, concat(codecHeader(sectors, 0), payload));
        add(target, concat(codecHeader(sectors, 13), payload));
      }
    }
  }
}

function concat(a, b) {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Seeds per target: { trailer: Uint8Array[], plist: [...], ... }. */
export async function collectSeeds() {
  const names = ["trailer", "plist", "rsrc", "mish", ...CODEC_TARGETS.values(), "pipeline", "text"];
  const seeds = Object.fromEntries(names.map((n) => [n, []]));
  // Names that once forged terminal lines: ESC sequences, CR, the 8-bit CSI, bidi overrides.
  const latin1 = (s) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  seeds.text.push(
    latin1("n\x1b]0;pwned\x07\x1b[2K\rOK  good.dmg\x9b2K"),
    new TextEncoder().encode("gpj.\u202eexe\u2028OK\u0085\u2066x\u2069"),
    latin1("Apple_HFS : 2"),
  );
  const made = [...(await writerImages()), ...modelImages()];
  made.push(kolyAtStart(made[0]), kolyAtStart(made[5]));
  const real = filesIn(join(ROOT, "corpus", "real"));
  const regressions = filesIn(join(ROOT, "corpus", "regressions"));
  // corpus/real and corpus/regressions are seed directories of their own for the whole-file
  // targets (fuzz/run.mjs passes them), so only the made images are stored for those.
  seeds.pipeline.push(...made);
  seeds.trailer.push(...made, ...notImages());
  for (const image of [...made, ...real, ...regressions]) await cut(image, seeds);
  // Codec payloads that decode to exactly their declared size, at several piece sizes.
  const data = text(3 * SECTOR, 11);
  for (const [type, payload] of payloads(data)) {
    for (const piece of [0, 1, 200]) {
      seeds[CODEC_TARGETS.get(type)].push(concat(codecHeader(3, piece), payload));
    }
  }
  // Structures only handmade inputs reach.
  const firstMish = seeds.mish[0] ?? new Uint8Array(0);
  seeds.plist.push(...plistSeeds(firstMish));
  const xz = tool("xz", ["-c", "--check=crc32"], data);
  for (const variant of xz ? xzVariants(xz) : [])
    seeds.lzma.push(concat(codecHeader(3, 0), variant));
  // Chunks long enough for index points (zlib every 64 KiB, bzip2 at each block), also compact.
  const long = text(250 * SECTOR, 13);
  for (const [type, payload] of payloads(long)) {
    if (type !== UDZO && type !== UDBZ) continue;
    for (const piece of [0, 0x80]) {
      seeds[CODEC_TARGETS.get(type)].push(concat(codecHeader(250, piece), payload));
    }
  }
  return seeds;
}
