/**
 * CRC-64 as XZ uses it for check type 4: ECMA-182 polynomial, reflected, initial and final
 * value all ones. JavaScript has no fast 64-bit integers, so the register is kept in two
 * 32-bit halves; eight tables let it take eight bytes per step (slicing by eight).
 */

/** The reflected polynomial 0xC96C5795D7870F42, in halves. */
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;

/** Table k, entry n: the CRC register after byte n then k zero bytes; low and high halves. */
const LO = new Uint32Array(8 * 256);
const HI = new Uint32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let lo = n;
  let hi = 0;
  for (let k = 0; k < 8; k++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | (hi << 31)) >>> 0;
    hi >>>= 1;
    if (odd) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  LO[n] = lo;
  HI[n] = hi;
}
for (let t = 256; t < 8 * 256; t++) {
  const lo = LO[t - 256];
  const hi = HI[t - 256];
  LO[t] = LO[lo & 0xff] ^ ((lo >>> 8) | (hi << 24));
  HI[t] = HI[lo & 0xff] ^ (hi >>> 8);
}

/** A running CRC-64. */
export class Crc64 {
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  /** Continue the CRC over `data`. */
  update(data: Uint8Array): void {
    let { lo, hi } = this;
    const n = data.length;
    let i = 0;
    for (const end8 = n - (n % 8); i < end8; i += 8) {
      const x = lo ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
      const y = hi ^ (data[i + 4] | (data[i + 5] << 8) | (data[i + 6] << 16) | (data[i + 7] << 24));
      const a = 1792 + (x & 0xff);
      const b = 1536 + ((x >>> 8) & 0xff);
      const c = 1280 + ((x >>> 16) & 0xff);
      const d = 1024 + (x >>> 24);
      const e = 768 + (y & 0xff);
      const f = 512 + ((y >>> 8) & 0xff);
      const g = 256 + ((y >>> 16) & 0xff);
      const h = y >>> 24;
      lo = LO[a] ^ LO[b] ^ LO[c] ^ LO[d] ^ LO[e] ^ LO[f] ^ LO[g] ^ LO[h];
      hi = HI[a] ^ HI[b] ^ HI[c] ^ HI[d] ^ HI[e] ^ HI[f] ^ HI[g] ^ HI[h];
    }
    for (; i < n; i++) {
      const t = (lo ^ data[i]) & 0xff;
      lo = LO[t] ^ ((lo >>> 8) | (hi << 24));
      hi = HI[t] ^ (hi >>> 8);
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** The CRC so far as 16 hex digits. */
  hex(): string {
    const half = (v: number) => (~v >>> 0).toString(16).padStart(8, "0");
    return half(this.hi) + half(this.lo);
  }

  /** True when the CRC so far equals the little-endian 8 bytes at `b[p]`. */
  matches(b: Uint8Array, p: number): boolean {
    const le = (q: number) => (b[q] | (b[q + 1] << 8) | (b[q + 2] << 16) | (b[q + 3] << 24)) >>> 0;
    return ~this.lo >>> 0 === le(p) && ~this.hi >>> 0 === le(p + 4);
  }
}
