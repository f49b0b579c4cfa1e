/**
 * fast-check arbitraries for valid images. An arbitrary yields a small recipe (seeds, sizes,
 * kinds), so a counterexample prints in a few lines; prop-build.ts turns it into chunks with
 * their decoded bytes and payloads and serializes those through buildDmg, keeping the expected
 * disk alongside.
 *
 * Chunk types are listed once in {@link CHUNK_KINDS}: a codec added to the reader gets its chunks
 * into every property with one line there (`encoded("lzfse", ULFO, encodeLzfse)`).
 */
import { deflateSync } from "node:zlib";
import fc from "fast-check";
import {
  isCompressed,
  isZeroFill,
  SECTOR_SIZE,
  UDBZ,
  UDCO,
  UDIG,
  UDRW,
  UDZE,
  UDZO,
  ULFO,
} from "../../src/format/types.js";
import type { ForkLayout } from "../../src/write/layout.js";
import { encodeLzfse } from "../../src/write/lzfse-encode.js";
import type { ChunkModel } from "../../src/write/model.js";
import { adcEncode } from "./adc-encode.js";
import {
  BZIP2_POOL_RECIPES,
  bzip2Pool,
  type ContentRecipe,
  fillContent,
  haveBzip2,
  type PartKind,
} from "./prop-payloads.js";

// ---------------------------------------------------------------------------------------------
// Recipes

/** One chunk as generated: which kind, how many sectors, a compression level, its content. */
export interface ChunkRecipe {
  kind: string;
  sectors: number;
  /** Compression level for encoders that take one; the pool index for pooled kinds. */
  level: number;
  content: ContentRecipe;
}

/** One partition table as generated. */
export interface TableRecipe {
  name: string;
  cfName: string | null;
  chunks: ChunkRecipe[];
  /** Wrap the chunks in `+beg` / `+end` comment entries. */
  comments: boolean;
  /** The table's data offset, in thousandths of where its payloads start in the data fork. */
  dataOffsetPermille: number;
  /** Store the table's CRC32 (else a type-0 checksum). */
  checksum: boolean;
}

/** A whole image as generated. */
export interface ImageRecipe {
  layout: ForkLayout;
  tables: TableRecipe[];
  dataForkChecksum: boolean;
  masterChecksum: boolean;
}

// ---------------------------------------------------------------------------------------------
// Chunk kinds

/** A chunk as laid out: the model's entry plus its decoded bytes (undefined: zeros). */
export interface DiskChunk extends ChunkModel {
  data?: Uint8Array;
}

/** One chunk type the arbitraries generate. */
export interface ChunkKind {
  name: string;
  type: number;
  recipe(maxSectors: number): fc.Arbitrary<ChunkRecipe>;
  make(r: ChunkRecipe): DiskChunk;
}

const PARTS: PartKind[] = ["zeros", "text", "random", "repeat"];

/** Content mixing zeros, text and random bytes. */
export const contentArb: fc.Arbitrary<ContentRecipe> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fff_ffff }),
  parts: fc.array(fc.tuple(fc.constantFrom(...PARTS), fc.integer({ min: 1, max: 8 })), {
    minLength: 1,
    maxLength: 4,
  }),
});

function recipeArb(name: string, maxSectors: number, maxLevel: number) {
  return fc.record({
    kind: fc.constant(name),
    sectors: fc.integer({ min: 1, max: maxSectors }),
    level: fc.integer({ min: 0, max: maxLevel }),
    content: contentArb,
  });
}

const decodedOf = (r: ChunkRecipe) => fillContent(r.content, r.sectors * SECTOR_SIZE);

/** Zero and ignore chunks: no payload, read as zeros. */
function zeroFill(name: string, type: number): ChunkKind {
  return {
    name,
    type,
    recipe: (max) => recipeArb(name, max, 0),
    make: (r) => ({ type, sectors: r.sectors }),
  };
}

/** A chunk stored as `encode(decoded, level)`, for codecs with an encoder at hand. */
function encoded(
  name: string,
  type: number,
  encode: (data: Uint8Array, level: number) => Uint8Array,
  maxLevel = 0,
): ChunkKind {
  return {
    name,
    type,
    recipe: (max) => recipeArb(name, max, maxLevel),
    make(r) {
      const data = decodedOf(r);
      return { type, sectors: r.sectors, data, payload: encode(data, r.level) };
    },
  };
}

/** A chunk whose payload comes from a pool compressed once per run (slow external encoders). */
function pooled(
  name: string,
  type: number,
  recipes: ReadonlyArray<{ sectors: number; content: ContentRecipe }>,
  pool: () => Array<{ payload: Uint8Array }>,
): ChunkKind {
  return {
    name,
    type,
    recipe(max) {
      const fits = recipes.flatMap((r, i) => (r.sectors <= max ? [i] : []));
      return fc.constantFrom(...fits).map((i) => ({
        kind: name,
        sectors: recipes[i].sectors,
        level: i,
        content: recipes[i].content,
      }));
    },
    make: (r) => ({
      type,
      sectors: r.sectors,
      data: decodedOf(r),
      payload: pool()[r.level].payload,
    }),
  };
}

