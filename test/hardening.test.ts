/**
 * Hardening after review: resource references that share data (G47 in the data area), errors
 * that are not DmgErrors hidden by the map comparison, caller codecs that throw or break the
 * cursor contract (G44), and the one element count of the property list (B11, G37).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import type { ChunkCursor, Codec, DecodeContext, PointRecorder } from "../src/codecs/codec.js";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import { DEFAULT_BUDGET, resolveBudget } from "../src/core/limits.js";
import { codecsOption } from "../src/core/options.js";
import { parsePlist } from "../src/format/plist.js";
import { parseResourceFork } from "../src/format/rsrc.js";
import { UDZE, UDZO } from "../src/format/types.js";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { buildDmg, type ChunkModel } from "../src/write/model.js";
import { chunkContext } from "./helpers/chunk-context.js";
import { CORPUS } from "./helpers/corpus.js";
import { smallImage } from "./helpers/hostile.js";
import { mapMismatch } from "./helpers/hostile-images.js";

/**
 * Makes the mish parser throw a plain TypeError while `on` is set (a bug below the map
 * comparison, which parses the differing tables first, before opening parses them again).
 */
const mishBug = vi.hoisted(() => ({ on: false }));
vi.mock("../src/format/mish.js", async (original) => {
  const real = await original<typeof import("../src/format/mish.js")>();
  return {
    ...real,
    parseMish: (...args: Parameters<typeof real.parseMish>) => {
      if (mishBug.on) throw new TypeError("a bug in parseMish");
      return real.parseMish(...args);
    },
    parseMishSteps: (...args: Parameters<typeof real.parseMishSteps>) => {
      if (mishBug.on) throw new TypeError("a bug in parseMish");
      return real.parseMishSteps(...args);
    },
  };
});

/** The DmgError `p` rejects with (fails the test when it resolves or throws something else). */
async function rejection(p: Promise<unknown> | (() => unknown)): Promise<DmgError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    expect(e).toBeInstanceOf(DmgError);
    return e as DmgError;
  }
  throw new Error("expected a DmgError");
}

// ---- Resource forks whose references share data ----

interface Ref {
  type: string;
  /** Offset in the data area of the resource's length field. */
  dataOffset: number;
}

/**
 * A fork laid out by hand: data area at 0x100 holding `data`, then a map with one type entry
 * per distinct type (in order of first appearance) and `refs` as its references, without names.
 * Returns the fork and the map offset of each reference, in the order given.
 */
function fork(data: Uint8Array, refs: Ref[]): { bytes: Uint8Array; refAt: number[] } {
  const types = [...new Set(refs.map((r) => r.type))];
  const byType = types.map((t) => refs.filter((r) => r.type === t));
  const typeList = 28;
  const refsStart = 2 + types.length * 8; // from the type list
  const mapLen = typeList + refsStart + refs.length * 12;
  const mapOff = 0x100 + data.length;
  const bytes = new Uint8Array(mapOff + mapLen);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, 0x100);
  v.setUint32(4, mapOff);
  v.setUint32(8, data.length);
  v.setUint32(12, mapLen);
  bytes.set(data, 0x100);
  v.setUint16(mapOff + 24, typeList);
  v.setUint16(mapOff + 26, mapLen); // empty name list
  v.setUint16(mapOff + typeList, types.length - 1);
  const refAt = new Array<number>(refs.length);
  let r = 0;
  types.forEach((type, t) => {
    const e = mapOff + typeList + 2 + t * 8;
    for (let i = 0; i < 4; i++) bytes[e + i] = type.charCodeAt(i);
    v.setUint16(e + 4, byType[t].length - 1);
    v.setUint16(e + 6, refsStart + r * 12);
    for (const ref of byType[t]) {
      const p = typeList + refsStart + r * 12;
      v.setInt16(mapOff + p, r);
      v.setUint16(mapOff + p + 2, 0xffff);
      bytes[mapOff + p + 5] = ref.dataOffset >>> 16;
      v.setUint16(mapOff + p + 6, ref.dataOffset & 0xffff);
      refAt[refs.indexOf(ref)] = p;
      r++;
    }
  });
  return { bytes, refAt };
}

/** A data area of resources of the given payload lengths; returns it and each one's offset. */
function dataArea(lengths: number[]): { data: Uint8Array; at: number[] } {
  const at: number[] = [];
  let n = 0;
  for (const len of lengths) {
    at.push(n);
    n += 4 + len;
  }
  const data = new Uint8Array(n);
  const v = new DataView(data.buffer);
  lengths.forEach((len, i) => {
    v.setUint32(at[i], len);
  });
  return { data, at };
}

/**
 * G47 in the data area: an image whose resource fork lists `refs` 'blkx' references to one
 * table of `chunks` one-sector zero chunks (the same bytes as corpus/regressions/
 * rsrc-aliased-data.dmg at 64 and 32; 1,024 and 2,047 made 2.1 million chunk entries of 95 KB).
 */
