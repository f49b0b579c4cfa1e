/**
 * Fuzz target: segmented sets. The input's first bytes choose how many parts to cut a small
 * image into, the order the parts are given in and up to four edits of their trailers' segment
 * fields; the rest of the input is the disk the image holds. Opening the set either fails with
 * a DmgError or reads; an unedited set in order must read back the disk exactly.
 */

import { crc32 } from "../../dist/bytes/crc32.js";
import { crc32Checksum } from "../../dist/format/checksum.js";
import { KOLY_FIELD, KOLY_SIZE, parseKoly, serializeKoly } from "../../dist/format/koly.js";
import { openDmg, segmentedSource } from "../../dist/index.js";
import { writeDmgBytes } from "../../dist/write/writer.js";
import { BUDGET, invariant, tolerate } from "../harness.js";

/** Trailer fields an edit may touch: [offset, width in bytes]. */
const FIELDS = [
  [KOLY_FIELD.segmentNumber, 4],
  [KOLY_FIELD.segmentCount, 4],
  [KOLY_FIELD.segmentId, 4],
  [KOLY_FIELD.runningDataForkOffset, 8],
  [KOLY_FIELD.dataForkOffset, 8],
  [KOLY_FIELD.dataForkLength, 8],
];

/** Largest disk built from one input. */
const MAX_DISK = 16 * 1024;

export async function fuzz(data) {
  if (data.length < 8) return;
  const control = data.subarray(0, 8);
  const size = Math.min(MAX_DISK, (data.length - 8) & ~511) || 512;
  const disk = new Uint8Array(size);
  disk.set(data.subarray(8, 8 + size));
  const image = await writeDmgBytes(disk, { chunkSectors: 4 });
  const count = 2 + (control[0] % 3);
  let parts = split(image, count);
  const edits = control[1] % 5;
  for (let e = 0; e < edits; e++) {
    const b = control[2 + e];
    const [field, width] = FIELDS[b % FIELDS.length];
    const part = parts[(b >> 3) % count];
    const view = new DataView(part.buffer, part.byteOffset + part.length - KOLY_SIZE);
    view.setUint32(field + width - 4, (control[6] << 8) | control[7]);
  }
  const reorder = control[6] & 3;
  if (reorder === 1) parts = [...parts].reverse();
  if (reorder === 2) parts = parts.slice(0, count - 1);
  if (reorder === 3) parts = [...parts, parts[count - 1]];
  const pristine = edits === 0 && reorder === 0;
  let read;
  const err = await tolerate(async () => {
    const img = await openDmg(segmentedSource(parts), { budget: BUDGET });
    try {
      read = await img.read(0, img.size);
    } finally {
      await img.close();
    }
  });
  if (pristine) {
    invariant(err === undefined, `an unedited set failed: ${err?.code} ${err?.message}`);
    invariant(
      read.length === disk.length && read.every((x, i) => x === disk[i]),
      "an unedited set read other bytes than its disk",
    );
  }
}

/** Cut a single-file image into `count` parts (the layout of src/containers/segments/set.ts). */
function split(image, count) {
  const k = parseKoly(image.subarray(image.length - KOLY_SIZE), image.length - KOLY_SIZE);
  const { fileOffset: _, ...fields } = k;
  const data = image.subarray(k.dataForkOffset, k.dataForkOffset + k.dataForkLength);
  const xml = image.subarray(
    k.xmlOffset,
    Math.min(k.xmlOffset + k.xmlLength, image.length - KOLY_SIZE),
  );
  const parts = [];
  let running = 0;
  for (let i = 0; i < count; i++) {
    const end = Math.round(((i + 1) * data.length) / count);
    const slice = data.subarray(running, end);
    const tail = i === 0 ? xml : new Uint8Array(0);
    const trailer = serializeKoly({
      ...fields,
      runningDataForkOffset: running,
      dataForkOffset: 0,
      dataForkLength: slice.length,
      rsrcForkOffset: 0,
      rsrcForkLength: 0,
      xmlOffset: tail.length > 0 ? slice.length : 0,
      xmlLength: tail.length,
      segmentNumber: i + 1,
      segmentCount: count,
      dataForkChecksum: crc32Checksum(crc32(slice)),
    });
    const part = new Uint8Array(slice.length + tail.length + KOLY_SIZE);
    part.set(slice);
    part.set(tail, slice.length);
    part.set(trailer, slice.length + tail.length);
    parts.push(part);
    running = end;
  }
  return parts;
}

/** For tools: the same cut, to write sets by hand. */
export { split as splitImage };
