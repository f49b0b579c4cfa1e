/**
 * The hostile benchmark's inputs, each made by the project's own model writer (or, for the
 * attribute flood, by swapping the XML of a writer-made image) from constants only, so two runs
 * make the same bytes. Every generator writes one file into a directory and returns its path.
 *
 * Each stands for one attack on a reader's CPU time, memory or disk:
 *
 *   failingChunks      many compressed chunks that all fail to decode (error-path cost)
 *   attributeFlood     an XML start tag with millions of attributes (parser cost)
 *   zeroFilled         a tiny image describing 16 TiB of zero or ignore chunks (output cost)
 *   bzip2Bomb          a few hundred bytes per chunk that decode to 1 GiB each (decoder cost)
 *   zlibZeros          2 MB of zlib chunks describing 2 GiB (decompression ratio)
 *   longNames          the most tables allowed, each with a 62 KB name (per-table cost)
 *   manyZeroChunks     two million one-sector zero chunks (per-chunk cost)
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { KOLY_FIELD, KOLY_SIZE } from "../dist/format/koly.js";
import { UDBZ, UDIG, UDZE, UDZO } from "../dist/format/types.js";
import { buildDmg } from "../dist/write/model.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const SECTOR = 512;

/** An empty `decoded`: the writer then stores the CRC32 of all-zero sectors as the table's. */
const ZERO_DISK = new Uint8Array(0);

/** Write `bytes` to `dir/name.dmg` and return the path. */
function save(dir, name, bytes) {
  const path = join(dir, `${name}.dmg`);
  writeFileSync(path, bytes);
  return path;
}

/** Deterministic text-like bytes (a linear congruential sequence over a..z). */
function pattern(n, seed) {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 0x61 + ((x >>> 16) % 26);
  }
  return out;
}

/**
 * Attack: a reader that pays a lot per failing chunk (an error object, a message, a retry, a
 * worker round trip) or keeps every failure. One table of `count` one-sector zlib chunks, each
 * with its own 8-byte payload that is not a zlib stream (the header's method nibble is 14).
 */
export function failingChunks(dir, name, count) {
  const garbage = new TextEncoder().encode("notzlib!");
  const chunks = [];
  for (let i = 0; i < count; i++) chunks.push({ type: UDZO, sectors: 1, payload: garbage });
  return save(dir, name, buildDmg({ tables: [{ name: "whole disk (Apple_HFS : 0)", chunks }] }));
}

/** A small valid image: two zlib chunks of text and a zero chunk, with the table's CRC32. */
function smallImage() {
  const a = pattern(4 * SECTOR, 1);
  const b = pattern(3 * SECTOR, 2);
  const decoded = new Uint8Array(9 * SECTOR);
  decoded.set(a, 0);
  decoded.set(b, a.length);
  const chunks = [
    { type: UDZO, sectors: 4, payload: new Uint8Array(deflateSync(a)) },
    { type: UDZO, sectors: 3, payload: new Uint8Array(deflateSync(b)) },
    { type: UDZE, sectors: 2 },
  ];
  return buildDmg({ tables: [{ name: "whole disk (Apple_HFS : 0)", chunks, decoded }] });
}

/** Where the trailer of `image` starts, and where its XML property list starts. */
function xmlRange(image) {
  const kolyAt = image.length - KOLY_SIZE;
  const view = new DataView(image.buffer, image.byteOffset, image.length);
  return { kolyAt, xmlOffset: Number(view.getBigUint64(kolyAt + KOLY_FIELD.xmlOffset)) };
}

/**
 * Copy of `image` (XML layout, the XML right before the trailer) with its XML replaced by
 * `xml` (a list of pieces); only the trailer's XML length changes.
 */
function withXml(image, xml) {
  const { kolyAt, xmlOffset } = xmlRange(image);
  const length = xml.reduce((n, piece) => n + piece.length, 0);
  const out = new Uint8Array(xmlOffset + length + KOLY_SIZE);
  out.set(image.subarray(0, xmlOffset), 0);
  let at = xmlOffset;
  for (const piece of xml) {
    out.set(piece, at);
    at += piece.length;
  }
  out.set(image.subarray(kolyAt), at);
  new DataView(out.buffer).setBigUint64(at + KOLY_FIELD.xmlLength, BigInt(length));
  return out;
}

/**
 * Attack: quadratic or per-attribute-allocating XML parsing (duplicate-attribute checks over a
 * growing list, a map per attribute). A valid small image whose `<plist version="1.0">` start
 * tag carries distinct attributes `a0="" a1="" ...` after its version, as many as make the XML
 * about `targetBytes` long; the rest of the property list is unchanged.
 */
