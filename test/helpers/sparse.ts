/**
 * Sparse images and sparse bundles built from the documented layout, for tests: a `sprs`
 * header node (version 3, sectors per band, flags 1, disk size in both size fields, next node
 * offset, 1008 band numbers from offset 64), further index nodes (1010 numbers from offset 56),
 * each node followed by its band slots; a bundle's Info.plist and band files.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const NODE = 4096;

/** What a built sparse image holds. */
export interface SparseSpec {
  sectorsPerBand: number;
  totalSectors: number;
  /**
   * Band numbers (disk band + 1; 0 unused) of each node's slots, first node first. Slots are
   * stored for every entry up to the last used one of a node.
   */
  nodes: number[][];
  /** The bytes of disk band `band` (0-based), `length` of them. */
  fill?: (band: number, length: number) => Uint8Array;
}

/** Deterministic band contents: a pattern that differs for each band and byte. */
export function bandBytes(band: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = (band * 31 + i * 7 + (i >> 9)) & 0xff;
  return b;
}

/** Build a sparse image and the disk it holds. */
export function buildSparse(spec: SparseSpec): { file: Uint8Array; disk: Uint8Array } {
  const fill = spec.fill ?? bandBytes;
  const bandSize = spec.sectorsPerBand * 512;
  const diskBytes = spec.totalSectors * 512;
  const disk = new Uint8Array(diskBytes);
  const parts: Uint8Array[] = [];
  let pos = 0;
  const nodeOffsets: number[] = [];
  // Lay out: each node, then its slots up to the last used.
  const slotsOf = (n: number[]) => {
    let last = -1;
    n.forEach((v, i) => {
      if (v !== 0) last = i;
    });
    return last + 1;
  };
  for (const n of spec.nodes) {
    nodeOffsets.push(pos);
    pos += NODE + slotsOf(n) * bandSize;
  }
  spec.nodes.forEach((n, j) => {
    const node = new Uint8Array(NODE);
    const v = new DataView(node.buffer);
    v.setUint32(0, 0x73707273);
    const next = j + 1 < spec.nodes.length ? nodeOffsets[j + 1] : 0;
    let table: number;
    if (j === 0) {
      v.setUint32(4, 3);
      v.setUint32(8, spec.sectorsPerBand);
      v.setUint32(12, 1);
      v.setUint32(16, spec.totalSectors % 2 ** 32);
      v.setBigUint64(20, BigInt(next));
      v.setBigUint64(28, BigInt(spec.totalSectors));
      table = 64;
    } else {
      v.setUint32(4, j);
      v.setUint32(8, 1);
      v.setBigUint64(12, BigInt(next));
      table = 56;
    }
    for (let i = 0; i < n.length; i++) v.setUint32(table + 4 * i, n[i]);
    parts.push(node);
    for (let k = 0; k < slotsOf(n); k++) {
      const slot = new Uint8Array(bandSize);
      if (n[k] !== 0) {
        const band = n[k] - 1;
        const used = Math.min(bandSize, diskBytes - band * bandSize);
        if (used > 0) {
          const data = fill(band, used);
          slot.set(data);
          disk.set(data, band * bandSize);
        }
      }
      parts.push(slot);
    }
  });
  const file = new Uint8Array(pos);
  let at = 0;
  for (const p of parts) {
    file.set(p, at);
    at += p.length;
  }
  return { file, disk };
}

/** A sparse bundle's Info.plist. */
export function bundleInfo(
  bandSize: number | string,
  size: number | string,
  extra: { type?: string; version?: string; omit?: string } = {},
): Uint8Array {
  const entries: Array<[string, string]> = [
    ["CFBundleInfoDictionaryVersion", "<string>6.0</string>"],
    ["band-size", `<integer>${bandSize}</integer>`],
    ["bundle-backingstore-version", extra.version ?? "<integer>1</integer>"],
    [
      "diskimage-bundle-type",
      `<string>${extra.type ?? "com.apple.diskimage.sparsebundle"}</string>`,
    ],
    ["size", `<integer>${size}</integer>`],
  ];
  const body = entries
    .filter(([k]) => k !== extra.omit)
    .map(([k, v]) => `\t<key>${k}</key>\n\t${v}\n`)
    .join("");
  return new TextEncoder().encode(
    `<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n<dict>\n${body}</dict>\n</plist>\n`,
  );
}

/**
 * Write a sparse bundle folder at `dir` with bands `bands` (band number to contents; a band
 * shorter than `bandSize` is zeros after its end) and return the disk it holds.
 */
export function writeBundle(
  dir: string,
  bandSize: number,
  size: number,
  bands: Map<number, Uint8Array>,
): Uint8Array {
  mkdirSync(join(dir, "bands"), { recursive: true });
  writeFileSync(join(dir, "Info.plist"), bundleInfo(bandSize, size));
  writeFileSync(join(dir, "token"), new Uint8Array(0));
  const disk = new Uint8Array(size);
  for (const [n, data] of bands) {
    writeFileSync(join(dir, "bands", n.toString(16)), data);
    disk.set(
      data.subarray(0, Math.max(0, Math.min(data.length, size - n * bandSize))),
      n * bandSize,
    );
  }
  return disk;
}
