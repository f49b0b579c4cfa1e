/**
 * One session per image: codecs chosen per image (two images with different codecs in one
 * process do not affect each other), the budget checked in one place, working memory that is
 * never released twice, and cancellation of every operation with nothing left behind.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Codec } from "../src/codecs/codec.js";
import { zlibCodec } from "../src/codecs/zlib/zlib.js";
import { BUDGET_KEYS, checkBudget, DEFAULT_BUDGET, MemoryMeter } from "../src/core/limits.js";
import { UDZO } from "../src/format/types.js";
import { sessionOf } from "../src/image/image.js";
import { DmgError, openDmg as openCore } from "../src/index.js";
import { createDmg, extractDmg, nativeZlibCodec, openDmg } from "../src/node/index.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { zlibZeros } from "./helpers/hostile-images.js";

const tmp = mkdtempSync(join(tmpdir(), "dmg-session-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const disk = new Uint8Array(64 * 4096).map((_, i) => (i * 2654435761) >>> 24);

/** A zlib codec that counts the chunks it opens. */
function countingCodec(): Codec & { opened: number } {
  const codec = {
    type: UDZO,
    name: "zlib (counting)",
    opened: 0,
    open(ctx: Parameters<Codec["open"]>[0]) {
      codec.opened++;
      return zlibCodec.open(ctx);
    },
  };
  return codec;
}

describe("codecs per image", () => {
  it("two images opened with different codecs in one process do not affect each other", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 64 });
    const counting = countingCodec();
    const mine = await openCore(image, { codecs: [counting] });
    const theirs = await openCore(image);
    expect(Buffer.compare(await theirs.read(0, disk.length), disk)).toBe(0);
    expect(counting.opened).toBe(0);
    expect(Buffer.compare(await mine.read(0, disk.length), disk)).toBe(0);
    expect(counting.opened).toBeGreaterThan(0);
    // The caller's codec, wrapped so that it keeps the cursor contract.
    expect(sessionOf(mine).codecs.get(UDZO)?.name).toBe(counting.name);
    expect(sessionOf(mine).codecs.isDefault(UDZO)).toBe(false);
    expect(sessionOf(theirs).codecs.get(UDZO)).toBe(zlibCodec);
    await mine.close();
    await theirs.close();
  });

  it("the Node entry gives its images node:zlib without changing the core's", async () => {
    const image = await writeDmgBytes(disk, { chunkSectors: 64 });
    const node = await openDmg(image);
    const core = await openCore(image);
    expect(sessionOf(node).codecs.get(UDZO)).toBe(nativeZlibCodec);
    expect(sessionOf(core).codecs.get(UDZO)).toBe(zlibCodec);
    await node.close();
    await core.close();
  });
});

describe("limits", () => {
  it("raise the code and the words of the one budget table", () => {
    for (const spec of BUDGET_KEYS) {
      if (spec.key === "maxFindings") continue;
      let e: unknown;
      try {
        checkBudget(DEFAULT_BUDGET, spec.key, DEFAULT_BUDGET[spec.key] + 1, { offset: 7 });
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(DmgError);
      expect((e as DmgError).code).toBe(spec.code);
      expect((e as DmgError).offset).toBe(7);
      expect((e as DmgError).message).toContain(spec.flag);
      expect((e as DmgError).message).toContain(spec.key);
    }
    expect(() => checkBudget(DEFAULT_BUDGET, "maxTables", DEFAULT_BUDGET.maxTables)).not.toThrow();
  });

  it("releasing more working memory than was taken is a bug, not a DmgError", () => {
    const m = new MemoryMeter(100);
    m.acquire(10, "x");
    m.release(10);
    expect(() => m.release(1)).toThrow(/internal error/);
    expect(() => m.release(1)).not.toThrow(DmgError);
    expect(() => m.release(Number.NaN)).toThrow(/internal error/);
  });

  it("a session's meter is back at zero once the image is closed", async () => {
    const img = await openCore(await writeDmgBytes(disk, { chunkSectors: 64 }));
    await img.read(4096, 8192);
    for await (const _ of img.stream(0, 8192)) break;
    await img.close();
    expect(img.stats().workingMemory).toBe(0);
    await img.close(); // twice is fine
    const after = await img.read(0, 1).catch((e: unknown) => e);
    expect((after as DmgError).code).toBe("INVALID_ARGUMENT");
  });
});

describe("cancellation", () => {
  it("an aborted open, read and stream fail with ABORTED; reads free their memory", async () => {
    const image = zlibZeros(64);
    const aborted = AbortSignal.abort();
    await expect(openCore(image, { signal: aborted })).rejects.toMatchObject({ code: "ABORTED" });
    const img = await openCore(image);
    await expect(img.read(0, 4 << 20, { signal: aborted })).rejects.toMatchObject({
      code: "ABORTED",
    });
    const it = img.stream(0, img.size, { signal: aborted })[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toMatchObject({ code: "ABORTED" });
    // What is left is soft memory only (index points, cache), and close() frees it.
    const s = sessionOf(img);
    expect(s.readers.size).toBe(0);
    await img.close();
    expect(s.memory.used).toBe(0);
  });

  it("a cancelled extract or create leaves no output and no temporary file", async () => {
    const dir = mkdtempSync(join(tmp, "cancel-"));
    const source = join(dir, "zeros.dmg");
    writeFileSync(source, zlibZeros(2048));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const out = join(dir, "out.raw");
    await expect(
      extractDmg(source, out, { threads: 1, signal: controller.signal }),
    ).rejects.toMatchObject({ code: "ABORTED" });
    expect(readdirSync(dir)).toEqual(["zeros.dmg"]);
    const raw = join(dir, "disk.raw");
    writeFileSync(raw, new Uint8Array(64 << 20).fill(7));
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 20);
    await expect(
      createDmg(raw, join(dir, "made.dmg"), { signal: stop.signal }),
    ).rejects.toMatchObject({ code: "ABORTED" });
    expect(readdirSync(dir).sort()).toEqual(["disk.raw", "zeros.dmg"]);
  });
});
