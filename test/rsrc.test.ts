/**
 * The legacy resource fork (parse and serialize): a fork built by hand from the format's
 * description, round trips, the real images' tables carried in a fork, and the hostile
 * classes with their exact codes.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DmgError } from "../src/core/errors.js";
import { DEFAULT_BUDGET, resolveBudget } from "../src/core/limits.js";
import { KOLY_FIELD } from "../src/format/koly.js";
import { parsePlist } from "../src/format/plist.js";
import type { ResourceMap } from "../src/format/resources.js";
import { parseResourceFork, serializeResourceFork } from "../src/format/rsrc.js";
import { REAL } from "./helpers/corpus.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

function errorOf(f: () => unknown): DmgError {
  try {
    f();
  } catch (e) {
    if (e instanceof DmgError) return e;
    throw e;
  }
  throw new Error("expected a DmgError, got a result");
}
const codeOf = (f: () => unknown) => errorOf(f).code;

function mishBlob(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed) & 0xff;
  b.set(enc.encode("mish"));
  return b;
}

/**
 * A fork laid out by hand, field by field, independently of the serializer:
 * data at 0x100 holding three resources, map after it with two types ('blkx' x2, 'plst' x1)
 * and a name list with two names.
 */
function handFork(): { bytes: Uint8Array; payloads: Uint8Array[]; payloadAt: number[] } {
  const payloads = [mishBlob(204, 1), mishBlob(244, 2), new Uint8Array(1032).fill(9)];
  const dataStart = 0x100;
  const dataLen = payloads.reduce((n, p) => n + 4 + p.length, 0);
  const names = [enc.encode("Driver Descriptor Map (DDM : 0)"), enc.encode("Apple_HFS : 1")];
  const typeListOff = 28;
  const typeList = 2 + 2 * 8;
  const refs = 3 * 12;
  const nameListOff = typeListOff + typeList + refs;
  const nameLen = names.reduce((n, s) => n + 1 + s.length, 0);
  const mapStart = dataStart + dataLen;
  const mapLen = nameListOff + nameLen;
  const bytes = new Uint8Array(mapStart + mapLen);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, dataStart);
  v.setUint32(4, mapStart);
  v.setUint32(8, dataLen);
  v.setUint32(12, mapLen);
  const payloadAt: number[] = [];
  const dataOffsets: number[] = [];
  let p = dataStart;
  for (const pl of payloads) {
    dataOffsets.push(p - dataStart);
    v.setUint32(p, pl.length);
    bytes.set(pl, p + 4);
    payloadAt.push(p + 4);
    p += 4 + pl.length;
  }
  const m = mapStart;
  bytes.copyWithin(m, 0, 16); // header copy
  v.setUint16(m + 24, typeListOff);
  v.setUint16(m + 26, nameListOff);
  const tl = m + typeListOff;
  v.setUint16(tl, 2 - 1);
  bytes.set(enc.encode("blkx"), tl + 2);
  v.setUint16(tl + 6, 2 - 1);
  v.setUint16(tl + 8, typeList);
  bytes.set(enc.encode("plst"), tl + 10);
  v.setUint16(tl + 14, 1 - 1);
  v.setUint16(tl + 16, typeList + 24);
  const ref = (i: number, id: number, nameOff: number, attrs: number) => {
    const r = tl + typeList + i * 12;
    v.setInt16(r, id);
    v.setUint16(r + 2, nameOff);
    v.setUint8(r + 4, attrs);
    v.setUint8(r + 5, dataOffsets[i] >> 16);
    v.setUint16(r + 6, dataOffsets[i] & 0xffff);
  };
  ref(0, -1, 0, 0x50);
  ref(1, 0, 1 + names[0].length, 0x50);
  ref(2, 0, 0xffff, 0x50);
  let n = m + nameListOff;
  for (const s of names) {
    bytes[n] = s.length;
    bytes.set(s, n + 1);
    n += 1 + s.length;
  }
  return { bytes, payloads, payloadAt };
}

