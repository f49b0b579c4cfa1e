/**
 * One regression per class of hostile input (ATTACKS.md sections A-D), each asserting the exact
 * outcome: a correct read (with the warning an honest quirk deserves) or a DmgError code.
 */
import { describe, expect, it } from "vitest";
import { KOLY_FIELD } from "../src/format/koly.js";
import { COMMENT, TERMINATOR, UDIG, UDRW, UDZE } from "../src/format/types.js";
import { DmgError, type ErrorCode, openDmg, validateDmg } from "../src/index.js";
import { buildDmg, type ImageModel } from "../src/write/model.js";
import {
  kolyField,
  kolyOffset,
  patchKoly,
  pattern,
  smallImage,
  smallModel,
  withXml,
  xmlOf,
  zlibChunk,
} from "./helpers/hostile.js";

async function rejects(bytes: Uint8Array, code: ErrorCode, budget = {}): Promise<DmgError> {
  const err = await openDmg(bytes, { budget })
    .then(async (img) => {
      await img.read(0, img.size);
      return undefined;
    })
    .catch((e) => e);
  expect(err, `expected ${code}`).toBeInstanceOf(DmgError);
  expect((err as DmgError).code).toBe(code);
  return err as DmgError;
}

async function readsWith(bytes: Uint8Array, disk: Uint8Array, warning?: string, budget = {}) {
  const img = await openDmg(bytes, { budget });
  expect(await img.read(0, img.size)).toEqual(disk);
  if (warning) expect(img.warnings.map((w) => w.code)).toContain(warning);
  return img;
}

function model(mutate: (m: ImageModel) => void): Uint8Array {
  const m = smallModel();
  mutate(m);
  return buildDmg(m);
}

const { image, disk } = smallImage();
const KOLY = {
  ...KOLY_FIELD,
  /** The bit count of the data fork checksum struct (after its type). */
  dataForkChecksumBits: KOLY_FIELD.dataForkChecksum + 4,
};

describe("A. trailer", () => {
  it("A1: shorter than 512 bytes, no koly, koly inside the 515-byte tail", async () => {
    await rejects(image.subarray(0, 300), "NOT_UDIF");
    await rejects(new Uint8Array(4096), "NOT_UDIF");
    const tail = new Uint8Array(image.length + 2);
    tail.set(image);
    await readsWith(tail, disk, "KOLY_IN_TAIL");
  });

  it("A2: koly at offset 0, and a second koly inside the data", async () => {
    const koly = image.slice(kolyOffset(image));
    const v = new DataView(koly.buffer);
    const moved = new Uint8Array(image.length);
    moved.set(koly, 0);
    moved.set(image.subarray(0, image.length - 512), 512);
    v.setBigUint64(KOLY.dataForkOffset, BigInt(kolyField(image, KOLY.dataForkOffset) + 512));
    v.setBigUint64(KOLY.xmlOffset, BigInt(kolyField(image, KOLY.xmlOffset) + 512));
    moved.set(koly, 0);
    await readsWith(moved, disk, "KOLY_AT_START");
    const raw = pattern(1024);
    raw.set(image.subarray(kolyOffset(image), kolyOffset(image) + 512), 0);
    const twice = buildDmg({
      tables: [{ name: "raw", chunks: [{ type: UDRW, sectors: 2, payload: raw }], decoded: raw }],
    });
    await readsWith(twice, raw);
  });

  it("A3: version not 4, header size not 512", async () => {
    await rejects(patchKoly(image, KOLY.version, 5, 4), "KOLY_VERSION");
    await rejects(patchKoly(image, KOLY.headerSize, 500, 4), "KOLY_VERSION");
  });

  it("A4: fork ranges outside the file, overlapping, or wrapping 2^64", async () => {
    await rejects(patchKoly(image, KOLY.dataForkLength, image.length), "KOLY_RANGE");
    await rejects(patchKoly(image, KOLY.xmlOffset, 0), "KOLY_RANGE");
    const wrap = patchKoly(
      patchKoly(image, KOLY.xmlOffset, 0xffffffffffffffffn),
      KOLY.xmlLength,
      2,
    );
    await rejects(wrap, "FIELD_TOO_LARGE");
  });

  it("A5: XML length 0 with no resource fork; XML over the budget", async () => {
    await rejects(patchKoly(image, KOLY.xmlLength, 0), "NO_PARTITION_MAP");
    await rejects(image, "BUDGET_PLIST_BYTES", { maxPlistBytes: 100 });
  });

  it("A6: one segment of a set presented alone", async () => {
    await rejects(patchKoly(image, KOLY.segmentCount, 2, 4), "KOLY_SEGMENTED");
  });

  it("A7: checksum bit count above 1024, unknown checksum type", async () => {
    await rejects(patchKoly(image, KOLY.dataForkChecksumBits, 4096, 4), "CHECKSUM_TYPE");
    const report = await validateDmg(patchKoly(image, KOLY.masterChecksum, 9, 4));
    expect(report.ok).toBe(true);
    expect(report.warnings.map((w) => w.code)).toContain("CHECKSUM_UNKNOWN");
  });

  it("A8: trailer sector count disagrees with the tables (a real file says 0)", async () => {
    await readsWith(patchKoly(image, KOLY.sectorCount, 0), disk, "SECTOR_COUNT_MISMATCH");
  });

  it("A9: 64-bit fields above 2^53-1", async () => {
    await rejects(patchKoly(image, KOLY.dataForkLength, 0x0020000000000001n), "FIELD_TOO_LARGE");
    await rejects(patchKoly(image, KOLY.sectorCount, 0x0020000000000001n), "FIELD_TOO_LARGE");
  });
});

