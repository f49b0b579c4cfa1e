/**
 * Handmade fuzz seeds: byte patterns and streams the writer and the compressors here do not
 * make, so that the corpora reach checks generated images never do.
 */
import { crc32 } from "../dist/bytes/crc32.js";
import { KOLY_FIELD } from "../dist/format/koly.js";

const SECTOR = 512;

/** Text-like bytes that compress, never all zero. */
export function text(n, seed) {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = 0x61 + ((x >>> 16) % 26);
  }
  return out;
}

/** An ADC stream for `data` made only of literal runs and one repeat (distance 1) per run of equal bytes. */
export function adcStream(data) {
  const out = [];
  for (let i = 0; i < data.length; ) {
    let run = 1;
    while (i + run < data.length && data[i + run] === data[i] && run < 19) run++;
    if (run >= 4) {
      // One literal byte, then a 2-byte-opcode match copying it run-1 times (length 3-18).
      out.push(0x80, data[i], (run - 1 - 3) << 2, 0);
      i += run;
    } else {
      const n = Math.min(128, data.length - i);
      out.push(0x80 | (n - 1), ...data.subarray(i, i + n));
      i += n;
    }
  }
  return Uint8Array.from(out);
}

/** An LZFSE stream of one uncompressed block ("bvx-", length, bytes, "bvx$"). */
export function lzfseStored(data) {
  const out = new Uint8Array(8 + data.length + 4);
  out.set([0x62, 0x76, 0x78, 0x2d], 0);
  new DataView(out.buffer).setUint32(4, data.length, true);
  out.set(data, 8);
  out.set([0x62, 0x76, 0x78, 0x24], 8 + data.length);
  return out;
}

/** `image` with its trailer moved to offset 0 and the fork offsets shifted to match. */
export function kolyAtStart(image) {
  const koly = image.slice(image.length - SECTOR);
  const v = new DataView(koly.buffer);
  for (const at of [KOLY_FIELD.dataForkOffset, KOLY_FIELD.rsrcForkOffset, KOLY_FIELD.xmlOffset]) {
    if (v.getBigUint64(at + 8) > 0n) v.setBigUint64(at, v.getBigUint64(at) + BigInt(SECTOR));
  }
  const out = new Uint8Array(image.length);
  out.set(koly, 0);
  out.set(image.subarray(0, image.length - SECTOR), SECTOR);
  return out;
}

/**
 * Property lists for the checks generated images never reach: integer and real values, IDs
 * and attributes as <integer>, a resource list that is not an array, nesting and table-count
 * limits.
 */
export function plistSeeds(blkxData) {
  const b64 = Buffer.from(blkxData).toString("base64");
  const doc = (body) => `<?xml version="1.0"?><plist version="1.0">${body}</plist>`;
  const entry = (extra = "") => `<dict><key>Data</key><data>${b64}</data>${extra}</dict>`;
  const rf = (inner) => doc(`<dict><key>resource-fork</key><dict>${inner}</dict></dict>`);
  const texts = [
    rf(
      `<key>blkx</key><array>${entry("<key>ID</key><integer>-1</integer><key>Attributes</key><integer>80</integer>")}</array>`,
    ),
    rf(
      `<key>blkx</key><array>${entry("<key>Name</key><string>a&amp;b&#13;</string>")}</array><key>plst</key><dict/>`,
    ),
    rf(
      `<key>blkx</key><array>${entry()}</array><key>x</key><array><dict><key>Data</key><data></data><key>ID</key><real>1.5</real></dict></array>`,
    ),
    doc(
      `<dict><key>r</key><array><real>nan</real><real>-1e3</real><real>x</real><integer>12</integer><true/><false/><date>2020-01-01T00:00:00Z</date></array></dict>`,
    ),
    doc(`${"<array>".repeat(33)}${"</array>".repeat(33)}`),
    rf(`<key>blkx</key><array>${"<dict/>".repeat(1025)}</array>`),
    doc(`<array>${"<true/>".repeat(5000)}</array>`),
  ];
  return texts.map((t) => new TextEncoder().encode(t));
}

/**
 * XZ streams a compressor does not write, each with its CRC32 made valid so that the check
 * behind it is reached: reserved flag bits, a reserved check type, footer flags that differ
 * from the header's, a footer that records the wrong index size.
 */
export function xzVariants(xz) {
  const le32 = (x, at, v) => new DataView(x.buffer, x.byteOffset).setUint32(at, v >>> 0, true);
  const header = (f0, f1) => {
    const x = xz.slice();
    x.set([f0, f1], 6);
    le32(x, 8, crc32(x.subarray(6, 8)));
    return x;
  };
  const footer = (change) => {
    const x = xz.slice();
    const at = x.length - 12;
    change(x, at);
    le32(x, at, crc32(x.subarray(at + 4, at + 10)));
    return x;
  };
  return [
    header(1, xz[7]),
    header(0, 0x05),
    footer((x, at) => {
      x[at + 9] ^= 0x01;
    }),
    footer((x, at) => le32(x, at + 4, new DataView(x.buffer).getUint32(at + 4, true) + 1)),
  ];
}

/** Files that are not UDIF images but must be told apart: encrypted, ISO 9660, zip, tiny. */
export function notImages() {
  const iso = new Uint8Array(0x8800);
  iso.set([1, 0x43, 0x44, 0x30, 0x30, 0x31], 0x8000);
  const enc = new Uint8Array(1024);
  enc.set(new TextEncoder().encode("encrcdsa\x00\x00\x00\x02"), 0);
  return [
    iso,
    enc,
    enc.subarray(0, 64),
    Uint8Array.of(0x50, 0x4b, 3, 4, 0, 0),
    new Uint8Array(600),
  ];
}