function sampleMap(): ResourceMap {
  return {
    blkx: [
      {
        id: -1,
        name: "Driver Descriptor Map (DDM : 0)",
        attributes: 0x50,
        data: mishBlob(204, 1),
        fileOffset: 0,
      },
      { id: 0, name: "Apple_HFS : 1", attributes: 0x50, data: mishBlob(284, 2), fileOffset: 0 },
      {
        id: 32767,
        name: "Caf\u00e9 \u00ff",
        attributes: 0,
        data: new Uint8Array(0),
        fileOffset: 0,
      },
      { id: -32768, name: "", attributes: 0xff, data: mishBlob(5, 3), fileOffset: 0 },
    ],
    other: [
      { type: "plst", id: 0, name: "", attributes: 0x50, data: new Uint8Array(1032) },
      { type: "cSum", id: 1, name: "x", attributes: 0, data: mishBlob(10, 4) },
    ],
  };
}

function comparable(m: ResourceMap) {
  return {
    blkx: m.blkx.map(({ fileOffset: _, cfName: __, ...rest }) => ({
      ...rest,
      data: Array.from(rest.data),
    })),
    other: m.other.map((o) => ({ ...o, data: Array.from(o.data) })),
  };
}

describe("parseResourceFork", () => {
  it("reads a fork laid out by hand, with exact payload offsets", () => {
    const { bytes, payloads, payloadAt } = handFork();
    const base = 50_000;
    const m = parseResourceFork(bytes, base, DEFAULT_BUDGET);
    expect(m.blkx.map((b) => [b.id, b.name, b.attributes])).toEqual([
      [-1, "Driver Descriptor Map (DDM : 0)", 0x50],
      [0, "Apple_HFS : 1", 0x50],
    ]);
    expect(m.blkx.map((b) => b.fileOffset)).toEqual([base + payloadAt[0], base + payloadAt[1]]);
    expect(Array.from(m.blkx[1].data)).toEqual(Array.from(payloads[1]));
    expect(m.blkx[0].cfName).toBeUndefined();
    expect(m.other).toEqual([
      { type: "plst", id: 0, name: "", attributes: 0x50, data: payloads[2] },
    ]);
  });

  it("reads the fork the serializer writes back to the same map, data at 0x100", () => {
    const map = sampleMap();
    const bytes = serializeResourceFork(map);
    const v = new DataView(bytes.buffer);
    expect(v.getUint32(0)).toBe(0x100);
    expect(v.getUint32(4)).toBe(0x100 + v.getUint32(8));
    expect(v.getUint32(4) + v.getUint32(12)).toBe(bytes.length);
    const again = parseResourceFork(bytes, 7, DEFAULT_BUDGET);
    expect(comparable(again)).toEqual(comparable(map));
    for (const b of again.blkx) {
      expect(
        Array.from(bytes.subarray(b.fileOffset - 7, b.fileOffset - 7 + b.data.length)),
      ).toEqual(Array.from(b.data));
    }
    // Serializing the parsed map gives the same bytes.
    expect(Array.from(serializeResourceFork(again))).toEqual(Array.from(bytes));
  });

  it("round-trips an empty map", () => {
    const bytes = serializeResourceFork({ blkx: [], other: [] });
    expect(parseResourceFork(bytes, 0, DEFAULT_BUDGET)).toEqual({ blkx: [], other: [] });
  });

  it("carries the real images' tables: XML map -> fork -> same tables", () => {
    let seen = 0;
    for (const file of readdirSync(REAL).filter((f) => f.endsWith(".dmg"))) {
      const bytes = new Uint8Array(readFileSync(join(REAL, file)));
      const t = new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 512, 512);
      if (bytes.length < 512 || t.getUint32(0) !== 0x6b6f6c79) continue;
      const rsrcOff = Number(t.getBigUint64(KOLY_FIELD.rsrcForkOffset));
      const rsrcLen = Number(t.getBigUint64(KOLY_FIELD.rsrcForkLength));
      if (rsrcLen > 0) {
        // A real fork, where an image has one.
        const fork = parseResourceFork(
          bytes.subarray(rsrcOff, rsrcOff + rsrcLen),
          rsrcOff,
          DEFAULT_BUDGET,
        );
        expect(fork.blkx.length).toBeGreaterThan(0);
        for (const b of fork.blkx)
          expect(dec.decode(bytes.subarray(b.fileOffset, b.fileOffset + 4))).toBe("mish");
      }
      const xo = Number(t.getBigUint64(KOLY_FIELD.xmlOffset));
      const xl = Number(t.getBigUint64(KOLY_FIELD.xmlLength));
      if (xl === 0) continue;
      const map = parsePlist(bytes.subarray(xo, xo + xl), xo, DEFAULT_BUDGET);
      const again = parseResourceFork(serializeResourceFork(map), 0, DEFAULT_BUDGET);
      expect(again.blkx.length).toBeGreaterThan(0);
      for (const b of again.blkx) expect(dec.decode(b.data.subarray(0, 4))).toBe("mish");
      expect(comparable(again)).toEqual(comparable(map));
      seen++;
    }
    expect(seen).toBeGreaterThanOrEqual(5);
  });
});

