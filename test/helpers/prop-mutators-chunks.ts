/**
 * Mutators of the chunks (ATTACKS.md D19-D21, E25-E27): duplicated, swapped, shifted and
 * overlapping entries; zero and ignore chunks claiming 2^40 sectors; decompression bombs; and
 * byte flips inside payloads. They edit the image's spec and re-serialize it, so the hostile file
 * is otherwise consistent (its checksums describe the chunks as the model has them).
 */
import fc from "fast-check";
import { COMMENT, UDBZ, UDCO, UDIG, UDZE, UDZO } from "../../src/format/types.js";
import type { ErrorCode } from "../../src/index.js";
import { COMPRESSED_KINDS, type DiskChunk, PAYLOAD_KINDS } from "./arbitraries.js";
import { assemble, type Built, type ImageSpec } from "./prop-build.js";
import { BUDGET_WORK, CHUNK, CRC, DECODE, defineMutator, type Mutator } from "./prop-mutator.js";
import type { Mutation } from "./prop-outcome.js";
import { adcBackrefBeforeStart, adcBomb, bzip2Bomb, haveBzip2, zlibBomb } from "./prop-payloads.js";
import { pick } from "./prop-rewrite.js";

/** A copy of a spec whose tables and chunks can be edited. */
function cloneSpec(s: ImageSpec): ImageSpec {
  return { ...s, tables: s.tables.map((t) => ({ ...t, chunks: t.chunks.map((c) => ({ ...c })) })) };
}

/** Where the chunks of table `t` landed: entry -> [relative sector, relative payload offset]. */
function placement(b: Built, t: number): Map<number, { sector: number; offset: number }> {
  const first = b.tables[t].firstSector;
  const dataOffset = b.spec.tables[t].dataOffset;
  const out = new Map<number, { sector: number; offset: number }>();
  for (const p of b.placed) {
    if (p.table === t) out.set(p.entry, { sector: p.sector - first, offset: p.pos - dataOffset });
  }
  return out;
}

const isData = (c: DiskChunk) => c.type !== COMMENT;
const hasPayload = (c: DiskChunk) => (c.payload?.length ?? 0) > 0;

/** Entries of `chunks` matching `f`. */
const entriesWhere = (chunks: DiskChunk[], f: (c: DiskChunk) => boolean) =>
  chunks.flatMap((c, i) => (f(c) ? [i] : []));

const SHUFFLES = ["duplicate", "swap-sectors", "swap-payloads", "shift-sector", "overlap"] as const;

