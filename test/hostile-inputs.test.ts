/**
 * Hostile inputs beyond the first attack classes (docs/ATTACKS.md, G35-G47), each with the
 * outcome it must have: a finding flood that is capped, an attribute flood refused before the
 * XML parser holds it, terabytes of zero chunks that cost nothing, a ratio budget that stops
 * bombs early, dropped streams that give their memory back, arguments checked at the API
 * boundary, maps that disagree, names bounded by a budget, resource references that alias.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { DEFAULT_BUDGET, outputLimit } from "../src/core/limits.js";
import { jsonText, sanitize } from "../src/core/text.js";
import { UDZO } from "../src/format/types.js";
import { sessionOf } from "../src/image/image.js";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { buildDmg } from "../src/write/model.js";
import { writeDmgBytes } from "../src/write/writer.js";
import {
  aliasedReferences,
  attributeFlood,
  bzip2Bombs,
  failingChunks,
  longName,
  mapMismatch,
  namedImage,
  zeroDisk,
} from "./helpers/hostile-images.js";

const MiB = 1024 * 1024;
const TiB = 2 ** 40;

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

describe("G35: findings are capped, never spread", () => {
  it("keeps the first maxFindings of 130,000 decode errors and counts the rest", async () => {
    const image = failingChunks(130_000);
    const report = await validateDmg(image, { budget: { maxWorkingMemory: 64 * MiB } });
    expect(report.ok).toBe(false);
    expect(report.errors).toHaveLength(DEFAULT_BUDGET.maxFindings);
    expect(report.errors[0]).toMatchObject({ code: "DECODE_CORRUPT", table: 0, chunk: 0 });
    expect(report.dropped.errors).toBe(130_000 - DEFAULT_BUDGET.maxFindings);
    const note = report.warnings.find((w) => w.code === "FINDINGS_DROPPED");
    expect(note?.message).toContain(`${130_000 - DEFAULT_BUDGET.maxFindings} more errors`);
  }, 120_000);

  it("keeps what maxFindings says", async () => {
    const report = await validateDmg(failingChunks(50), { budget: { maxFindings: 3 } });
    expect(report.errors.map((f) => f.chunk)).toEqual([0, 1, 2]);
    expect(report.dropped).toEqual({ errors: 47, warnings: 0 });
  });
});

describe("G35: the error that stopped the operation is kept past the cap", () => {
  it("a budget stop after maxFindings decode errors still makes the report over budget", async () => {
    const sectors = 2048; // 1 MiB chunks
    const good = new Uint8Array(deflateSync(new Uint8Array(sectors * 512).fill(65)));
    const bad = new Uint8Array(64).fill(0xff);
    const image = buildDmg({
      tables: [
        {
          name: "t",
          chunks: [bad, bad, good, good].map((payload) => ({ type: UDZO, sectors, payload })),
        },
      ],
    });
    const report = await validateDmg(image, {
      budget: { maxFindings: 1, maxDecompressedBytes: sectors * 512 + 1000 },
    });
    expect(report.overBudget).toBe(true);
    expect(report.errors.map((f) => f.code)).toEqual(["DECODE_CORRUPT", "BUDGET_DECOMPRESSED"]);
    expect(report.dropped.errors).toBe(1);
  });
});

describe("G37: attribute floods", () => {
  it("refuses a start tag with more than 8 attributes before saxes holds them", async () => {
    const e = await rejection(openDmg(attributeFlood(1_000_000)));
    expect(e.code).toBe("PLIST_STRUCTURE");
    expect(e.message).toContain("more than 8 attributes");
  });

  it("still reads the one attribute real property lists have", async () => {
    const img = await openDmg(attributeFlood(0));
    expect(img.size).toBe(9 * 512);
    await img.close();
  });
});

describe("G38, D21: terabytes of zero chunks cost O(chunks)", () => {
  it("validates 16 TiB of zero chunks and reads a range of them", async () => {
    const image = zeroDisk(16);
    expect(image.length).toBeLessThan(4096);
    const report = await validateDmg(image);
    expect(report.ok).toBe(true);
    const img = await openDmg(image);
    expect(img.size).toBe(16 * TiB);
    expect([...(await img.read(8 * TiB, 16))]).toEqual(new Array(16).fill(0));
    await img.close();
  });

  it("counts zeros handed out as bytes against the output budget (a stream of it all)", async () => {
    const image = zeroDisk(1);
    const img = await openDmg(image, { budget: { expansionAllowance: 8 * MiB } });
    let got = 0;
    const e = await rejection(async () => {
      for await (const piece of img.stream()) got += piece.length;
    });
    expect(e.code).toBe("BUDGET_EXPANSION");
    expect(got).toBe(outputLimit(img.budget, image.length));
    await img.close();
  });
});

describe("G36: the expansion ratio bounds bombs by the file's size", () => {
  it("stops 8 bzip2 chunks of 1 GiB of zeros at the allowance plus the ratio", async () => {
    // `head -c 1G /dev/zero | bzip2 -9`: 785 bytes.
    const bomb = new Uint8Array(
      readFileSync(join(import.meta.dirname, "fixtures", "zeros-1g.bz2")),
    );
    const image = bzip2Bombs(8, bomb);
    expect(image.length).toBeLessThan(16 * 1024);
    const budget = { expansionAllowance: 16 * MiB };
    const report = await validateDmg(image, { budget });
    expect(report.errors[0]?.code).toBe("BUDGET_EXPANSION");
    const limit = 16 * MiB + DEFAULT_BUDGET.maxExpansionRatio * image.length;
    expect(report.cost.bytesDecompressed).toBeLessThanOrEqual(limit);
    expect(report.cost.bytesDecompressed).toBeGreaterThan(limit - MiB);
  }, 60_000);

  it("leaves honest images alone: the real ones expand at most 118:1 over the file", () => {
    // Measured over corpus/real (zlib-compressed.dmg); deflate cannot pass 1032:1 anyway.
    expect(DEFAULT_BUDGET.maxExpansionRatio).toBeGreaterThan(1032);
    expect(outputLimit(DEFAULT_BUDGET, 0)).toBe(DEFAULT_BUDGET.expansionAllowance);
    expect(outputLimit(DEFAULT_BUDGET, 2 ** 40)).toBe(DEFAULT_BUDGET.maxDecompressedBytes);
  });
});

describe("G43: dropped streams give their decoders back", () => {
  const disk = new Uint8Array(64 * 4096).map((_, i) => (i * 2654435761) >>> 24);

  it("40 streams read once and dropped leave reads working and close() at zero", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 64 });
    const img = await openDmg(image, { budget: { maxWorkingMemory: 4 * MiB } });
    const s = sessionOf(img);
    for (let k = 0; k < 40; k++) {
      const it = img.stream(k * 4096, 8192)[Symbol.asyncIterator]();
      await it.next(); // read once, never finished nor returned
    }
    expect(s.readers.size).toBeLessThanOrEqual(8);
    expect(Buffer.compare(await img.read(0, disk.length), disk)).toBe(0);
    await img.close();
    expect(s.memory.used).toBe(0);
  });

  it("return() frees a stream's decoder at once, and a resumed dropped stream still reads right", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 64 });
    const img = await openDmg(image, { budget: { maxWorkingMemory: 4 * MiB } });
    const s = sessionOf(img);
    const kept = img.stream(0, disk.length)[Symbol.asyncIterator]();
    const first = await kept.next();
    const pieces = [Buffer.from(first.value as Uint8Array)];
    for (let k = 0; k < 20; k++) {
      const it = img.stream(4096, 4096)[Symbol.asyncIterator]();
      await it.next();
      await it.return?.(undefined);
    }
    expect(s.readers.size).toBeLessThanOrEqual(1);
    for (let r = await kept.next(); !r.done; r = await kept.next())
      pieces.push(Buffer.from(r.value));
    expect(Buffer.compare(Buffer.concat(pieces), disk)).toBe(0);
    await img.close();
    expect(s.memory.used).toBe(0);
  });
});

describe("G43: a stream paused while its decoder is taken away", () => {
  const disk = new Uint8Array(16 * 32768).map((_, i) => (i * 2654435761) >>> 24);

  it("ends without a false overrun when its decoder was closed after the chunk's last piece", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 64 });
    const img = await openDmg(image);
    const a = img.stream(0, 32768)[Symbol.asyncIterator]();
    const pieces: Buffer[] = [];
    while (pieces.reduce((n, p) => n + p.length, 0) < 32768) {
      const r = await a.next();
      pieces.push(Buffer.from(r.value as Uint8Array));
    }
    // Nine more streams open decoders: the cap of eight closes the paused one's.
    const others = [];
    for (let k = 1; k <= 9; k++) {
      const it = img.stream(k * 32768, 32768)[Symbol.asyncIterator]();
      await it.next();
      others.push(it);
    }
    expect((await a.next()).done).toBe(true);
    expect(Buffer.compare(Buffer.concat(pieces), disk.subarray(0, 32768))).toBe(0);
    for (const it of others) await it.return?.(undefined);
    await img.close();
  });

  it("stops with a DmgError, holding no memory, when the image was closed meanwhile", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 1024 });
    const img = await openDmg(image);
    const s = sessionOf(img);
    const a = img.stream()[Symbol.asyncIterator]();
    await a.next();
    await img.close();
    const e = await rejection(async () => {
      for (let r = await a.next(); !r.done; r = await a.next());
    });
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(s.memory.used).toBe(0);
  });
});

describe("G44: arguments are checked at the API boundary", () => {
  it("refuses a BigInt offset or length with INVALID_ARGUMENT", async () => {
    const img = await openDmg(namedImage("x"));
    expect((await rejection(img.read(1n as unknown as number, 1))).code).toBe("INVALID_ARGUMENT");
    expect((await rejection(img.read(0, 1.5))).code).toBe("INVALID_ARGUMENT");
    const e = await rejection(async () => {
      for await (const _ of img.stream(1n as unknown as number)) break;
    });
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect((await rejection(img.read(0, img.size + 1))).code).toBe("READ_RANGE");
    await img.close();
  });

  it("turns a throwing getter, a wrong type and a throwing callback into INVALID_ARGUMENT", async () => {
    const image = namedImage("x");
    const budget = {
      get maxTables(): number {
        throw new Error("getter");
      },
    };
    expect((await rejection(openDmg(image, { budget }))).code).toBe("INVALID_ARGUMENT");
    const signal = "soon" as unknown as AbortSignal;
    expect((await rejection(openDmg(image, { signal }))).code).toBe("INVALID_ARGUMENT");
    const quick = 1 as unknown as boolean;
    expect((await rejection(validateDmg(image, { quick }))).code).toBe("INVALID_ARGUMENT");
    const onProgress = () => {
      throw new Error("caller's bug");
    };
    const e = await rejection(validateDmg(image, { onProgress }));
    expect(e.code).toBe("INVALID_ARGUMENT");
    expect(e.message).toContain("caller's bug");
  });
});

describe("G45: the XML and the resource fork must describe the same tables", () => {
  it("refuses tables that differ with MAP_MISMATCH", async () => {
    const e = await rejection(openDmg(mapMismatch()));
    expect(e.code).toBe("MAP_MISMATCH");
    expect(e.message).toContain("table 0 chunk 0");
  });

  it("compares the two maps in paced steps that obey the signal (G39)", async () => {
    // A signal that fires only when read from inside the comparison: the comparison checks it,
    // so it is paced (two maps of millions of chunks compare in steps, not one stretch).
    const signal = {
      reason: undefined,
      get aborted() {
        return /compareTables|tableDiffers/.test(new Error().stack ?? "");
      },
    } as unknown as AbortSignal;
    const e = await rejection(openDmg(mapMismatch(), { signal }));
    expect(e.code).toBe("ABORTED");
    expect(e.offset).toBeGreaterThan(0);
  });

  it("reads the XML with a warning when strict is off", async () => {
    const img = await openDmg(mapMismatch(), { strict: false });
    expect(img.warnings.map((w) => w.code)).toContain("RSRC_XML_DISAGREE");
    await img.close();
  });
});

describe("G46: names are bounded", () => {
  it("refuses a name past maxNameBytes, in the XML and in the resource fork", async () => {
    const e = await rejection(openDmg(longName(2000)));
    expect(e.code).toBe("BUDGET_NAME_BYTES");
    const ok = await openDmg(longName(2000), { budget: { maxNameBytes: 4096 } });
    expect(ok.tables[0].name).toHaveLength(2000);
    await ok.close();
    const rsrc = await rejection(
      openDmg(namedImage("r".repeat(200), "rsrc"), { budget: { maxNameBytes: 100 } }),
    );
    expect(rsrc.code).toBe("BUDGET_NAME_BYTES");
  });
});

describe("G47: resource reference lists that alias", () => {
  it("refuses references that do not fit in the map together", async () => {
    const e = await rejection(openDmg(aliasedReferences()));
    expect(e.code).toBe("RSRC_MALFORMED");
    expect(e.message).toContain("reference lists overlap");
  });
});

describe("G40: strings from the file are shown safely", () => {
  const nasty = "a\x1b]0;pwned\x07\x1b[2K\rOK \u009b31m\u202egnp.exe\u2028b\u0085c\t";

  it("escapes controls, C1, bidi overrides and line separators for a terminal", () => {
    const s = sanitize(nasty);
    expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
    expect(s).toBe(
      "a\\x1b]0;pwned\\x07\\x1b[2K\\x0dOK \\u009b31m\\u202egnp.exe\\u2028b\\u0085c\\x09",
    );
    expect(sanitize("Apple_HFS : 2 – café")).toBe("Apple_HFS : 2 – café");
  });

  it("writes JSON that no reader splits and that parses back to the same string", () => {
    const text = jsonText({ name: nasty });
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202e]/);
    expect(JSON.parse(text).name).toBe(nasty);
  });

  it("keeps table names as the file has them in the API", async () => {
    const img = await openDmg(namedImage("x\x1b[2Ky", "rsrc"));
    expect(img.tables[0].name).toBe("x\x1b[2Ky");
    await img.close();
  });
});

describe("G43: the cap on open decoders closes the ones idle longest", () => {
  it("keeps the decoder of a stream read steadily while others come and go", async () => {
    // Compressible (zlib chunks, decoded by a codec), yet different at every offset.
    const disk = new Uint8Array(12 * 1024 * 1024).map((_, i) => ((i >> 7) * 31 + (i & 3)) & 0xff);
    const image = await writeDmgBytes(disk, { chunkSectors: 2048 });
    const img = await openDmg(image);
    const steady = img.stream(0, 1024 * 1024)[Symbol.asyncIterator]();
    let read = 0;
    const others = [];
    for (let k = 1; k <= 11; k++) {
      const r = await steady.next();
      read += (r.value as Uint8Array).length;
      // A new stream on chunk k, left open after one piece.
      const it = img.stream(k * 1024 * 1024, 1024 * 1024)[Symbol.asyncIterator]();
      await it.next();
      others.push(it);
    }
    for (let r = await steady.next(); !r.done; r = await steady.next()) {
      read += (r.value as Uint8Array).length;
    }
    expect(read).toBe(1024 * 1024);
    // Had its decoder been closed, the steady stream would have decoded its chunk again from
    // the start. (The others' pieces are counted when their streams end.)
    expect(img.stats().bytesDecompressed).toBe(1024 * 1024);
    for (const it of others) await it.return?.(undefined);
    await img.close();
  });
});