export function attributeFlood(dir, name, targetBytes) {
  const image = smallImage();
  const { kolyAt, xmlOffset } = xmlRange(image);
  const xml = Buffer.from(image.subarray(xmlOffset, kolyAt));
  const tag = Buffer.from('<plist version="1.0"');
  const at = xml.indexOf(tag);
  if (at < 0) throw new Error('the writer\'s XML has no <plist version="1.0"> start tag');
  const head = xml.subarray(0, at + tag.length);
  const tail = xml.subarray(at + tag.length);
  // Attributes are written in pieces of a few MiB so no single string gets very long.
  const pieces = [head];
  let size = head.length + tail.length;
  let text = "";
  for (let i = 0; size < targetBytes; i++) {
    const attr = ` a${i}=""`;
    text += attr;
    size += attr.length;
    if (text.length >= 4 * MiB) {
      pieces.push(Buffer.from(text, "latin1"));
      text = "";
    }
  }
  pieces.push(Buffer.from(text, "latin1"), tail);
  return save(dir, name, withXml(image, pieces));
}

/**
 * Attack: writing or hashing every byte of a disk the image only describes. One table of 16
 * zero (UDZE) or ignore (UDIG) chunks, 2^31 sectors (1 TiB) each: 16 TiB, the default
 * maxImageBytes exactly, from about 2.3 KB of file. Zero and ignore chunks are exempt from
 * maxChunkSectors; the table's CRC32 is that of the zeros the disk reads as.
 *
 * @param {"zero" | "ignore"} kind
 */
export function zeroFilled(dir, name, kind) {
  const type = kind === "zero" ? UDZE : UDIG;
  const chunks = [];
  for (let i = 0; i < 16; i++) chunks.push({ type, sectors: 2 ** 31 });
  const table = { name: "whole disk (Apple_HFS : 0)", chunks, decoded: ZERO_DISK };
  return save(dir, name, buildDmg({ tables: [table] }));
}

/** bzip2 (level 9) of `size` zero bytes, by the system `bzip2`. */
function bzip2Zeros(size) {
  const r = spawnSync("bzip2", ["-9c"], { input: Buffer.alloc(size), maxBuffer: 64 * MiB });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`bzip2 exited with status ${r.status}: ${r.stderr}`);
  return new Uint8Array(r.stdout);
}

/**
 * Attack: decompression bomb through bzip2's run-length stages. 64 bzip2 chunks whose ~785-byte
 * payload decodes to 1 GiB of zeros each (2,097,152 sectors, the maxChunkSectors limit): 64 GiB,
 * the default maxDecompressedBytes, from about 50 KB. Each chunk gets its own copy of the payload
 * in the data fork, since payloads may not overlap.
 */
export function bzip2Bomb(dir, name) {
  const payload = bzip2Zeros(GiB);
  const chunks = [];
  for (let i = 0; i < 64; i++) {
    chunks.push({ type: UDBZ, sectors: GiB / SECTOR, payload: payload.slice() });
  }
  const table = { name: "whole disk (Apple_HFS : 0)", chunks, decoded: ZERO_DISK };
  return save(dir, name, buildDmg({ tables: [table] }));
}

/**
 * Attack: a high decompression ratio with an ordinary codec and ordinary chunk sizes. 2048 zlib
 * chunks (level 9) of 2048 sectors (1 MiB) of zeros each: a 2 GiB disk from about 2 MB.
 */
export function zlibZeros(dir, name) {
  const payload = new Uint8Array(deflateSync(Buffer.alloc(MiB), { level: 9 }));
  const chunks = [];
  for (let i = 0; i < 2048; i++) {
    chunks.push({ type: UDZO, sectors: MiB / SECTOR, payload: payload.slice() });
  }
  const table = { name: "whole disk (Apple_HFS : 0)", chunks, decoded: ZERO_DISK };
  return save(dir, name, buildDmg({ tables: [table] }));
}

/**
 * Attack: per-table costs that grow with the table's name (copies, escaping, printing every
 * name). 1,024 tables (the default maxTables), each named by its number and then padded with
 * letters to 62 KiB, each one one-sector zero chunk, laid end to end.
 */
export function longNames(dir, name) {
  const tables = [];
  for (let i = 0; i < 1024; i++) {
    const label = `partition ${i} `;
    tables.push({
      name: label + "x".repeat(62 * KiB - label.length),
      chunks: [{ type: UDZE, sectors: 1 }],
      decoded: ZERO_DISK,
    });
  }
  return save(dir, name, buildDmg({ tables }));
}

/**
 * Attack: per-chunk costs with nothing to decode (index building, one write or one task per
 * chunk). One table of 2,000,000 one-sector zero chunks, just under maxChunks (2,097,152).
 */
export function manyZeroChunks(dir, name) {
  const chunks = [];
  for (let i = 0; i < 2_000_000; i++) chunks.push({ type: UDZE, sectors: 1 });
  const table = { name: "whole disk (Apple_HFS : 0)", chunks, decoded: ZERO_DISK };
  return save(dir, name, buildDmg({ tables: [table] }));
}
