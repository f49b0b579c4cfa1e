/**
 * Hostile images beyond the attack catalogue's first classes (G35-G47 in docs/ATTACKS.md),
 * built small and deterministic: the tests, the regression inputs of corpus/regressions/ and
 * the fuzz seeds all come from here.
 */
import { deflateSync } from "node:zlib";
import { DEFAULT_BUDGET } from "../../src/core/limits.js";
import { KOLY_FIELD } from "../../src/format/koly.js";
import { MISH_HEADER_SIZE } from "../../src/format/mish.js";
import { parseResourceFork } from "../../src/format/rsrc.js";
import { UDBZ, UDZE, UDZO } from "../../src/format/types.js";
import { buildDmg, type ChunkModel } from "../../src/write/model.js";
import { kolyField, pattern, smallImage, smallModel, withXml, xmlOf } from "./hostile.js";

const SECTORS_PER_TIB = 2 ** 31;

/**
 * G35: one table of `n` one-sector zlib chunks whose payloads (8 bytes each, all different)
 * are not zlib streams: validation finds `n` errors.
 */
export function failingChunks(n: number): Uint8Array {
  const chunks: ChunkModel[] = [];
  for (let i = 0; i < n; i++) {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(0, 0xdeadbeef);
    new DataView(payload.buffer).setUint32(4, i);
    chunks.push({ type: UDZO, sectors: 1, payload });
  }
  return buildDmg({ tables: [{ name: "failing", chunks }] });
}

/** G37: the small image with `count` distinct attributes on its `<plist>` start tag. */
export function attributeFlood(count: number): Uint8Array {
  const { image } = smallImage();
  const xml = xmlOf(image);
  const attrs: string[] = [];
  for (let i = 0; i < count; i++) attrs.push(` a${i}=""`);
  return withXml(
    image,
    xml.replace('<plist version="1.0">', `<plist version="1.0"${attrs.join("")}>`),
  );
}

/**
 * D21, G38: `tib` TiB of zero (or ignore) chunks of 1 TiB each, described in about 1.5 KB.
 * Their CRC32 (of zeros) is left absent: computing it here would take as long as the attack.
 */
export function zeroDisk(tib: number, type = UDZE): Uint8Array {
  const chunks: ChunkModel[] = [];
  for (let i = 0; i < tib; i++) chunks.push({ type, sectors: SECTORS_PER_TIB });
  return buildDmg({ tables: [{ name: "zeros", chunks, checksum: null }] });
}

/** F31, G36: `mib` MiB of zeros in zlib chunks of `chunkSectors` (not zero chunks). */
export function zlibZeros(mib: number, chunkSectors = 2048): Uint8Array {
  const bytes = chunkSectors * 512;
  const payload = new Uint8Array(deflateSync(new Uint8Array(bytes), { level: 9 }));
  const chunks: ChunkModel[] = [];
  for (let done = 0; done < mib * 1024 * 1024; done += bytes) {
    chunks.push({ type: UDZO, sectors: chunkSectors, payload: payload.slice() });
  }
  return buildDmg({ tables: [{ name: "zlib zeros", chunks, checksum: null }] });
}

/** G36: `n` bzip2 chunks, each `payload` (a bzip2 stream of 1 GiB of zeros, ~785 bytes). */
export function bzip2Bombs(n: number, payload: Uint8Array): Uint8Array {
  const chunks: ChunkModel[] = [];
  for (let i = 0; i < n; i++)
    chunks.push({ type: UDBZ, sectors: 2 ** 21, payload: payload.slice() });
  return buildDmg({ tables: [{ name: "bombs", chunks, checksum: null }] });
}

/** G40: the small image with a table named `name`, described by the XML or the resource fork. */
export function namedImage(name: string, layout: "xml" | "rsrc" = "xml"): Uint8Array {
  const model = smallModel();
  model.tables[0].name = name;
  model.layout = layout;
  return buildDmg(model);
}