/** Every chunk type with data the reader decodes. Add new codecs here, one line each. */
export const CHUNK_KINDS: readonly ChunkKind[] = [
  zeroFill("zero", UDZE),
  zeroFill("ignore", UDIG),
  encoded("raw", UDRW, (d) => d),
  encoded("zlib", UDZO, (d, level) => new Uint8Array(deflateSync(d, { level })), 9),
  ...(haveBzip2() ? [pooled("bzip2", UDBZ, BZIP2_POOL_RECIPES, bzip2Pool)] : []),
  encoded("adc", UDCO, (d) => adcEncode(d)),
  encoded("lzfse", ULFO, (d) => encodeLzfse(d, "lzvn")),
];

/** Names of the kinds whose chunks carry a payload, and of those that are compressed. */
export const PAYLOAD_KINDS = CHUNK_KINDS.filter((k) => !isZeroFill(k.type)).map((k) => k.name);
export const COMPRESSED_KINDS = CHUNK_KINDS.filter((k) => isCompressed(k.type)).map((k) => k.name);

/** The kind named `name`. */
export function chunkKind(name: string): ChunkKind {
  const k = CHUNK_KINDS.find((c) => c.name === name);
  if (!k) throw new Error(`no chunk kind ${name}`);
  return k;
}

// ---------------------------------------------------------------------------------------------
// Images

/** What {@link imageArb} may generate. */
export interface ImageArbOptions {
  maxTables?: number;
  maxChunks?: number;
  maxSectors?: number;
  layouts?: ForkLayout[];
  /** Kind names to draw chunks from (default: all). */
  kinds?: string[];
  /** Kind names one of which must appear at least once (inserted into the first table). */
  mustInclude?: readonly string[];
}

const chars = (lo: number, hi: number) =>
  fc.integer({ min: lo, max: hi }).map((c) => String.fromCharCode(c));

/** True for a character XML 1.0 can carry (controls other than tab, LF and CR cannot). */
function xmlChar(ch: string): boolean {
  const c = ch.codePointAt(0)!;
  return (c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) && c !== 0xfffe && c !== 0xffff;
}

/**
 * Table names each layout can carry: the resource fork holds Latin-1 bytes, XML any character
 * XML 1.0 can carry (tab, LF and CR included: CR is written as a character reference).
 */
function nameArb(layout: ForkLayout): fc.Arbitrary<string> {
  const special = fc.constantFrom("\t", "\n", "\r", "&", "<", ">", '"', "'", "]]>", " ");
  if (layout === "rsrc") return fc.string({ unit: chars(0, 0xff), maxLength: 40 });
  if (layout === "both") {
    return fc.string({ unit: fc.oneof(chars(0x20, 0xff), special), maxLength: 40 });
  }
  const grapheme = fc
    .string({ unit: "grapheme", minLength: 1, maxLength: 1 })
    .filter((g) => [...g].every(xmlChar));
  return fc.string({ unit: fc.oneof(grapheme, special), maxLength: 30 });
}

/** An arbitrary valid image recipe. */
export function imageArb(opts: ImageArbOptions = {}): fc.Arbitrary<ImageRecipe> {
  const maxSectors = opts.maxSectors ?? 64;
  const kinds = CHUNK_KINDS.filter((k) => opts.kinds === undefined || opts.kinds.includes(k.name));
  const chunk = fc.oneof(...kinds.map((k) => k.recipe(maxSectors)));
  const layouts = opts.layouts ?? ["xml", "rsrc", "both"];
  const base = fc.constantFrom(...layouts).chain((layout) =>
    fc.record({
      layout: fc.constant(layout),
      tables: fc.array(
        fc.record({
          name: nameArb(layout),
          cfName: layout === "rsrc" ? fc.constant(null) : fc.option(nameArb("xml")),
          chunks: fc.array(chunk, { minLength: 1, maxLength: opts.maxChunks ?? 6 }),
          comments: fc.boolean(),
          dataOffsetPermille: fc.oneof(fc.constant(0), fc.constant(1000), fc.nat(1000)),
          checksum: fc.boolean(),
        }),
        { minLength: 1, maxLength: opts.maxTables ?? 4 },
      ),
      dataForkChecksum: fc.boolean(),
      masterChecksum: fc.boolean(),
    }),
  );
  const must = opts.mustInclude;
  if (must === undefined) return base;
  return fc
    .tuple(base, fc.oneof(...must.map((k) => chunkKind(k).recipe(maxSectors))), fc.nat())
    .map(([img, extra, at]) => {
      const chunks = [...img.tables[0].chunks];
      chunks.splice(at % (chunks.length + 1), 0, extra);
      return { ...img, tables: [{ ...img.tables[0], chunks }, ...img.tables.slice(1)] };
    });
}

// ---------------------------------------------------------------------------------------------
// Ranges

/** A read range as generated; {@link resolveRange} places it on a given disk. */
export interface RangeRecipe {
  /** How the start is chosen: anywhere, near a chunk boundary, on a sector, or near the end. */
  mode: "any" | "boundary" | "sector" | "tail";
  start: number;
  length: number;
  /** Offset from the chosen boundary (-3..3). */
  delta: number;
}

export const rangeArb: fc.Arbitrary<RangeRecipe> = fc.record({
  mode: fc.constantFrom("any", "boundary", "sector", "tail"),
  start: fc.nat(),
  length: fc.oneof(fc.nat(600), fc.nat(70_000), fc.nat()),
  delta: fc.integer({ min: -3, max: 3 }),
});