describe("B. property list", () => {
  const xml = xmlOf(image);
  it("B10: entity declarations, SYSTEM entities", async () => {
    const laughs = `<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><plist>&b;</plist>`;
    await rejects(withXml(image, laughs), "PLIST_DOCTYPE");
    const system = `<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY x SYSTEM "file:///etc/passwd">]><plist>&x;</plist>`;
    await rejects(withXml(image, system), "PLIST_DOCTYPE");
  });

  it("B11: deep nesting, too many tables, huge data", async () => {
    const deep = `<?xml version="1.0"?><plist>${"<array>".repeat(5000)}${"</array>".repeat(5000)}</plist>`;
    await rejects(withXml(image, deep), "PLIST_STRUCTURE");
    const many = buildDmg({
      tables: Array.from({ length: 6 }, (_, i) => ({
        name: `t${i}`,
        chunks: [{ type: UDZE, sectors: 1 }],
      })),
    });
    await rejects(many, "BUDGET_TABLES", { maxTables: 5 });
  });

  it("B12: blkx missing, <string> where <data> belongs", async () => {
    await rejects(
      withXml(image, xml.replace("<key>blkx</key>", "<key>blkz</key>")),
      "PLIST_STRUCTURE",
    );
    await rejects(
      withXml(image, xml.replace(/<data>([^<]*)<\/data>/, "<string>$1</string>")),
      "PLIST_STRUCTURE",
    );
  });

  it("B13: broken base64", async () => {
    await rejects(
      withXml(image, xml.replace(/<data>\s*([A-Za-z0-9+/]{8})/, "<data>$1*")),
      "PLIST_BASE64",
    );
    await rejects(
      withXml(image, xml.replace(/<data>\s*([A-Za-z0-9+/]{8})/, "<data>$1=")),
      "PLIST_BASE64",
    );
  });

  it("B14: unterminated, NUL, invalid UTF-8; a length 1-2 bytes off is read", async () => {
    await rejects(withXml(image, xml.replace("</plist>", "")), "PLIST_MALFORMED");
    await rejects(withXml(image, xml.replace("<dict>", "<dict>\0")), "PLIST_MALFORMED");
    const bad = new TextEncoder().encode(xml.replace("<dict>", "<dict><!--X-->"));
    bad[bad.indexOf(0x58)] = 0xff;
    await rejects(withXml(image, bad), "PLIST_MALFORMED");
    const end = xml.lastIndexOf("</plist>") + "</plist>".length;
    await readsWith(patchKoly(image, KOLY.xmlLength, end - 1), disk, "PLIST_LENGTH_OFF");
    await readsWith(patchKoly(image, KOLY.xmlLength, end - 2), disk, "PLIST_LENGTH_OFF");
    await rejects(patchKoly(image, KOLY.xmlLength, end - 3), "PLIST_MALFORMED");
    // Too long by 1-2 bytes: the length runs into the trailer.
    const len = kolyField(image, KOLY.xmlLength);
    await readsWith(patchKoly(image, KOLY.xmlLength, len + 2), disk, "PLIST_LENGTH_OFF");
    await rejects(patchKoly(image, KOLY.xmlLength, len + 3), "KOLY_RANGE");
    // NUL padding after </plist> inside the declared length is blank, not XML.
    const padded = new TextEncoder().encode(`${xml}\0\0\0\0`);
    await readsWith(withXml(image, padded), disk);
  });
});

