/**
 * Hashes for code signatures. Small inputs go to WebCrypto; the code slot of a DMG covers the
 * whole file up to its signature (one page: gigabytes), which WebCrypto can only hash in one
 * buffer, so SHA-1 and SHA-256 also have an incremental form here that reads it in pieces.
 */
import { DmgError } from "../../core/errors.js";

/** WebCrypto names of the hash types of a CodeDirectory. */
const WEB_NAMES: Readonly<Record<number, string>> = {
  1: "SHA-1",
  2: "SHA-256",
  3: "SHA-256",
  4: "SHA-384",
};

/** Hash sizes of each type (type 3 is SHA-256 cut to 20 bytes). */
const SIZES: Readonly<Record<number, number>> = { 1: 20, 2: 32, 3: 20, 4: 48 };

function subtle(): SubtleCrypto {
  const s = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (!s) {
    throw new DmgError(
      "CODESIGN_CMS",
      "checking a code signature needs WebCrypto (crypto.subtle), which this platform does not offer",
    );
  }
  return s;
}

/** The hash of `data` by CodeDirectory hash type `type` (1 to 4). */
export async function digest(type: number, data: Uint8Array): Promise<Uint8Array> {
  const out = new Uint8Array(
    await subtle().digest(WEB_NAMES[type], data as Uint8Array<ArrayBuffer>),
  );
  return out.subarray(0, SIZES[type]);
}

/** An incremental hash. */
export interface Hasher {
  update(data: Uint8Array): void;
  finish(): Uint8Array;
}

/** An incremental hasher for `type`, or undefined when only WebCrypto's one-shot is offered. */
export function incremental(type: number): Hasher | undefined {
  if (type === 1) return new Md(false);
  if (type === 2 || type === 3) {
    const h = new Md(true);
    return { update: (d) => h.update(d), finish: () => h.finish().subarray(0, SIZES[type]) };
  }
  return undefined;
}

const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 or SHA-1 (FIPS 180-4): a 64-byte block buffer and the chaining state. */
class Md {
  private readonly h: Uint32Array;
  private readonly w: Uint32Array;
  private readonly block = new Uint8Array(64);
  private fill = 0;
  private total = 0;

  constructor(private readonly sha256: boolean) {
    this.h = sha256
      ? new Uint32Array([
          0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
          0x5be0cd19,
        ])
      : new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
    this.w = new Uint32Array(sha256 ? 64 : 80);
  }

  update(data: Uint8Array): void {
    this.total += data.length;
    let i = 0;
    if (this.fill > 0) {
      const n = Math.min(64 - this.fill, data.length);
      this.block.set(data.subarray(0, n), this.fill);
      this.fill += n;
      i = n;
      if (this.fill < 64) return;
      this.compress(this.block, 0);
      this.fill = 0;
    }
    for (; i + 64 <= data.length; i += 64) this.compress(data, i);
    if (i < data.length) {
      this.block.set(data.subarray(i), 0);
      this.fill = data.length - i;
    }
  }

  finish(): Uint8Array {
    const bits = this.total * 8;
    const pad = new Uint8Array((this.fill < 56 ? 56 : 120) - this.fill + 8);
    pad[0] = 0x80;
    const v = new DataView(pad.buffer);
    v.setUint32(pad.length - 8, Math.floor(bits / 0x1_0000_0000));
    v.setUint32(pad.length - 4, bits >>> 0);
    const total = this.total;
    this.update(pad);
    this.total = total;
    const out = new Uint8Array(this.h.length * 4);
    const o = new DataView(out.buffer);
    for (let k = 0; k < this.h.length; k++) o.setUint32(k * 4, this.h[k]);
    return out;
  }

  private compress(b: Uint8Array, p: number): void {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const q = p + t * 4;
      w[t] = (b[q] << 24) | (b[q + 1] << 16) | (b[q + 2] << 8) | b[q + 3];
    }
    if (this.sha256) this.round256(w);
    else this.round1(w);
  }

  private round256(w: Uint32Array): void {
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15];
      const y = w[t - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const h = this.h;
    let [a, b, c, d, e, f, g, hh] = [h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K256[t] + w[t]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += hh;
  }

  private round1(w: Uint32Array): void {
    for (let t = 16; t < 80; t++) {
      const x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16];
      w[t] = (x << 1) | (x >>> 31);
    }
    const h = this.h;
    let [a, b, c, d, e] = [h[0], h[1], h[2], h[3], h[4]];
    for (let t = 0; t < 80; t++) {
      let f: number;
      let k: number;
      if (t < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (t < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (t < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const tmp = (((a << 5) | (a >>> 27)) + f + e + k + w[t]) | 0;
      e = d;
      d = c;
      c = (b << 30) | (b >>> 2);
      b = a;
      a = tmp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
}
