/**
 * Sparse images (UDSP) and sparse bundles: the real hdiutil file, images and bundles built from
 * the documented layout (round trips), every hostile header and bundle variant with its code,
 * and the path safety of bundle folders.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sparseBundleSource } from "../src/containers/sparse/sparse-bundle.js";
import { DmgError } from "../src/index.js";
import { openDmg, validateDmg } from "../src/node/index.js";
import { bandNumber } from "../src/node/io/sparse-bundle.js";
import { bytesSource } from "../src/sources/source.js";
import { cliSandbox } from "./helpers/cli-run.js";
import { REAL } from "./helpers/corpus.js";
import { fcParams } from "./helpers/prop-config.js";
import { bandBytes, buildSparse, bundleInfo, writeBundle } from "./helpers/sparse.js";

const REAL_FILE = "ddribin_mameosx_mameosx-template.sparseimage";
const REAL_SIZE = 104857600;
const REAL_SHA = "03930363e028f37c59a260782e3c52d240d0d34dba9ef8db2ff483fc79d88489";
/** The HFS+ volume header: 1024 bytes into the Apple_HFS partition, which starts at sector 64. */
const HFS_HEADER = 64 * 512 + 1024;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The whole disk of an image, read through the public API. */
async function diskOf(src: Parameters<typeof openDmg>[0]): Promise<Uint8Array> {
  const image = await openDmg(src);
  try {
    return await image.read(0, image.size);
  } finally {
    await image.close();
  }
}

/** The code `p` fails with (a DmgError is required). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(e).toBeInstanceOf(DmgError);
  return (e as DmgError).code;
}

const setU32 = (b: Uint8Array, at: number, v: number) => new DataView(b.buffer).setUint32(at, v);
const setU64 = (b: Uint8Array, at: number, v: bigint) => new DataView(b.buffer).setBigUint64(at, v);

/** A small honest image: 4-sector bands, 10 disk bands, bands stored shuffled, some unused. */
function small() {
  return buildSparse({ sectorsPerBand: 4, totalSectors: 40, nodes: [[3, 0, 1, 10, 7]] });
}

describe("sparse image: the real hdiutil file", () => {
  const bytes = () => new Uint8Array(readFileSync(join(REAL, REAL_FILE)));

  it("gives the disk listed in corpus/real/README.md, with its HFS+ volume", async () => {
    const readme = readFileSync(join(REAL, "README.md"), "utf8");
    const row = readme.split("\n").find((l) => l.startsWith(`| ${REAL_FILE} `)) ?? "";
    expect(row).toContain(`| ${REAL_SIZE} | ${REAL_SHA} |`);
    const image = await openDmg(bytes());
    expect(image.size).toBe(REAL_SIZE);
    expect(image.container.kind).toBe("UDSP");
    expect(image.container.fields).toMatchObject({
      version: 3,
      bandSize: 1048576,
      bandsUsed: 12,
      bandsTotal: 100,
      diskSize: REAL_SIZE,
    });
    const hash = createHash("sha256");
    for await (const piece of image.stream()) hash.update(piece);
    expect(hash.digest("hex")).toBe(REAL_SHA);
    const disk = await image.read(0, HFS_HEADER + 512);
    // Apple Partition Map entries at sectors 1.., then "H+" version 4 in the HFS partition.
    expect(String.fromCharCode(disk[512], disk[513])).toBe("PM");
    const v = new DataView(disk.buffer, disk.byteOffset + HFS_HEADER);
    expect(v.getUint16(0)).toBe(0x482b);
    expect(v.getUint16(2)).toBe(4);
    await image.close();
  });

  it("validates, saying the sparse image has no checksums", async () => {
    const report = await validateDmg(join(REAL, REAL_FILE));
    expect(report.ok).toBe(true);
    expect(report.errors).toEqual([]);
    expect(report.warnings.map((w) => w.code)).toEqual([
      "CHECKSUM_ABSENT",
      "CHECKSUM_ABSENT",
      "CHECKSUM_ABSENT",
    ]);
  });

  it("named .dmg, is read with a NAME_MISLEADING warning", async () => {
    const { file } = cliSandboxOnce();
    const path = file("template.dmg", bytes());
    const image = await openDmg(path);
    expect(image.warnings.map((w) => w.code)).toContain("NAME_MISLEADING");
    await image.close();
    const report = await validateDmg(path);
    expect(report.ok).toBe(true);
    expect(report.warnings.map((w) => w.code)).toContain("NAME_MISLEADING");
    const plain = await openDmg(join(REAL, REAL_FILE));
    expect(plain.warnings.map((w) => w.code)).not.toContain("NAME_MISLEADING");
    await plain.close();
  });
});

