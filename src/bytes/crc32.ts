/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the checksum UDIF stores (type 2). */

const TABLES = (() => {
  // Slicing-by-8 tables: eight 256-entry tables, 8 KiB in all.
  const t = new Uint32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** A CRC32 function: `crc` continued over `data` (node:zlib's `crc32` has this shape). */
export type Crc32 = (data: Uint8Array, crc: number) => number;

/** Continue a CRC-32 over `data`. Start with `crc = 0`. */
export function crc32(data: Uint8Array, crc = 0): number {
  const t = TABLES;
  let c = ~crc >>> 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n % 8);
  while (i < end8) {
    const a = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) ^ c;
    c =
      t[1792 + (a & 0xff)] ^
      t[1536 + ((a >>> 8) & 0xff)] ^
      t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^
      t[768 + data[i + 4]] ^
      t[512 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]];
    i += 8;
  }
  while (i < n) c = t[(c ^ data[i++]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/**
 * Continue a CRC-32 over `count` zero bytes without materializing them, in O(log count) time:
 * zero and ignore chunks may describe terabytes (attack class D21), so the table CRC must not
 * walk them byte by byte. Appending zeros is a linear map on the CRC register (zlib's
 * crc32_combine); it is applied by repeated squaring of the one-zero-bit operator.
 */
export function crc32Zeros(count: number, crc = 0): number {
  if (count <= 0) return crc;
  if (count <= 4096) return crc32(ZERO_BLOCK.subarray(0, count), crc);
  // On the raw register: for zero input the pre- and post-inversions do not cancel.
  return ~zeroShift(~crc >>> 0, count) >>> 0;
}

/**
 * The CRC-32 of `A` followed by `B` from the CRC-32 of each and the length of `B`, in
 * O(log lengthB) time: chunks checked on other threads give their own CRC32s, which are joined
 * in disk order into the table's (zlib's crc32_combine; the inversions cancel between the two).
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA;
  return (zeroShift(crcA, lengthB) ^ crcB) >>> 0;
}

/** The last operator made by {@link zeroShift}: chunks of one image mostly share one size. */
let lastShift: { count: number; ops: Uint32Array[] } | undefined;

/** `value` (a raw register) after `count` zero bytes pass through it. */
function zeroShift(value: number, count: number): number {
  const ops = lastShift?.count === count ? lastShift.ops : shiftOperators(count);
  lastShift = { count, ops };
  let reg = value;
  for (const op of ops) reg = gf2Times(op, reg);
  return reg;
}

/** The operators (one per set bit of `count`) that together feed `count` zero bytes. */
function shiftOperators(count: number): Uint32Array[] {
  const ops: Uint32Array[] = [];
  let op: Uint32Array = ZERO_BYTE_OPERATOR;
  let n = count;
  while (n > 0) {
    if (n % 2 === 1) ops.push(op);
    n = Math.floor(n / 2);
    if (n > 0) op = gf2Square(op);
  }
  return ops;
}

function gf2Times(mat: Uint32Array, vec: number): number {
  let sum = 0;
  let i = 0;
  while (vec !== 0) {
    if (vec & 1) sum ^= mat[i];
    vec >>>= 1;
    i++;
  }
  return sum >>> 0;
}

function gf2Square(mat: Uint32Array): Uint32Array<ArrayBuffer> {
  const out = new Uint32Array(32);
  for (let n = 0; n < 32; n++) out[n] = gf2Times(mat, mat[n]);
  return out;
}

/** The operator that feeds one zero byte (eight zero bits) through the register. */
const ZERO_BYTE_OPERATOR = (() => {
  let odd: Uint32Array<ArrayBuffer> = new Uint32Array(32);
  odd[0] = 0xedb88320;
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  // odd is one zero bit; square three times for eight.
  for (let k = 0; k < 3; k++) odd = gf2Square(odd);
  return odd;
})();

const ZERO_BLOCK = new Uint8Array(4096);