/** G46: the small image whose table name is `length` characters long. */
export function longName(length: number): Uint8Array {
  return namedImage("n".repeat(length));
}

/**
 * G45: an image with both an XML property list and a resource fork whose copy of the table
 * gives its first chunk another compressed length: QEMU (which prefers the resource fork)
 * would decode other bytes than 7-Zip and Apple's tools (which read the XML).
 */
export function mapMismatch(): Uint8Array {
  const model = smallModel();
  model.layout = "both";
  const image = buildDmg(model);
  const off = kolyField(image, KOLY_FIELD.rsrcForkOffset);
  const len = kolyField(image, KOLY_FIELD.rsrcForkLength);
  const fork = parseResourceFork(image.subarray(off, off + len), off, DEFAULT_BUDGET);
  const blob = fork.blkx[0].fileOffset; // exact, for the resource fork
  const lengthField = blob + MISH_HEADER_SIZE + 32; // chunk 0's compressed length
  const view = new DataView(image.buffer, image.byteOffset);
  view.setBigUint64(lengthField, view.getBigUint64(lengthField) - 1n);
  return image;
}

/**
 * G47: a resource fork whose types all share one reference list (65,535 types of 65,536
 * references would fit in 1.3 MB): 64 types over one list of 16 references, the first type
 * 'blkx'.
 */
export function aliasedReferences(types = 64, refs = 16): Uint8Array {
  const model = smallModel();
  model.layout = "rsrc";
  const image = buildDmg(model);
  const off = kolyField(image, KOLY_FIELD.rsrcForkOffset);
  const len = kolyField(image, KOLY_FIELD.rsrcForkLength);
  const fork = image.slice(off, off + len);
  const v = new DataView(fork.buffer);
  const mapOff = v.getUint32(4);
  const typeList = v.getUint16(mapOff + 24);
  // The one reference of the fork's 'blkx' type, repeated `refs` times after the map.
  const firstRef = typeList + v.getUint16(mapOff + typeList + 2 + 6);
  const ref = fork.slice(mapOff + firstRef, mapOff + firstRef + 12);
  const typesAt = 2;
  const refsAt = typesAt + types * 8;
  const map = new Uint8Array(28 + refsAt + refs * 12);
  map.set(fork.subarray(mapOff, mapOff + 28));
  const m = new DataView(map.buffer);
  m.setUint16(24, 28);
  m.setUint16(26, map.length); // no names
  m.setUint16(28, types - 1);
  for (let t = 0; t < types; t++) {
    const e = 28 + typesAt + t * 8;
    map.set(t === 0 ? [0x62, 0x6c, 0x6b, 0x78] : [0x58, 0x58, 0x58, 0x41 + (t % 26)], e);
    m.setUint16(e + 4, refs - 1);
    m.setUint16(e + 6, refsAt);
  }
  for (let r = 0; r < refs; r++) {
    map.set(ref, 28 + refsAt + r * 12);
    m.setUint16(28 + refsAt + r * 12 + 2, 0xffff);
  }
  const out = new Uint8Array(mapOff + map.length);
  out.set(fork.subarray(0, mapOff));
  out.set(map, mapOff);
  const o = new DataView(out.buffer);
  o.setUint32(12, map.length);
  return replaceFork(image, out);
}

/** `image` (resource fork layout, fork right before the trailer) with its fork replaced. */
function replaceFork(image: Uint8Array, fork: Uint8Array): Uint8Array {
  const off = kolyField(image, KOLY_FIELD.rsrcForkOffset);
  const koly = image.slice(image.length - 512);
  const out = new Uint8Array(off + fork.length + 512);
  out.set(image.subarray(0, off));
  out.set(fork, off);
  out.set(koly, off + fork.length);
  new DataView(out.buffer).setBigUint64(
    off + fork.length + KOLY_FIELD.rsrcForkLength,
    BigInt(fork.length),
  );
  return out;
}

/** Deterministic filler, for images whose content does not matter. */
export const filler = (n: number): Uint8Array => pattern(n, 7);