describe("C. tables", () => {
  it("C15: mish blob too short, count not matching its length, the 32-bit wrap", async () => {
    const xml = xmlOf(image);
    await rejects(
      withXml(image, xml.replace(/<data>[^<]*<\/data>/, "<data>bWlzaAAAAAE=</data>")),
      "MISH_MALFORMED",
    );
    const blob = /<data>([^<]*)<\/data>/.exec(xml)![1].replace(/\s/g, "");
    const bytes = Uint8Array.from(atob(blob), (c) => c.charCodeAt(0));
    for (const count of [bytes.length, 0x06666668]) {
      const b = bytes.slice();
      new DataView(b.buffer).setUint32(0xc8, count);
      await rejects(
        withXml(
          image,
          xml.replace(/<data>[^<]*<\/data>/, `<data>${btoa(String.fromCharCode(...b))}</data>`),
        ),
        "MISH_MALFORMED",
      );
    }
    const sig = bytes.slice();
    sig[0] = 0x4d;
    await rejects(
      withXml(
        image,
        xml.replace(/<data>[^<]*<\/data>/, `<data>${btoa(String.fromCharCode(...sig))}</data>`),
      ),
      "MISH_MALFORMED",
    );
  });

  it("C16: tables overlapping or leaving gaps", async () => {
    const two = (second: number) =>
      buildDmg({
        tables: [
          { name: "a", chunks: [{ type: UDZE, sectors: 4 }] },
          { name: "b", chunks: [{ type: UDZE, sectors: 4 }], firstSector: second },
        ],
      });
    await rejects(two(2), "TABLE_LAYOUT");
    await rejects(two(6), "TABLE_LAYOUT");
    await readsWith(two(4), new Uint8Array(8 * 512));
  });

  it("C17: table data offset plus chunk offset outside the data fork", async () => {
    const far = (dataOffset: number, offset: number) =>
      buildDmg({
        tables: [
          {
            name: "far",
            dataOffset,
            terminator: false,
            chunks: [
              { ...zlibChunk(2).chunk, offset },
              { type: TERMINATOR, sectors: 0, sector: 2, offset: 0, length: 0 },
            ],
          },
        ],
      });
    await rejects(far(1 << 20, 0), "CHUNK_RANGE");
    await rejects(far(0, 1 << 20), "CHUNK_RANGE");
    await rejects(far(Number.MAX_SAFE_INTEGER - 10, 0), "CHUNK_RANGE");
    await rejects(far(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), "CHUNK_RANGE");
  });
});