function aliasedData(refs: number, chunks: number): Uint8Array {
  const cs: ChunkModel[] = [];
  for (let i = 0; i < chunks; i++) cs.push({ type: UDZE, sectors: 1 });
  const image = buildDmg({ layout: "rsrc", tables: [{ name: "", chunks: cs, checksum: null }] });
  const dv = new DataView(image.buffer);
  const koly = image.length - 512;
  const forkOff = Number(dv.getBigUint64(koly + 40));
  const forkLen = Number(dv.getBigUint64(koly + 48));
  const original = image.subarray(forkOff, forkOff + forkLen);
  const ov = new DataView(original.buffer, original.byteOffset);
  const data = original.slice(ov.getUint32(0), ov.getUint32(0) + ov.getUint32(8));
  const refList: Ref[] = [];
  for (let r = 0; r < refs; r++) refList.push({ type: "blkx", dataOffset: 0 });
  const { bytes } = fork(data, refList);
  const out = new Uint8Array(forkOff + bytes.length + 512);
  out.set(image.subarray(0, forkOff));
  out.set(bytes, forkOff);
  out.set(image.subarray(koly), forkOff + bytes.length);
  new DataView(out.buffer).setBigUint64(forkOff + bytes.length + 48, BigInt(bytes.length));
  return out;
}

describe("G47: resource references that share data", () => {
  const AT = 1000; // file offset of the fork

  it("reads references to separate data, in order or not", () => {
    const { data, at } = dataArea([204, 0, 16]);
    for (const order of [
      [0, 1, 2],
      [2, 0, 1],
    ]) {
      const refs = order.map((k) => ({ type: "blkx", dataOffset: at[k] }));
      const map = parseResourceFork(fork(data, refs).bytes, AT, DEFAULT_BUDGET);
      expect(map.blkx.map((b) => b.data.length)).toEqual(order.map((k) => [204, 0, 16][k]));
    }
  });

  it("refuses two references to the same data, at the second one", () => {
    const { data, at } = dataArea([204, 204]);
    const refs = [
      { type: "blkx", dataOffset: at[0] },
      { type: "blkx", dataOffset: at[1] },
      { type: "blkx", dataOffset: at[0] },
    ];
    const f = fork(data, refs);
    const e = errorOf(() => parseResourceFork(f.bytes, AT, DEFAULT_BUDGET));
    expect(e.code).toBe("RSRC_MALFORMED");
    // At the data offset field of the third reference (the second to point there).
    expect(e.offset).toBe(AT + 0x100 + data.length + f.refAt[2] + 5);
    expect(e.message).toContain("must not share bytes");
  });

  it("refuses data that overlaps without starting at the same place, of any type", () => {
    // The second resource's length field lies inside the first one's payload.
    const { data } = dataArea([64]);
    new DataView(data.buffer).setUint32(4 + 8, 16);
    const refs = [
      { type: "plst", dataOffset: 8 + 4 },
      { type: "blkx", dataOffset: 0 },
    ];
    const f = fork(data, refs);
    const e = errorOf(() => parseResourceFork(f.bytes, AT, DEFAULT_BUDGET));
    expect(e.code).toBe("RSRC_MALFORMED");
    expect(e.offset).toBe(AT + 0x100 + data.length + f.refAt[1] + 5);
  });

  it("builds corpus/regressions/rsrc-aliased-data.dmg", () => {
    const file = readFileSync(join(CORPUS, "regressions", "rsrc-aliased-data.dmg"));
    expect(Buffer.compare(aliasedData(64, 32), file)).toBe(0);
  });

  it("refuses the image before its tables are parsed (was TABLE_LAYOUT after all of them)", async () => {
    const e = await rejection(openDmg(aliasedData(64, 32)));
    expect(e.code).toBe("RSRC_MALFORMED");
    const report = await validateDmg(aliasedData(64, 32));
    expect(report.errors[0].code).toBe("RSRC_MALFORMED");
  });

  it("checks many references in order or reversed the same way", () => {
    const n = 4000;
    const { data, at } = dataArea(new Array(n).fill(0));
    const budget = resolveBudget({ maxTables: n });
    const inOrder = at.map((dataOffset) => ({ type: "blkx", dataOffset }));
    expect(parseResourceFork(fork(data, inOrder).bytes, AT, budget).blkx).toHaveLength(n);
    const reversed = [...inOrder].reverse();
    expect(parseResourceFork(fork(data, reversed).bytes, AT, budget).blkx).toHaveLength(n);
    reversed[n - 1] = { type: "blkx", dataOffset: at[n - 2] };
    expect(errorOf(() => parseResourceFork(fork(data, reversed).bytes, AT, budget)).code).toBe(
      "RSRC_MALFORMED",
    );
  });
});

