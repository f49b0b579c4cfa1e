/**
 * Turns an input of any fuzz target into a DMG file that reaches the same layer through the
 * public API, so that a finding can join corpus/regressions/ (which test/regressions.test.ts
 * replays with openDmg and validateDmg): a plist or resource fork gets a trailer pointing at
 * it, a mish blob a property list around it, a codec payload an image with that one chunk.
 * Trailer and pipeline inputs are files already.
 */
import { KOLY_FIELD, KOLY_SIZE } from "../dist/format/koly.js";
import { serializePlist } from "../dist/format/plist-write.js";
import { imageTail } from "../dist/write/layout.js";
import { buildDmg } from "../dist/write/model.js";
import { CODEC_TYPES, codecInput } from "./codec-harness.js";

/** A file holding `rsrc` then `xml`, then a trailer that points at them. */
function withTrailer({ rsrc = new Uint8Array(0), xml = new Uint8Array(0) }) {
  // The writer's trailer for an image without tables, with the fork fields set.
  const tail = imageTail({
    tables: [],
    layout: "xml",
    dataForkLength: 0,
    dataForkCrc: undefined,
    masterChecksum: false,
    sectorCount: 0,
  });
  const koly = tail.slice(tail.length - KOLY_SIZE);
  const v = new DataView(koly.buffer);
  v.setBigUint64(KOLY_FIELD.rsrcForkOffset, 0n);
  v.setBigUint64(KOLY_FIELD.rsrcForkLength, BigInt(rsrc.length));
  v.setBigUint64(KOLY_FIELD.xmlOffset, BigInt(xml.length > 0 ? rsrc.length : 0));
  v.setBigUint64(KOLY_FIELD.xmlLength, BigInt(xml.length));
  const out = new Uint8Array(rsrc.length + xml.length + KOLY_SIZE);
  out.set(rsrc, 0);
  out.set(xml, rsrc.length);
  out.set(koly, rsrc.length + xml.length);
  return out;
}

/** Big-endian u32s as bytes. */
function be32(...values) {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) v.setUint32(i * 4, values[i] >>> 0);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A superblob of a CodeDirectory (version 0x20001, one SHA-256 page up to `codeLimit`, hash
 * left zero: a finding, not a stop) and a CMS blob holding `cms`.
 */
function cmsSuperblob(cms, codeLimit) {
  const cd = concat(
    be32(0xfade0c02, 78, 0x20001, 0, 46, 44, 0, 1, codeLimit),
    Uint8Array.of(32, 2, 0, 0),
    be32(0),
    Uint8Array.of(0x66, 0),
    new Uint8Array(32),
  );
  const wrapper = concat(be32(0xfade0b01, 8 + cms.length), cms);
  const header = be32(
    0xfade0cc0,
    28 + cd.length + wrapper.length,
    2,
    0,
    28,
    0x10000,
    28 + cd.length,
  );
  return concat(header, cd, wrapper);
}

/** A small image with the superblob made by `make(codeLimit)` before its trailer. */
function withSignature(make) {
  const image = buildDmg({ tables: [{ name: "fuzz", chunks: [{ type: 0, sectors: 1 }] }] });
  const k = image.length - KOLY_SIZE;
  const sb = make(k);
  const koly = image.slice(k);
  const v = new DataView(koly.buffer);
  v.setBigUint64(KOLY_FIELD.codeSignatureOffset, BigInt(k));
  v.setBigUint64(KOLY_FIELD.codeSignatureLength, BigInt(sb.length));
  return concat(image.subarray(0, k), sb, koly);
}

/** Targets whose input is a whole file already (an image, or a container file). */
const FILE_TARGETS = new Set(["trailer", "pipeline", "sparse", "encrypted"]);
/** Targets whose input stands for several files (a bundle folder, a set's parts): no one file. */
const FOLDER_TARGETS = new Set(["bundle", "segments"]);

/**
 * The DMG file that feeds `input` of fuzz target `target` to the same layer, or undefined for
 * a target whose input stands for a folder (its findings stay in corpus/fuzz/<target>/).
 */
export function wrapInput(target, input) {
  if (FILE_TARGETS.has(target)) return input;
  if (FOLDER_TARGETS.has(target)) return undefined;
  if (target === "signature") return withSignature(() => input);
  if (target === "cms") return withSignature((limit) => cmsSuperblob(input, limit));
  // A string: the name of a table in a resource fork, which holds any byte (Latin-1).
  if (target === "text") {
    const name = new TextDecoder("latin1").decode(input.subarray(0, 255));
    return buildDmg({ layout: "rsrc", tables: [{ name, chunks: [{ type: 0, sectors: 1 }] }] });
  }
  if (target === "plist") return withTrailer({ xml: input });
  if (target === "rsrc") return withTrailer({ rsrc: input });
  if (target === "mish") {
    const blkx = [{ id: 0, name: "fuzz", attributes: 0x50, data: input, fileOffset: 0 }];
    return withTrailer({ xml: serializePlist({ blkx, other: [] }) });
  }
  const type = CODEC_TYPES[target];
  if (type === undefined) throw new Error(`unknown fuzz target ${target}`);
  const { outputSize, payload } = codecInput(input.length >= 2 ? input : Uint8Array.of(0, 0));
  return buildDmg({
    tables: [{ name: "fuzz", chunks: [{ type, sectors: outputSize / 512, payload }] }],
  });
}