/** D19, D20: entries duplicated (many pointing at one payload), swapped, shifted, overlapping. */
export const chunkShuffle = defineMutator({
  name: "chunk-shuffle",
  attacks: "D19, D20",
  codes: [CHUNK, DECODE, CRC, BUDGET_WORK],
  images: { mustInclude: PAYLOAD_KINDS },
  params: fc.record({
    table: fc.nat(),
    op: fc.constantFrom(...SHUFFLES),
    i: fc.nat(),
    j: fc.nat(),
    copies: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 64 })),
  }),
  apply(b, p): Mutation {
    const spec = cloneSpec(b.spec);
    const withPayloads = spec.tables.flatMap((t, i) => (t.chunks.some(hasPayload) ? [i] : []));
    const payloadOp = p.op === "swap-payloads" || p.op === "overlap";
    const ti = payloadOp ? pick(withPayloads, p.table) : p.table % spec.tables.length;
    const chunks = spec.tables[ti].chunks;
    const at = placement(b, ti);
    const data = entriesWhere(chunks, isData);
    const payloads = entriesWhere(chunks, hasPayload);
    const rebuilt = (m: Partial<Mutation>): Mutation => {
      const built = assemble(spec);
      return { bytes: built.image, reference: built, exact: true, ...m };
    };
    const k = pick(payloadOp ? payloads : data, p.i);
    const c = chunks[k];
    if (p.op === "duplicate") {
      // Copies point at the original's payload; zero-fill copies are honest chunks.
      const copy: DiskChunk = hasPayload(c)
        ? { ...c, payload: undefined, offset: at.get(k)!.offset, length: c.payload!.length }
        : { ...c };
      chunks.splice(k + 1, 0, ...Array.from({ length: p.copies }, () => ({ ...copy })));
      return rebuilt({ fails: hasPayload(c) ? ["CHUNK_RANGE"] : undefined });
    }
    const others = (payloadOp ? payloads : data).filter((e) => e !== k);
    if (p.op === "swap-sectors" && others.length > 0) {
      const k2 = pick(others, p.j);
      chunks[k].sector = at.get(k2)!.sector;
      chunks[k2].sector = at.get(k)!.sector;
      return rebuilt({ fails: ["CHUNK_LAYOUT"] });
    }
    if (p.op === "swap-payloads" && others.length > 0) {
      const k2 = pick(others, p.j);
      const c2 = chunks[k2];
      chunks[k] = { ...c, offset: at.get(k2)!.offset, length: c2.payload!.length };
      chunks[k2] = { ...c2, offset: at.get(k)!.offset, length: c.payload!.length };
      // The disk a reader gives when each decodes the other's payload: only sure when the two
      // chunks have the same type and size.
      const ref = cloneSpec(spec);
      ref.tables[ti].chunks[k] = { ...c, data: c2.data, payload: c2.payload };
      ref.tables[ti].chunks[k2] = { ...c2, data: c.data, payload: c.payload };
      const alike = c.type === c2.type && c.sectors === c2.sectors;
      const detect = spec.tables[ti].checksum;
      return { bytes: assemble(spec).image, reference: assemble(ref), exact: alike, detect };
    }
    if (p.op === "overlap" && hasPayload(c)) {
      // One byte into the previous payload, or (for the first) into the next or past the end.
      const off = at.get(k)!.offset;
      chunks[k] = { ...c, offset: off > 0 ? off - 1 : off + 1, length: c.payload!.length };
      return rebuilt({ fails: ["CHUNK_RANGE"] });
    }
    // shift-sector, and the fallback when a table has too few chunks for the others.
    const d = pick(data, p.i);
    const s = at.get(d)!.sector;
    chunks[d].sector = s > 0 && p.j % 2 === 0 ? s - 1 : s + 1;
    return rebuilt({ fails: ["CHUNK_LAYOUT"] });
  },
});

/** Sector counts a zero or ignore chunk claims: 2^40 and around, up to past 2^44. */
const HUGE = [2 ** 40, 2 ** 40 + 1, 2 ** 42 + 7, 2 ** 44 - 1, 2 ** 44];

/** Parameters of {@link withHugeZero}. */
export interface HugeParams {
  table: number;
  at: number;
  ignore: boolean;
  sectors: number;
}

export const hugeParams: fc.Arbitrary<HugeParams> = fc.record({
  table: fc.nat(),
  at: fc.nat(),
  ignore: fc.boolean(),
  sectors: fc.nat(HUGE.length - 1).map((i) => HUGE[i]),
});

/** The image with a zero (or ignore) chunk of `p.sectors` sectors inserted. */
export function withHugeZero(b: Built, p: HugeParams): Built {
  const spec = cloneSpec(b.spec);
  const chunks = spec.tables[p.table % spec.tables.length].chunks;
  chunks.splice(p.at % (chunks.length + 1), 0, {
    type: p.ignore ? UDIG : UDZE,
    sectors: p.sectors,
  });
  return assemble(spec);
}

/** What a huge zero chunk may raise: past 2^44 sectors a layout error, else only a budget. */
export const HUGE_FAILS: readonly ErrorCode[] = [
  "BUDGET_IMAGE_SIZE",
  "CHUNK_LAYOUT",
  "TABLE_LAYOUT",
];