const sandbox = cliSandbox("dmg-sparse-");
function cliSandboxOnce() {
  return sandbox;
}

describe("sparse image: the command line", () => {
  const real = join(REAL, REAL_FILE);

  it("check passes with the absent checksums as warnings", () => {
    const r = sandbox.cli(["check", real]);
    expect(r.status).toBe(0);
    expect(r.out + r.err).toMatch(/CHECKSUM_ABSENT/);
  });

  it("info shows the container and its fields", () => {
    const r = sandbox.cli(["info", real]);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/UDSP/);
    expect(r.out).toMatch(/bandsUsed/);
  });

  it("cat and extract give the disk", () => {
    const out = join(sandbox.tmp, "disk.img");
    const x = sandbox.cli(["extract", real, out]);
    expect(x.status).toBe(0);
    const disk = readFileSync(out);
    expect(sha(disk)).toBe(REAL_SHA);
    // The disk is larger than a test's pipe buffer: its first 4 MiB through cat.
    const r = sandbox.cli(["cat", real, "--length", String(4 * 1024 * 1024)]);
    expect(r.status).toBe(0);
    expect(sha(r.stdout)).toBe(sha(disk.subarray(0, 4 * 1024 * 1024)));
  });
});

describe("sparse image: built from the documented layout", () => {
  it("reads bands stored out of order, unused slots and absent bands as zeros", async () => {
    const { file, disk } = small();
    expect(await diskOf(file)).toEqual(disk);
    const report = await validateDmg(file);
    expect(report.ok).toBe(true);
  });

  it("reads a partial last band", async () => {
    const { file, disk } = buildSparse({ sectorsPerBand: 8, totalSectors: 21, nodes: [[3, 1]] });
    expect(disk.length).toBe(21 * 512);
    expect(await diskOf(file)).toEqual(disk);
  });

  it("follows the chain of index nodes", async () => {
    const first = new Array(1008).fill(0).map((_, i) => i + 1);
    const { file, disk } = buildSparse({
      sectorsPerBand: 1,
      totalSectors: 1100,
      nodes: [first, [1050, 0, 1009, 1100]],
    });
    const image = await openDmg(file);
    expect(image.container.fields.headerNodes).toBe(2);
    expect(image.container.fields.bandsUsed).toBe(1011);
    expect(await image.read(0, image.size)).toEqual(disk);
    await image.close();
  });

  it("splits bands longer than the chunk budget", async () => {
    const { file, disk } = buildSparse({ sectorsPerBand: 16, totalSectors: 64, nodes: [[2, 4]] });
    const image = await openDmg(file, { budget: { maxChunkSectors: 3 } });
    expect(await image.read(0, image.size)).toEqual(disk);
    await image.close();
  });

  it("reads an empty disk", async () => {
    const { file } = buildSparse({ sectorsPerBand: 8, totalSectors: 0, nodes: [[]] });
    const image = await openDmg(file);
    expect(image.size).toBe(0);
    await image.close();
  });
});

