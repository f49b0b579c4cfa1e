/**
 * Mutators for the hostile-input properties, one per class of ATTACKS.md, each with the error
 * codes its class may raise. This module holds the byte-level ones (trailer and table fields,
 * truncation, byte flips, checksums); prop-mutators-xml.ts holds the property-list ones and
 * prop-mutators-chunks.ts those that rearrange chunks or swap in bomb payloads.
 */
import fc from "fast-check";
import type { ErrorCode } from "../../src/index.js";
import type { Built } from "./prop-build.js";
import {
  BUDGET_DECLARED,
  BUDGET_WORK,
  CHUNK,
  CRC,
  DECODE,
  defineMutator,
  MAP,
  type Mutator,
  TABLE,
  TRAILER,
} from "./prop-mutator.js";
import { bombBudget, CHUNK_MUTATORS } from "./prop-mutators-chunks.js";
import { XML_MUTATORS } from "./prop-mutators-xml.js";
import {
  boundaryValues,
  getU64,
  KOLY,
  KOLY_U64,
  kolyOf,
  MISH,
  MISH_ENTRY,
  MISH_ENTRY_SIZE,
  MISH_HEADER,
  pick,
  rewriteTables,
  setU32,
  setU64,
  withKolyU64,
} from "./prop-rewrite.js";

const allTablesChecksummed = (b: Built) => b.spec.tables.every((t) => t.checksum);
const sectors = (b: Built) => b.size / 512;

/** A4, A9: boundary values in every 64-bit field of the trailer. */
export const trailerU64 = defineMutator({
  name: "trailer-u64",
  attacks: "A4, A8, A9",
  // The code signature's offset and length are trailer fields: what they point at is then
  // read as a signature superblob.
  codes: [TRAILER, MAP, ["CHUNK_RANGE", "CODESIGN_MALFORMED"]],
  params: fc.record({ field: fc.constantFrom(...KOLY_U64), value: fc.nat(9) }),
  apply(b, p) {
    const at = KOLY[p.field];
    const size = p.field === "sectorCount" ? sectors(b) : b.image.length;
    const orig = getU64(b.image, b.image.length - 512 + at);
    const v = boundaryValues(size, orig)[p.value];
    return { bytes: withKolyU64(b.image, at, v), reference: b, exact: true };
  },
});

const MISH_FIELDS = [
  ["header", "firstSector"],
  ["header", "sectorCount"],
  ["header", "dataOffset"],
  ["entry", "sector"],
  ["entry", "sectorCount"],
  ["entry", "offset"],
  ["entry", "length"],
] as const;

/** C17, D18: boundary values in every 64-bit field of the mish header and entries. */
export const mishU64 = defineMutator({
  name: "mish-u64",
  attacks: "C16, C17, D18, D22",
  codes: [TABLE, CHUNK, DECODE, BUDGET_DECLARED, BUDGET_WORK],
  params: fc.record({
    table: fc.nat(),
    field: fc.nat(MISH_FIELDS.length - 1),
    entry: fc.nat(),
    value: fc.nat(9),
  }),
  apply(b, p) {
    const [where, field] = MISH_FIELDS[p.field];
    const bytes = rewriteTables(b, (blobs) => {
      const blob = pick(blobs, p.table);
      const entries = (blob.length - MISH_HEADER) / MISH_ENTRY_SIZE;
      const at =
        where === "header"
          ? MISH[field as keyof typeof MISH]
          : MISH_HEADER +
            (p.entry % entries) * MISH_ENTRY_SIZE +
            MISH_ENTRY[field as keyof typeof MISH_ENTRY];
      const bySectors = field === "firstSector" || field === "sectorCount" || field === "sector";
      const size = bySectors ? sectors(b) : b.dataForkLength;
      setU64(blob, at, boundaryValues(size, getU64(blob, at))[p.value]);
    });
    return { bytes, reference: b, exact: true };
  },
});