describe("parseResourceFork: hostile input", () => {
  it("a fork over maxRsrcBytes is BUDGET_RSRC_BYTES, checked first", () => {
    const { bytes } = handFork();
    const e = errorOf(() =>
      parseResourceFork(bytes, 100, resolveBudget({ maxRsrcBytes: bytes.length - 1 })),
    );
    expect(e.code).toBe("BUDGET_RSRC_BYTES");
    expect(e.offset).toBe(100);
    // Checked before the header: even garbage of that size gets the budget code.
    expect(
      codeOf(() => parseResourceFork(new Uint8Array(10), 0, resolveBudget({ maxRsrcBytes: 9 }))),
    ).toBe("BUDGET_RSRC_BYTES");
  });

  it("more 'blkx' resources than maxTables is BUDGET_TABLES", () => {
    const { bytes } = handFork();
    expect(parseResourceFork(bytes, 0, resolveBudget({ maxTables: 2 })).blkx.length).toBe(2);
    expect(codeOf(() => parseResourceFork(bytes, 0, resolveBudget({ maxTables: 1 })))).toBe(
      "BUDGET_TABLES",
    );
  });

  /** The hand fork with one field changed. */
  function patched(f: (v: DataView, mapStart: number) => void): Uint8Array {
    const { bytes } = handFork();
    const v = new DataView(bytes.buffer);
    f(v, v.getUint32(4));
    return bytes;
  }
  const cases: Array<[string, (v: DataView, m: number) => void, RegExp]> = [
    ["data area past the end", (v) => v.setUint32(8, 0xffff_ff00), /data area .* outside/],
    ["data offset inside the header", (v) => v.setUint32(0, 8), /data area .* header/],
    ["map offset past the end", (v) => v.setUint32(4, 0xffff_fff0), /map .* outside/],
    ["map length past the end", (v) => v.setUint32(12, v.getUint32(12) + 1), /map .* outside/],
    ["map overlapping the data area", (v) => v.setUint32(4, v.getUint32(4) - 8), /overlaps/],
    ["map shorter than its header", (v) => v.setUint32(12, 20), /shorter than its 28-byte header/],
    ["type list offset past the map", (v, m) => v.setUint16(m + 24, 0xfff0), /type list offset/],
    ["name list offset past the map", (v, m) => v.setUint16(m + 26, 0xfff0), /name list offset/],
    ["type count past the map", (v, m) => v.setUint16(m + 28, 0x7000), /type entries/],
    ["reference count past the map", (v, m) => v.setUint16(m + 28 + 6, 0x7000), /28673 references/],
    [
      "reference list offset past the map",
      (v, m) => v.setUint16(m + 28 + 8, 0xff00),
      /2 references/,
    ],
    [
      "name offset past the map",
      (v, m) => v.setUint16(m + 28 + 18 + 2, 0x4000),
      /name of 'blkx' -1/,
    ],
    ["name length past the map", (v, m) => v.setUint8(m + v.getUint16(m + 26), 0xff), /name of/],
    ["data offset past the data area", (v, m) => v.setUint8(m + 28 + 18 + 5, 0x7f), /data offset/],
    ["data length past the data area", (v) => v.setUint32(0x100, 0x7fff_ffff), /declares/],
    [
      "data length one past the data area",
      (v) => v.setUint32(0x100, v.getUint32(8) - 4 + 1),
      /declares/,
    ],
  ];
  for (const [what, f, message] of cases) {
    it(`${what} is RSRC_MALFORMED`, () => {
      const e = errorOf(() => parseResourceFork(patched(f), 1000, DEFAULT_BUDGET));
      expect(e.code).toBe("RSRC_MALFORMED");
      expect(e.message).toMatch(message);
      expect(e.offset).toBeGreaterThanOrEqual(1000);
    });
  }

  it("a fork shorter than its header is RSRC_MALFORMED", () => {
    expect(codeOf(() => parseResourceFork(new Uint8Array(15), 0, DEFAULT_BUDGET))).toBe(
      "RSRC_MALFORMED",
    );
    expect(codeOf(() => parseResourceFork(new Uint8Array(0), 0, DEFAULT_BUDGET))).toBe(
      "RSRC_MALFORMED",
    );
  });

  it("random byte mutations of a valid fork give a map or a DmgError, nothing else", () => {
    const base = serializeResourceFork(sampleMap());
    const small = resolveBudget({ maxTables: 8 });
    let parsed = 0;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.nat(base.length),
        fc.boolean(),
        (edits, cut, headerOrMap) => {
          const b = base.slice(0, cut === 0 ? base.length : cut);
          const mapStart = 0x100 + new DataView(base.buffer).getUint32(8);
          for (const [pos, byte] of edits) {
            // Half the runs aim at the header and map, where the offsets are.
            const p = headerOrMap
              ? pos < 16
                ? pos
                : mapStart + (pos % (base.length - mapStart))
              : pos;
            if (p < b.length) b[p] = byte;
          }
          try {
            const m = parseResourceFork(b, 0, small);
            for (const x of m.blkx)
              expect(x.fileOffset + x.data.length).toBeLessThanOrEqual(b.length);
            parsed++;
          } catch (e) {
            if (!(e instanceof DmgError)) throw e;
            expect(e.code).toMatch(/^(RSRC_MALFORMED|BUDGET_TABLES)$/);
          }
        },
      ),
      { seed: 0x5c5c, numRuns: 2000 },
    );
    expect(parsed).toBeGreaterThan(0);
  });
});