function errorOf(f: () => unknown): DmgError {
  try {
    f();
  } catch (e) {
    if (e instanceof DmgError) return e;
    throw e;
  }
  throw new Error("expected a DmgError, got a result");
}

// ---- The map comparison ----

describe("G45: comparing the XML and the resource fork", () => {
  it("does not hide an exception that is not a DmgError as a mismatch", async () => {
    const image = mapMismatch();
    mishBug.on = true;
    try {
      await expect(openDmg(image)).rejects.toThrow(TypeError);
    } finally {
      mishBug.on = false;
    }
    expect((await rejection(openDmg(image))).code).toBe("MAP_MISMATCH");
  });

  it("says which map holds a malformed table", async () => {
    const image = mapMismatch();
    // Break the resource fork's copy of the table: its signature.
    const off = Buffer.from(image).lastIndexOf(Buffer.from("mish"));
    image[off] ^= 0x20;
    const e = await rejection(openDmg(image));
    expect(e.code).toBe("MAP_MISMATCH");
    expect(e.message).toContain("table 0 is malformed in the resource fork");
  });
});

// ---- Caller codecs ----

/** A zlib codec whose cursors pass through `twist` (what the caller's next() returns). */
function twisted(
  twist: (piece: Uint8Array, max: number, cursor: ChunkCursor) => unknown,
  extra: Partial<Record<string, unknown>> = {},
): Codec {
  return {
    type: UDZO,
    name: "twisted zlib",
    open(ctx: DecodeContext) {
      const inner = zlibCodec.open(ctx);
      return {
        get position() {
          return inner.position;
        },
        async next(max: number) {
          return twist(await inner.next(max), max, inner);
        },
        close: () => inner.close(),
        ...extra,
      } as ChunkCursor;
    },
  };
}

/** What reading the whole small image with `codec` gives: its DmgError (any other throw fails). */
async function readWith(codec: unknown): Promise<DmgError> {
  const { image, disk } = smallImage();
  const img = await openDmg(image, { codecs: [codec as Codec] });
  try {
    return await rejection(img.read(0, disk.length));
  } finally {
    await img.close().catch(() => {});
  }
}