/** D21: zero and ignore chunks claiming 2^40 sectors and more; the small budget refuses them. */
export const hugeZero = defineMutator({
  name: "huge-zero",
  attacks: "D21",
  codes: [HUGE_FAILS],
  params: hugeParams,
  apply(b, p) {
    const built = withHugeZero(b, p);
    return { bytes: built.image, reference: built, exact: true, fails: HUGE_FAILS };
  },
});

const BOMBS = ["zlib", "adc", "adc-backref", ...(haveBzip2() ? ["bzip2"] : [])];

/**
 * E25-E27: bombs declared as a few sectors; with `whole`, zlib and bzip2 bombs declared as all
 * they expand to (64 MiB: honest, but over the 32 MiB decompression budget, F31).
 */
function bombMutator(whole: boolean): Mutator {
  return defineMutator({
    name: whole ? "bomb-budget" : "bomb",
    attacks: whole ? "F31" : "E25, E26, E27",
    codes: [
      whole ? ["BUDGET_DECOMPRESSED"] : ["DECODE_OVERRUN", "DECODE_TRAILING", "DECODE_CORRUPT"],
    ],
    params: fc.record({
      codec: fc.constantFrom(...(whole ? BOMBS.filter((c) => !c.startsWith("adc")) : BOMBS)),
      table: fc.nat(),
      at: fc.nat(),
      declared: fc.integer({ min: 1, max: 64 }),
      distance: fc.integer({ min: 2, max: 65536 }),
    }),
    apply(b, p) {
      const spec = cloneSpec(b.spec);
      const chunks = spec.tables[p.table % spec.tables.length].chunks;
      let chunk: DiskChunk;
      let fails: Mutation["fails"] = ["DECODE_OVERRUN"];
      if (p.codec === "adc") {
        chunk = { type: UDCO, sectors: p.declared, payload: adcBomb(20_000) };
        // ADC has no end marker: when a match ends exactly at the declared size (512 x 53 =
        // 1 + 67 x 405), what is left is input after the end rather than output past it.
        fails = ["DECODE_OVERRUN", "DECODE_TRAILING"];
      } else if (p.codec === "adc-backref") {
        const payload = adcBackrefBeforeStart(p.distance, 4 + (p.distance % 64));
        chunk = { type: UDCO, sectors: p.declared, payload };
        fails = ["DECODE_CORRUPT"];
      } else {
        const payload = p.codec === "zlib" ? zlibBomb(64) : bzip2Bomb(64);
        const type = p.codec === "zlib" ? UDZO : UDBZ;
        chunk = { type, sectors: whole ? (64 << 20) / 512 : p.declared, payload };
        if (whole) fails = ["BUDGET_DECOMPRESSED"];
      }
      chunks.splice(p.at % (chunks.length + 1), 0, chunk);
      const built = assemble(spec);
      return { bytes: built.image, reference: built, exact: true, fails };
    },
  });
}

export const bomb = bombMutator(false);
export const bombBudget = bombMutator(true);

/** E25-E27, D22: one byte changed inside a chunk's payload. */
export const flipPayload = defineMutator({
  name: "flip-payload",
  attacks: "E25, E26, E27",
  codes: [DECODE, CRC, BUDGET_WORK],
  images: { mustInclude: [...COMPRESSED_KINDS, "raw"] },
  params: fc.record({ chunk: fc.nat(), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  apply(b, p) {
    const c = pick(
      b.placed.filter((x) => hasPayload(x.chunk)),
      p.chunk,
    );
    const bytes = b.image.slice();
    bytes[c.pos + (p.at % c.chunk.payload!.length)] ^= p.xor;
    const detect = b.spec.dataForkChecksum || b.spec.tables[c.table].checksum;
    return { bytes, reference: b, exact: false, detect };
  },
});

/** The chunk mutators. */
export const CHUNK_MUTATORS: readonly Mutator[] = [chunkShuffle, hugeZero, bomb, flipPayload];