/** A1: the file cut at structure boundaries and random points, with and without its trailer. */
export const truncate = defineMutator({
  name: "truncate",
  attacks: "A1",
  codes: [["NOT_UDIF", "TRUNCATED", "KOLY_VERSION", "KOLY_RANGE", "PLIST_MALFORMED"]],
  params: fc.record({
    variant: fc.constantFrom("cut", "keep-koly", "append"),
    boundary: fc.boolean(),
    point: fc.nat(),
    extra: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 4, max: 600 })),
  }),
  apply(b, p) {
    const img = b.image;
    const k = kolyOf(img);
    const kolyStart = img.length - 512;
    if (p.variant === "append") {
      // Up to 3 extra bytes keep the trailer in the 515-byte window (read, with a warning).
      const bytes = new Uint8Array(img.length + p.extra);
      bytes.set(img);
      return { bytes, reference: b, exact: true, reads: p.extra <= 3 };
    }
    const limit = p.variant === "cut" ? img.length : kolyStart;
    const edges = [
      [0, 1, 511, 512, 513, k.dataForkLength, k.rsrcForkOffset, k.xmlOffset, kolyStart],
      [kolyStart + 1, kolyStart + 8, kolyStart + 256, img.length - 3, img.length - 1],
      b.placed.map((c) => c.pos + (c.chunk.payload?.length ?? 0)),
      [k.rsrcForkOffset + k.rsrcForkLength, k.xmlOffset + k.xmlLength - 1],
    ]
      .flat()
      .filter((e) => e >= 0 && e < limit);
    const at = p.boundary ? pick(edges, p.point) : p.point % limit;
    if (p.variant === "cut") return { bytes: img.slice(0, at), reference: b, exact: true };
    const bytes = new Uint8Array(at + 512);
    bytes.set(img.subarray(0, at));
    bytes.set(img.subarray(kolyStart), at);
    return { bytes, reference: b, exact: true };
  },
});

const flipsArb = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
  minLength: 1,
  maxLength: 4,
});

/** Every class: one to four bytes changed anywhere in the file. */
export const flipAnywhere = defineMutator({
  name: "flip-anywhere",
  attacks: "A-F",
  codes: [TRAILER, MAP, TABLE, CHUNK, DECODE, CRC, BUDGET_DECLARED, BUDGET_WORK],
  params: flipsArb,
  apply(b, flips) {
    const bytes = b.image.slice();
    const at = flips.map(([n]) => n % bytes.length);
    flips.forEach(([, xor], i) => {
      bytes[at[i]] ^= xor;
    });
    // One flip cannot both change the disk and the checksum that covers it; several can.
    const inFork = at.every((a) => a < b.dataForkLength);
    const detect =
      flips.length === 1 && (allTablesChecksummed(b) || (inFork && b.spec.dataForkChecksum));
    return { bytes, reference: b, exact: false, detect };
  },
});

/** C15-C17, D18-D23: one to four bytes changed inside the mish tables (header and entries). */
export const flipMish = defineMutator({
  name: "flip-mish",
  attacks: "C15, C16, C17, D18, D19, D22, D23",
  codes: [TABLE, CHUNK, DECODE, CRC, BUDGET_DECLARED, BUDGET_WORK],
  params: fc.record({ table: fc.nat(), flips: flipsArb }),
  apply(b, p) {
    let hitsChecksum = false;
    const bytes = rewriteTables(b, (blobs) => {
      const blob = pick(blobs, p.table);
      for (const [n, xor] of p.flips) {
        const at = n % blob.length;
        blob[at] ^= xor;
        hitsChecksum ||= at >= MISH.checksum && at < MISH.checksum + 136;
      }
    });
    // The table's own CRC32 catches a changed disk unless a flip also reached that checksum.
    const detect = allTablesChecksummed(b) && !hitsChecksum;
    return { bytes, reference: b, exact: false, detect };
  },
});

/** B14, C15: one byte changed in the partition map (XML property list or resource fork). */
export const flipMap = defineMutator({
  name: "flip-map",
  attacks: "B12, B14, C15",
  codes: [MAP, TABLE, CHUNK, DECODE, CRC, BUDGET_DECLARED, BUDGET_WORK],
  params: fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  apply(b, p) {
    const k = kolyOf(b.image);
    const rsrc = k.rsrcForkLength;
    const n = p.at % (rsrc + k.xmlLength);
    const at = n < rsrc ? k.rsrcForkOffset + n : k.xmlOffset + n - rsrc;
    const bytes = b.image.slice();
    bytes[at] ^= p.xor;
    return { bytes, reference: b, exact: false, detect: allTablesChecksummed(b) };
  },
});

