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