describe("serializeResourceFork: refusals", () => {
  it("refuses fields the format cannot hold with INVALID_ARGUMENT", () => {
    const bad = (f: (m: ResourceMap) => void) => {
      const m = sampleMap();
      f(m);
      return codeOf(() => serializeResourceFork(m));
    };
    expect(bad((m) => (m.blkx[0].id = 40000))).toBe("INVALID_ARGUMENT");
    expect(bad((m) => (m.blkx[0].attributes = 0x100))).toBe("INVALID_ARGUMENT");
    expect(bad((m) => (m.blkx[0].name = "x".repeat(256)))).toBe("INVALID_ARGUMENT");
    expect(bad((m) => (m.blkx[0].name = "\u0100"))).toBe("INVALID_ARGUMENT");
    expect(bad((m) => (m.other[0].type = "plist"))).toBe("INVALID_ARGUMENT");
    expect(bad((m) => (m.other[0].type = "blkx"))).toBe("INVALID_ARGUMENT");
  });

  it("refuses data past the 24-bit offset range", () => {
    const big = new Uint8Array(0x100_0000);
    const m: ResourceMap = {
      blkx: [
        { id: 0, name: "", attributes: 0, data: big, fileOffset: 0 },
        { id: 1, name: "", attributes: 0, data: new Uint8Array(1), fileOffset: 0 },
      ],
      other: [],
    };
    expect(codeOf(() => serializeResourceFork(m))).toBe("INVALID_ARGUMENT");
    // The last resource may start below 2^24 and run past it.
    m.blkx.pop();
    const back = parseResourceFork(serializeResourceFork(m), 0, DEFAULT_BUDGET);
    expect(back.blkx[0].data.length).toBe(big.length);
  });
});