describe("G44: caller codecs", () => {
  it("refuses a codec table with throwing getters, reading each property once", async () => {
    const { image } = smallImage();
    const throwing = {
      type: UDZO,
      name: "z",
      get open(): never {
        throw new Error("getter");
      },
    };
    expect((await rejection(openDmg(image, { codecs: [throwing as never] }))).code).toBe(
      "INVALID_ARGUMENT",
    );
    const list = new Proxy([zlibCodec], {
      get(t, k) {
        if (k === "0") throw new Error("element getter");
        return Reflect.get(t, k);
      },
    });
    expect((await rejection(openDmg(image, { codecs: list }))).code).toBe("INVALID_ARGUMENT");
    // A getter that answers once well and then not: read once, so the first answer holds.
    const reads: Record<string, number> = {};
    const fickle = {} as Record<string, unknown>;
    for (const [k, good] of Object.entries({ type: UDZO, name: "fickle", open: zlibCodec.open })) {
      Object.defineProperty(fickle, k, {
        get() {
          reads[k] = (reads[k] ?? 0) + 1;
          if (reads[k] > 1) throw new Error(`${k} read twice`);
          return good;
        },
      });
    }
    const img = await openDmg(image, { codecs: [fickle as unknown as Codec] });
    await img.read(0, 4096);
    await img.close();
    expect(reads).toEqual({ type: 1, name: 1, open: 1 });
    expect((await rejection(openDmg(image, { codecs: [{ type: UDZO }] as never }))).code).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("makes what open() throws a DmgError of the chunk", async () => {
    const codec = {
      type: UDZO,
      name: "broken",
      open() {
        throw new Error("not ready");
      },
    };
    const e = await readWith(codec);
    expect(e.code).toBe("DECODE_CORRUPT");
    expect(e.table).toBe(0);
    expect(e.chunk).toBe(0);
    expect(e.message).toContain("not ready");
  });

  it("makes what next() throws a DmgError, and validation a finding", async () => {
    const codec = twisted(() => {
      throw new RangeError("oops");
    });
    expect((await readWith(codec)).code).toBe("DECODE_CORRUPT");
    const report = await validateDmg(smallImage().image, { codecs: [codec] });
    expect(report.ok).toBe(false);
    expect(report.errors[0].code).toBe("DECODE_CORRUPT");
  });

  it("refuses a next() that returns no Uint8Array", async () => {
    for (const bad of [undefined, null, "bytes", [1, 2, 3], new Uint16Array(4)]) {
      const e = await readWith(twisted(() => bad));
      expect(e.code).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain("not a Uint8Array");
    }
  });

  it("refuses a next() that returns more than max", async () => {
    const e = await readWith(twisted((piece) => new Uint8Array(piece.length + 1)));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toMatch(/next\(\d+\) returned \d+ bytes/);
  });

  it("holds a codec to the declared size: never past it, never short of it", async () => {
    // Ends early: an empty piece before the declared size.
    const short = await readWith(
      twisted((piece, _max, inner) => (inner.position > 1024 ? new Uint8Array(0) : piece)),
    );
    expect(short.code).toBe("DECODE_SHORT");
    // Goes on: one byte more after the chunk's end, within each max.
    const long = await readWith(
      twisted((piece, max) => (piece.length === 0 && max >= 1 ? new Uint8Array(1) : piece)),
    );
    expect(long.code).toBe("DECODE_OVERRUN");
  });

  it("makes what close() throws a DmgError", async () => {
    const { image, disk } = smallImage();
    const codec = twisted((p) => p, {
      close() {
        throw new Error("close failed");
      },
    });
    const img = await openDmg(image, { codecs: [codec] });
    const e = await rejection(async () => {
      await img.read(0, disk.length);
      await img.close();
    });
    expect(e.code).toBe("DECODE_CORRUPT");
  });

  it("makes what resume() throws a DmgError, and copies the points a codec offers", () => {
    const offered: unknown[] = [];
    const recorder: PointRecorder = {
      reserve: () => true,
      add: (p) => {
        offered.push(p);
      },
      compact: false,
    };
    let reads = 0;
    const point = {
      get position() {
        if (++reads > 1) throw new Error("read twice");
        return 512;
      },
      bytes: 10,
      state: "s",
    };
    const [codec] = codecsOption({
      codecs: [
        {
          type: UDZO,
          name: "resumable",
          open(ctx: DecodeContext) {
            ctx.points!.reserve(512, 10);
            ctx.points!.add(point);
            return zlibCodec.open(ctx);
          },
          resume() {
            throw new Error("cannot resume");
          },
        },
      ],
    })!;
    const ctx = chunkContext(new Uint8Array(8), 4096, { points: recorder });
    codec.open(ctx).close();
    expect(offered).toEqual([{ position: 512, bytes: 10, state: "s" }]);
    expect(Object.isFrozen(offered[0])).toBe(true);
    expect(reads).toBe(1);
    const e = errorOf(() => codec.resume!(ctx, offered[0] as never));
    expect(e.code).toBe("DECODE_CORRUPT");
    expect(e.message).toContain("cannot resume");
  });

  it("leaves the built-in codecs unwrapped", async () => {
    const { image } = smallImage();
    const img = await openDmg(image);
    const { sessionOf } = await import("../src/image/image.js");
    expect(sessionOf(img).codecs.get(UDZO)).toBe(zlibCodec);
    await img.close();
  });
});

// ---- The property list's element count ----

describe("B11, G37: one element count for elements and attributes", () => {
  it("counts attributes and elements against the same budget, with one message", () => {
    const budget = resolveBudget({ maxTables: 0 }); // 65,536 elements and attributes
    const doc = (inner: string) =>
      new TextEncoder().encode(`<plist version="1.0"><array>${inner}</array></plist>`);
    // plist, its attribute, array: 3; then the limit is reached by elements or by attributes.
    const byElements = doc("<true/>".repeat(65_534));
    const byAttributes = doc(`${"<true/>".repeat(65_530)}<true a="" b="" c="" d=""/>`);
    for (const xml of [byElements, byAttributes]) {
      const e = errorOf(() => parsePlist(xml, 0, budget));
      expect(e.code).toBe("PLIST_STRUCTURE");
      expect(e.message).toContain("more than 65536 elements and attributes");
    }
    // One fewer of either fits the count (and then fails for what a plist must hold).
    for (const xml of [
      doc("<true/>".repeat(65_533)),
      doc(`${"<true/>".repeat(65_529)}<true a="" b="" c=""/>`),
    ]) {
      expect(errorOf(() => parsePlist(xml, 0, budget)).message).not.toContain("more than");
    }
  });
});

describe("A4: a trailer whose forks run past the end of the file", () => {
  it("says the file may be truncated when a middle part is missing and the trailer kept", async () => {
    const whole = readFileSync(join(CORPUS, "real", "jhermsmeier_node-udif_zlib-compressed.dmg"));
    const cut = new Uint8Array(whole.length - 4096);
    cut.set(whole.subarray(0, whole.length - 4096 - 512));
    cut.set(whole.subarray(whole.length - 512), cut.length - 512);
    const e = await openDmg(cut).then(
      () => undefined,
      (x: unknown) => x as DmgError,
    );
    expect(e).toBeInstanceOf(DmgError);
    expect(e?.code).toBe("KOLY_RANGE");
    expect(e?.message).toMatch(/may be truncated/);
  });
});