describe("sparse image: hostile headers", () => {
  /** The small image with `edit` applied. */
  const variant = (edit: (b: Uint8Array) => void) => {
    const { file } = small();
    edit(file);
    return file;
  };

  it.each([
    ["version 2", (b: Uint8Array) => setU32(b, 4, 2), "SPARSE_MALFORMED"],
    ["zero sectors per band", (b: Uint8Array) => setU32(b, 8, 0), "SPARSE_MALFORMED"],
    ["2^31 sectors per band", (b: Uint8Array) => setU32(b, 8, 2 ** 31), "SPARSE_MALFORMED"],
    [
      "a disk past 2^44 sectors",
      (b: Uint8Array) => {
        setU64(b, 28, 2n ** 45n);
        setU32(b, 16, 0);
      },
      "SPARSE_MALFORMED",
    ],
    ["disk sizes that disagree", (b: Uint8Array) => setU32(b, 16, 80), "SPARSE_MALFORMED"],
    [
      "a total sectors field above 2^53",
      (b: Uint8Array) => setU64(b, 28, 2n ** 60n),
      "FIELD_TOO_LARGE",
    ],
    ["a band number past the disk", (b: Uint8Array) => setU32(b, 64, 11), "SPARSE_MALFORMED"],
    ["a disk band stored twice", (b: Uint8Array) => setU32(b, 64 + 8, 3), "SPARSE_MALFORMED"],
    [
      "a band stored past the end of the file",
      (b: Uint8Array) => setU32(b, 64 + 4 * 9, 2),
      "TRUNCATED",
    ],
    [
      "a next node pointing into its bands",
      (b: Uint8Array) => setU64(b, 20, 4096n),
      "SPARSE_MALFORMED",
    ],
    [
      "a next node pointing outside the file",
      (b: Uint8Array) => setU64(b, 20, 2n ** 40n),
      "SPARSE_MALFORMED",
    ],
  ])("%s", async (_name, edit, code) => {
    const file = variant(edit);
    expect(await codeOf(openDmg(file))).toBe(code);
    const report = await validateDmg(file);
    expect(report.ok).toBe(false);
    expect(report.errors[0].code).toBe(code);
  });

  it("refuses a chain that loops back to an earlier node", async () => {
    const { file } = buildSparse({ sectorsPerBand: 1, totalSectors: 3000, nodes: [[1], [2], [3]] });
    // Nodes at 0, 4608 and 9216 (each with one 512-byte band after it): the last points back
    // at the one before it.
    setU64(file, 9216 + 12, 4608n);
    expect(await codeOf(openDmg(file))).toBe("SPARSE_MALFORMED");
  });

  it("refuses an index node without its signature", async () => {
    const { file } = buildSparse({ sectorsPerBand: 1, totalSectors: 3000, nodes: [[1], [2]] });
    file[4608] = 0;
    expect(await codeOf(openDmg(file))).toBe("SPARSE_MALFORMED");
  });

  it("refuses more nodes than the disk's bands could need", async () => {
    const nodes = Array.from({ length: 4 }, (_, i) => [i + 1]);
    const { file } = buildSparse({ sectorsPerBand: 1, totalSectors: 8, nodes });
    expect(await codeOf(openDmg(file))).toBe("SPARSE_MALFORMED");
  });

  it("refuses a file shorter than its header", async () => {
    const { file } = small();
    expect(await codeOf(openDmg(file.subarray(0, 2000)))).toBe("TRUNCATED");
  });

  it("bounds stored bands and disk size by the budgets", async () => {
    const { file } = small();
    expect(await codeOf(openDmg(file, { budget: { maxChunks: 2 } }))).toBe("BUDGET_CHUNKS");
    expect(await codeOf(openDmg(file, { budget: { maxImageBytes: 1024 } }))).toBe(
      "BUDGET_IMAGE_SIZE",
    );
  });

  it("fails only with DmgErrors whatever the header fields hold", async () => {
    const base = small().file;
    const fields = [4, 8, 12, 16, 20, 24, 28, 32, 64, 68, 72, 76, 80];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...fields), fc.integer({ min: 0, max: 2 ** 32 - 1 })), {
          minLength: 1,
          maxLength: 4,
        }),
        async (edits) => {
          const file = base.slice();
          for (const [at, v] of edits) setU32(file, at, v);
          try {
            const image = await openDmg(file);
            await image.read(0, Math.min(image.size, 64 * 1024));
            await image.close();
          } catch (e) {
            expect(e).toBeInstanceOf(DmgError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("sparse bundle: the core over band sources", () => {
  const open = (info: Uint8Array, bands: Map<number, Uint8Array>) =>
    openDmg(
      sparseBundleSource({
        info,
        bands: new Map([...bands].map(([n, b]) => [n, bytesSource(b)])),
      }),
    );

  it("reads bands in any order, missing bands and short bands as zeros", async () => {
    const bandSize = 4096;
    const size = 5 * bandSize;
    const bands = new Map<number, Uint8Array>([
      [3, bandBytes(3, bandSize)],
      [0, bandBytes(0, 1000)],
      [4, bandBytes(4, 700)],
    ]);
    const disk = new Uint8Array(size);
    for (const [n, b] of bands) disk.set(b, n * bandSize);
    const image = await open(bundleInfo(bandSize, size), bands);
    expect(image.container.kind).toBe("sparsebundle");
    expect(image.container.fields).toMatchObject({ bandsUsed: 3, bandsTotal: 5, diskSize: size });
    expect(await image.read(0, image.size)).toEqual(disk);
    await image.close();
  });

  it.each([
    [
      "another bundle type",
      bundleInfo(4096, 8192, { type: "com.example.other" }),
      "BUNDLE_MALFORMED",
    ],
    ["band-size 0", bundleInfo(0, 8192), "BUNDLE_MALFORMED"],
    ["band-size not whole sectors", bundleInfo(1000, 8192), "BUNDLE_MALFORMED"],
    ["size not whole sectors", bundleInfo(4096, 8193), "BUNDLE_MALFORMED"],
    ["no size", bundleInfo(4096, 8192, { omit: "size" }), "BUNDLE_MALFORMED"],
    [
      "an unknown backing store",
      bundleInfo(4096, 8192, { version: "<integer>9</integer>" }),
      "BUNDLE_MALFORMED",
    ],
    ["a size past the image budget", bundleInfo(4096, 2 ** 50), "BUDGET_IMAGE_SIZE"],
    [
      "XML that is not a plist",
      new TextEncoder().encode("<plist><dict><key>a</key></plist>"),
      "PLIST_STRUCTURE",
    ],
  ])("Info.plist with %s is refused", async (_name, info, code) => {
    expect(await codeOf(open(info, new Map()))).toBe(code);
  });

  it("refuses a band past the disk and a band longer than band-size", async () => {
    const info = bundleInfo(4096, 8192);
    expect(await codeOf(open(info, new Map([[2, new Uint8Array(10)]])))).toBe("BUNDLE_MALFORMED");
    expect(await codeOf(open(info, new Map([[0, new Uint8Array(4097)]])))).toBe("BUNDLE_MALFORMED");
  });

  it("property: any Info.plist values and band files give the model's disk or a DmgError", async () => {
    // Values as hdiutil writes them, near the checks' edges, and hostile ones.
    const value = fc.oneof(
      fc.constantFrom(0, 1, 511, 512, 4096, 8192, 2 ** 32, 2 ** 53, 2 ** 60),
      fc.nat({ max: 64 * 1024 }),
      fc.constantFrom(
        "<string>4096</string>",
        "<string>-1</string>",
        "<true/>",
        "<integer>1e3</integer>",
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        value,
        value,
        fc.array(fc.tuple(fc.nat(40), fc.nat(9000)), { maxLength: 6 }),
        async (bandSize, size, files) => {
          const bands = new Map(files.map(([n, len]) => [n, bandBytes(n, len)] as const));
          let image: Awaited<ReturnType<typeof openDmg>>;
          try {
            image = await open(bundleInfo(bandSize, size), bands);
          } catch (e) {
            expect(e).toBeInstanceOf(DmgError);
            return;
          }
          try {
            // It opened: the values were whole sectors, every band inside the disk and no
            // longer than a band, and the disk reads as the bands laid out, zeros elsewhere.
            expect(typeof bandSize).toBe("number");
            const disk = new Uint8Array(image.size);
            for (const [n, b] of bands) {
              const start = n * (bandSize as number);
              disk.set(b.subarray(0, Math.max(0, Math.min(b.length, disk.length - start))), start);
            }
            expect(await image.read(0, image.size)).toEqual(disk);
          } finally {
            await image.close();
          }
        },
      ),
      fcParams(80),
    );
  });
});

describe("sparse bundle: folders on disk", () => {
  let n = 0;
  const folder = () => join(sandbox.tmp, `b${n++}.sparsebundle`);

  it("opens, validates, cats and extracts through its path", async () => {
    const dir = folder();
    const disk = writeBundle(
      dir,
      8192,
      6 * 8192,
      new Map([
        [5, bandBytes(5, 8192)],
        [0, bandBytes(0, 3000)],
        [2, bandBytes(2, 8192)],
      ]),
    );
    expect(await diskOf(dir)).toEqual(disk);
    const report = await validateDmg(dir);
    expect(report.ok).toBe(true);
    expect(report.warnings.map((w) => w.code)).toContain("CHECKSUM_ABSENT");
    const cat = sandbox.cli(["cat", dir]);
    expect(cat.status).toBe(0);
    expect(sha(cat.stdout)).toBe(sha(disk));
    const check = sandbox.cli(["check", dir]);
    expect(check.status).toBe(0);
  });

  it("is one image to check when found in a folder, never walked for its bands", () => {
    const root = join(sandbox.tmp, "walk");
    writeBundle(join(root, "x.sparsebundle"), 4096, 8192, new Map([[1, bandBytes(1, 4096)]]));
    // A .dmg inside the bundle would be checked (and fail) if the bundle were walked.
    writeFileSync(join(root, "x.sparsebundle", "junk.dmg"), new Uint8Array(10));
    const r = sandbox.cli(["check", root]);
    expect(r.status).toBe(0);
    expect(r.out + r.err).toMatch(/x\.sparsebundle/);
    expect(r.out + r.err).not.toMatch(/junk\.dmg/);
  });

  it("refuses a band that is a symbolic link", async () => {
    const dir = folder();
    writeBundle(dir, 4096, 8192, new Map([[0, bandBytes(0, 4096)]]));
    const outside = join(sandbox.tmp, "secret");
    writeFileSync(outside, bandBytes(9, 100));
    symlinkSync(outside, join(dir, "bands", "1"));
    expect(await codeOf(openDmg(dir))).toBe("BUNDLE_MALFORMED");
  });

  it("refuses an Info.plist that is a symbolic link", async () => {
    const dir = folder();
    writeBundle(dir, 4096, 8192, new Map());
    const real = join(sandbox.tmp, `info${n}`);
    writeFileSync(real, bundleInfo(4096, 8192));
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "Info.plist"));
    symlinkSync(real, join(dir, "Info.plist"));
    expect(await codeOf(openDmg(dir))).toBe("BUNDLE_MALFORMED");
  });

  it.each([["0A"], ["01"], ["..x"], [".DS_Store"], ["1g"]])(
    "refuses a band file named %s",
    async (name) => {
      const dir = folder();
      writeBundle(dir, 4096, 8192, new Map());
      writeFileSync(join(dir, "bands", name), new Uint8Array(10));
      expect(await codeOf(openDmg(dir))).toBe("BUNDLE_MALFORMED");
    },
  );

  it("reads no name but a band number as one", () => {
    expect(bandNumber("../x")).toBeUndefined();
    expect(bandNumber("..")).toBeUndefined();
    expect(bandNumber("")).toBeUndefined();
    expect(bandNumber("-1")).toBeUndefined();
    expect(bandNumber("0")).toBe(0);
    expect(bandNumber("1f")).toBe(31);
  });

  it("refuses a band past the size, a folder as a band, and too many bands", async () => {
    const past = folder();
    writeBundle(past, 4096, 8192, new Map([[2, new Uint8Array(10)]]));
    expect(await codeOf(openDmg(past))).toBe("BUNDLE_MALFORMED");
    const sub = folder();
    writeBundle(sub, 4096, 8192, new Map());
    mkdirSync(join(sub, "bands", "1"));
    expect(await codeOf(openDmg(sub))).toBe("BUNDLE_MALFORMED");
    const many = folder();
    writeBundle(many, 512, 8192, new Map([0, 1, 2, 3].map((i) => [i, bandBytes(i, 512)])));
    expect(await codeOf(openDmg(many, { budget: { maxChunks: 3 } }))).toBe("BUDGET_CHUNKS");
  });

  it("refuses a folder that is no bundle as before (IO_ERROR)", async () => {
    const dir = join(sandbox.tmp, "plain");
    mkdirSync(dir);
    expect(await codeOf(openDmg(dir))).toBe("IO_ERROR");
  });
});