describe("D. chunks", () => {
  it("D18: sector plus count overflowing 2^44 sectors (x512 past 2^53)", async () => {
    await rejects(
      model((m) => m.tables[0].chunks.push({ type: UDZE, sectors: 2 ** 50 })),
      "CHUNK_LAYOUT",
    );
  });

  it("D19: chunks out of order, overlapping, leaving gaps", async () => {
    await rejects(
      model((m) => (m.tables[0].chunks[1].sector = 2)),
      "CHUNK_LAYOUT",
    );
    await rejects(
      model((m) => (m.tables[0].chunks[1].sector = 5)),
      "CHUNK_LAYOUT",
    );
    await rejects(
      model((m) => (m.tables[0].chunks[1].sector = 0)),
      "CHUNK_LAYOUT",
    );
  });

  it("D20: payloads outside the data fork, or shared by several chunks", async () => {
    await rejects(
      model((m) => (m.tables[0].chunks[0].offset = 1 << 30)),
      "CHUNK_RANGE",
    );
    const shared = model((m) => {
      m.tables[0].chunks[1].offset = 0;
      m.tables[0].chunks[1].length = m.tables[0].chunks[0].payload!.length;
    });
    await rejects(shared, "CHUNK_RANGE");
  });

  it("D21: a zero chunk claiming 2^40 sectors is described, never materialized", async () => {
    const huge = buildDmg({
      tables: [{ name: "sparse", chunks: [{ type: UDIG, sectors: 2 ** 40 }] }],
    });
    await rejects(huge, "BUDGET_IMAGE_SIZE");
    const img = await openDmg(huge, { budget: { maxImageBytes: 2 ** 50 } });
    expect(img.size).toBe(2 ** 49);
    expect(await img.read(img.size - 4096, 4096)).toEqual(new Uint8Array(4096));
    const report = await validateDmg(huge, { budget: { maxImageBytes: 2 ** 50 } });
    expect(report.errors).toEqual([]);
    expect(report.cost.bytesDecompressed).toBe(0);
  });

  it("D22: compressed length 0 with sectors; raw length not sectors x 512", async () => {
    await rejects(
      model((m) => (m.tables[0].chunks[0].length = 0)),
      "CHUNK_LENGTH",
    );
    const raw = pattern(1024);
    await rejects(
      buildDmg({ tables: [{ name: "r", chunks: [{ type: UDRW, sectors: 3, payload: raw }] }] }),
      "CHUNK_LENGTH",
    );
  });

  it("D23: unknown types, a comment with sectors, a missing or misplaced terminator", async () => {
    await rejects(
      model((m) => (m.tables[0].chunks[2].type = 0x12345678)),
      "CHUNK_TYPE_UNKNOWN",
    );
    await rejects(
      model((m) => m.tables[0].chunks.push({ type: COMMENT, sectors: 1 })),
      "CHUNK_TERMINATOR",
    );
    await rejects(
      model((m) => (m.tables[0].terminator = false)),
      "CHUNK_TERMINATOR",
    );
    await rejects(
      model((m) => m.tables[0].chunks.splice(1, 0, { type: TERMINATOR, sectors: 0 })),
      "CHUNK_TERMINATOR",
    );
  });

  it("D24: chunks over the per-chunk budgets", async () => {
    await rejects(image, "BUDGET_CHUNK_SECTORS", { maxChunkSectors: 3 });
    await rejects(image, "BUDGET_CHUNK_COMPRESSED", { maxChunkCompressedBytes: 10 });
    await rejects(image, "BUDGET_CHUNKS", { maxChunks: 2 });
  });
});

describe("E-F. payloads and whole image", () => {
  it("E25: a chunk inflating past or short of its sector count", async () => {
    const big = zlibChunk(4);
    await rejects(
      buildDmg({ tables: [{ name: "o", chunks: [{ ...big.chunk, sectors: 3 }] }] }),
      "DECODE_OVERRUN",
    );
    await rejects(
      buildDmg({ tables: [{ name: "s", chunks: [{ ...big.chunk, sectors: 5 }] }] }),
      "DECODE_SHORT",
    );
  });

  it("F31: the decompressed-bytes budget bounds one operation", async () => {
    const report = await validateDmg(image, { budget: { maxDecompressedBytes: 1000 } });
    expect(report.ok).toBe(false);
    expect(report.overBudget).toBe(true);
    expect(report.errors[0].code).toBe("BUDGET_DECOMPRESSED");
  });

  it("F31: a working-memory budget too small for validation is a finding, not a throw", async () => {
    const report = await validateDmg(image, { budget: { maxWorkingMemory: 100 } });
    expect(report.ok).toBe(false);
    expect(report.overBudget).toBe(true);
    expect(report.errors.map((e) => e.code)).toContain("BUDGET_WORKING_MEMORY");
  });

  it("F32: checksum mismatches at each level", async () => {
    const flipped = image.slice();
    flipped[kolyOffset(image) + 88] ^= 1; // data fork CRC value
    const r1 = await validateDmg(flipped);
    expect(r1.errors.map((e) => e.code)).toEqual(["CRC_DATA_FORK"]);
    const badTable = model((m) => {
      const d = m.tables[0].decoded!.slice();
      d[0] ^= 1;
      m.tables[0].decoded = d;
    });
    const r2 = await validateDmg(badTable);
    expect(r2.errors.map((e) => e.code)).toContain("CRC_TABLE");
    const badMaster = image.slice();
    badMaster[kolyOffset(image) + 360] ^= 1;
    const r3 = await validateDmg(badMaster);
    expect(r3.errors.map((e) => e.code)).toEqual(["CRC_MASTER"]);
  });

  it("valid image validates with every checksum ok", async () => {
    const report = await validateDmg(image);
    expect(report.errors).toEqual([]);
    expect(report.checksums).toEqual({ dataFork: "ok", tables: ["ok"], master: "ok" });
    // Two zlib chunks of 4 and 3 sectors were decoded; the zero chunk costs nothing.
    expect(report.cost.bytesDecompressed).toBe(7 * 512);
    expect(report.cost.chunksDecoded).toBe(2);
  });
});
