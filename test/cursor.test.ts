import { describe, expect, it } from "vitest";
import { crc32, crc32Combine, crc32Zeros } from "../src/bytes/crc32.js";
import { Cursor, Writer } from "../src/bytes/cursor.js";
import { DmgError } from "../src/core/errors.js";

describe("Cursor", () => {
  it("reads big-endian fields and refuses to run past its slice", () => {
    const c = new Cursor(Uint8Array.of(0x6b, 0x6f, 0x6c, 0x79, 0, 0, 0, 4, 1), 100, "test");
    expect(c.tag()).toBe("koly");
    expect(c.u32()).toBe(4);
    expect(c.offset).toBe(108);
    const err = (() => {
      try {
        c.u16();
      } catch (e) {
        return e;
      }
    })() as DmgError;
    expect(err).toBeInstanceOf(DmgError);
    expect(err.code).toBe("TRUNCATED");
    expect(err.offset).toBe(108);
  });

  it("refuses 64-bit values above 2^53-1 and reads the largest safe one", () => {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, BigInt(Number.MAX_SAFE_INTEGER));
    v.setBigUint64(8, BigInt(Number.MAX_SAFE_INTEGER) + 2n);
    const c = new Cursor(b, 0, "test");
    expect(c.u64("a")).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => c.u64("b")).toThrow(
      expect.objectContaining({ code: "FIELD_TOO_LARGE", offset: 8 }),
    );
  });
});

describe("Writer", () => {
  it("grows its buffer across every field width", () => {
    const w = new Writer(1);
    w.u8(1)
      .u16(0x0203)
      .u32(0x04050607)
      .u64(0x08090a0b0c0d0e0fn)
      .bytes(Uint8Array.of(0x10, 0x11))
      .tag("mish");
    expect([...w.finish()]).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0x6d, 0x69, 0x73, 0x68,
    ]);
  });
});

describe("crc32", () => {
  it("matches the standard check value and extends over zeros without materializing them", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    for (const n of [0, 1, 4096, 4097, 100_000, 3 * 1024 * 1024 + 5]) {
      const seed = crc32(Uint8Array.of(1, 2, 3));
      expect(crc32Zeros(n, seed)).toBe(crc32(new Uint8Array(n), seed));
    }
  });

  it("combines the CRC32s of two pieces into the CRC32 of both, for any split", () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 2654435761) >>> 24);
    for (const cut of [0, 1, 7, 4096, 65_537, 299_999, 300_000]) {
      const a = crc32(data.subarray(0, cut));
      const b = crc32(data.subarray(cut));
      expect(crc32Combine(a, b, data.length - cut)).toBe(crc32(data));
    }
    // Many pieces of one size (the cached operator) and of alternating sizes agree too.
    let joined = 0;
    for (let at = 0; at < data.length; at += 1000) {
      joined = crc32Combine(joined, crc32(data.subarray(at, at + 1000)), 1000);
    }
    expect(joined).toBe(crc32(data));
    expect(crc32Combine(crc32(data.subarray(0, 5)), crc32(data.subarray(5, 9)), 4)).toBe(
      crc32(data.subarray(0, 9)),
    );
  });
});
