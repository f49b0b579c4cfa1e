/**
 * Fuzz target: sparse bundles. A bundle is a folder, so the input encodes one: a u16 length and
 * that many bytes of Info.plist, then band files, each a band number (u8), a length (u16) and
 * its bytes. The core opens it over those band sources (the folder checks are the Node side's,
 * tested apart). Opening either fails with a DmgError or gives a disk of exactly the plist's
 * size in which every band file's bytes read back at band number x band size.
 */

import { sparseBundleSource } from "../../dist/containers/sparse/sparse-bundle.js";
import { openDmg } from "../../dist/index.js";
import { bytesSource } from "../../dist/sources/source.js";
import { BUDGET, invariant, tolerate } from "../harness.js";

/** Most bytes of the disk read back. */
const READ_LIMIT = 256 * 1024;

/** Info.plist and band files from `data`, as described above. */
export function decode(data) {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const infoLength = data.length >= 2 ? Math.min(v.getUint16(0), data.length - 2) : 0;
  const info = data.slice(2, 2 + infoLength);
  const bands = new Map();
  let at = 2 + infoLength;
  while (at + 3 <= data.length) {
    const n = data[at];
    const length = Math.min(v.getUint16(at + 1), data.length - at - 3);
    bands.set(n, data.slice(at + 3, at + 3 + length));
    at += 3 + length;
  }
  return { info, bands };
}

export async function fuzz(data) {
  const { info, bands } = decode(data);
  const parts = { info, bands: new Map([...bands].map(([n, b]) => [n, bytesSource(b)])) };
  await tolerate(async () => {
    const image = await openDmg(sparseBundleSource(parts), { budget: BUDGET });
    try {
      invariant(image.container.kind === "sparsebundle", `opened as ${image.container.kind}`);
      const { bandSize, diskSize } = image.container.fields;
      invariant(
        image.size === diskSize,
        `disk of ${image.size} bytes, Info.plist says ${diskSize}`,
      );
      const n = Math.min(image.size, READ_LIMIT);
      const disk = await image.read(0, n);
      invariant(disk.length === n, `read ${disk.length} of ${n} bytes`);
      for (const [band, bytes] of bands) {
        const start = band * bandSize;
        const end = Math.min(start + bytes.length, n);
        for (let i = start; i < end; i++) {
          invariant(disk[i] === bytes[i - start], `band ${band} byte ${i - start} reads otherwise`);
        }
      }
    } finally {
      await image.close();
    }
  });
}