const CHECKSUM_TYPES = [0, 1, 3, 0x8000_0002, 0xffff_ffff];
const CHECKSUM_BITS = [0, 8, 31, 33, 1024, 1025, 0xffff_ffff];

/** F32, A7: a checksum's value, type or bit count changed, at each of the three levels. */
export const checksumFlip = defineMutator({
  name: "checksum",
  attacks: "A7, F32",
  codes: [CRC, ["CHECKSUM_TYPE"]],
  params: fc.record({
    level: fc.constantFrom("dataFork", "master", "table"),
    table: fc.nat(),
    op: fc.constantFrom("flip", "type", "bits"),
    bit: fc.nat(31),
    value: fc.nat(),
  }),
  apply(b, p) {
    const edit = (bytes: Uint8Array, at: number) => {
      if (p.op === "flip") bytes[at + 8 + (p.bit >> 3)] ^= 1 << (p.bit & 7);
      else if (p.op === "type") setU32(bytes, at, pick(CHECKSUM_TYPES, p.value));
      else setU32(bytes, at + 4, pick(CHECKSUM_BITS, p.value));
    };
    let bytes: Uint8Array;
    let present: boolean;
    const reports: ErrorCode[] = [];
    if (p.level === "table") {
      const t = p.table % b.spec.tables.length;
      bytes = rewriteTables(b, (blobs) => edit(blobs[t], MISH.checksum));
      present = b.spec.tables[t].checksum;
      reports.push("CRC_TABLE");
      // The master checksum covers the tables' stored checksums.
      if (b.spec.masterChecksum) reports.push("CRC_MASTER");
    } else {
      bytes = b.image.slice();
      edit(bytes, bytes.length - 512 + KOLY[`${p.level}Checksum`]);
      present = p.level === "master" ? b.spec.masterChecksum : b.spec.dataForkChecksum;
      reports.push(p.level === "master" ? "CRC_MASTER" : "CRC_DATA_FORK");
    }
    const flipped = p.op === "flip" && present;
    const reads = p.op === "flip";
    return { bytes, reference: b, exact: true, reads, reports: flipped ? reports : [] };
  },
});

/**
 * B12 in the resource fork: the 'blkx' type renamed, so the fork lists no tables. It should be
 * refused (RSRC_MALFORMED) as an XML map without `blkx` is (PLIST_STRUCTURE); the reader returns
 * an empty disk instead (known bug, corpus/regressions/rsrc-without-blkx.dmg).
 */
export const rsrcWithoutBlkx = defineMutator({
  name: "rsrc-no-blkx",
  attacks: "B12",
  codes: [["RSRC_MALFORMED"]],
  images: { layouts: ["rsrc"] },
  params: fc.constantFrom("clkx", "BLKX", "blk ", "\0\0\0\0"),
  apply(b, type) {
    const k = kolyOf(b.image);
    const bytes = b.image.slice();
    const fork = bytes.subarray(k.rsrcForkOffset, k.rsrcForkOffset + k.rsrcForkLength);
    // The type list sits in the map, after the data: the last 'blkx' in the fork.
    const at = Buffer.from(fork).lastIndexOf("blkx");
    for (let i = 0; i < 4; i++) fork[at + i] = type.charCodeAt(i);
    return { bytes, reference: b, exact: true, fails: ["RSRC_MALFORMED"] };
  },
});

/** The byte-level mutators. */
export const BYTE_MUTATORS: readonly Mutator[] = [
  trailerU64,
  mishU64,
  truncate,
  flipAnywhere,
  flipMap,
  flipMish,
  checksumFlip,
];

/**
 * Mutators that found bugs, now fixed, each with the file of corpus/regressions/ that
 * reproduces it. bomb-budget: decompression was counted after each piece was decoded, so an
 * operation stopped one piece (64 KiB) past maxDecompressedBytes. rsrc-no-blkx: a resource
 * fork without a 'blkx' type read as an empty disk.
 */
export const FIXED_BUGS: ReadonlyArray<[Mutator, string]> = [
  [bombBudget, "zlib-64m-over-32m-decompress-budget.dmg"],
  [rsrcWithoutBlkx, "rsrc-without-blkx.dmg"],
];

export { CHUNK_MUTATORS, XML_MUTATORS };
