/**
 * Containers through the worker and threads paths: `validateInWorker` on a sparse image (named
 * .sparseimage and .dmg), a sparse bundle folder, a segmented set and encrypted images (v2 and
 * v1, the password sent in the request, never in a child's argv or environment) gives the
 * report validateDmg gives; `extract --threads 2` writes the bytes `--threads 1` writes.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeDmgBytes } from "../src/write/writer.js";
import { runCli, ZLIB } from "./helpers/cli-run.js";
import { encryptImage, encryptImageV1, padUdifToBlocks } from "./helpers/encrypted.js";
import { partNames, splitImage } from "./helpers/segments.js";
import { bandBytes, buildSparse, writeBundle } from "./helpers/sparse.js";

const dir = mkdtempSync(join(tmpdir(), "dmg-cont-w-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PASSWORD = "worker-pw";

// Worker threads run the built modules (npm test builds dist/ first): load them from there.
type Lib = typeof import("../src/node/index.js");
let lib: Lib;

/** Each container on disk: its name, the path given, the password it needs. */
const cases: Array<{ name: string; path: string; password?: string }> = [];

beforeAll(async () => {
  lib = await import(
    pathToFileURL(join(import.meta.dirname, "..", "dist", "node", "index.js")).href
  );
  const { file } = buildSparse({
    sectorsPerBand: 8,
    totalSectors: 400,
    nodes: [[3, 0, 1, 40, 7, 9]],
  });
  writeFileSync(join(dir, "disk.sparseimage"), file);
  writeFileSync(join(dir, "named.dmg"), file);
  const bands = new Map([0, 2, 5].map((n) => [n, bandBytes(n, 8192)] as const));
  writeBundle(join(dir, "b.sparsebundle"), 8192, 8 * 8192, bands);
  const raw = new Uint8Array(192 * 1024);
  for (let i = 0; i < raw.length; i++) raw[i] = i % 4096 < 3000 ? (i * 31 + (i >> 9)) & 0xff : 0;
  const image = await writeDmgBytes(raw, { chunkSectors: 32 });
  mkdirSync(join(dir, "set"));
  const parts = splitImage(image, 3);
  for (const [i, n] of partNames("Big", 3).entries()) writeFileSync(join(dir, "set", n), parts[i]);
  const inner = new Uint8Array(readFileSync(ZLIB));
  writeFileSync(join(dir, "v2.dmg"), encryptImage(inner, { password: PASSWORD, iterations: 100 }));
  const v1 = encryptImageV1(padUdifToBlocks(inner), { password: PASSWORD, iterations: 100 });
  writeFileSync(join(dir, "v1.dmg"), v1);
  cases.push(
    { name: "sparse image", path: join(dir, "disk.sparseimage") },
    { name: "sparse image named .dmg", path: join(dir, "named.dmg") },
    { name: "sparse bundle", path: join(dir, "b.sparsebundle") },
    { name: "segmented set", path: join(dir, "set", "Big.dmg") },
    { name: "encrypted v2", path: join(dir, "v2.dmg"), password: PASSWORD },
    { name: "encrypted v1", path: join(dir, "v1.dmg"), password: PASSWORD },
  );
});

describe("validateInWorker on each container", () => {
  it("gives the report validateDmg gives, container and warnings included", async () => {
    expect(cases.length).toBe(6);
    for (const c of cases) {
      const o = c.password ? { password: c.password } : {};
      const here = await lib.validateDmg(c.path, o);
      const there = await lib.validateInWorker(c.path, o);
      expect([c.name, there.errors]).toEqual([c.name, []]);
      expect([c.name, there.ok]).toEqual([c.name, true]);
      expect([c.name, there]).toEqual([c.name, here]);
    }
  }, 120_000);

  it("a sparse image named .dmg keeps its NAME_MISLEADING warning in the worker", async () => {
    const there = await lib.validateInWorker(join(dir, "named.dmg"));
    expect(there.warnings.map((w) => w.code)).toContain("NAME_MISLEADING");
  });

  it("encrypted: no password is ENCRYPTED, a wrong one PASSWORD_WRONG, as in this thread", async () => {
    for (const file of ["v1.dmg", "v2.dmg"]) {
      const none = await lib.validateInWorker(join(dir, file));
      expect(none.errors[0].code).toBe("ENCRYPTED");
      const wrong = await lib.validateInWorker(join(dir, file), { password: "nope" });
      expect(wrong.errors[0].code).toBe("PASSWORD_WRONG");
    }
  });

  it("a set whose other parts are missing, or a bundle with a band past its disk: the same finding", async () => {
    mkdirSync(join(dir, "broken"));
    const p1 = readFileSync(join(dir, "set", "Big.dmg"));
    writeFileSync(join(dir, "broken", "Big.dmg"), p1);
    const here = await lib.validateDmg(join(dir, "broken", "Big.dmg"));
    const there = await lib.validateInWorker(join(dir, "broken", "Big.dmg"));
    expect(there.errors[0].code).toBe("KOLY_SEGMENTED");
    expect(there).toEqual(here);
    const bad = join(dir, "bad.sparsebundle");
    writeBundle(bad, 8192, 2 * 8192, new Map([[0, bandBytes(0, 10)]]));
    writeFileSync(join(bad, "bands", "9"), bandBytes(9, 10));
    const b1 = await lib.validateDmg(bad);
    const b2 = await lib.validateInWorker(bad);
    expect(b2.errors[0].code).toBe("BUNDLE_MALFORMED");
    expect(b2).toEqual(b1);
  });
});

describe("decoding lanes over an encrypted file", () => {
  it("start (worker threads decrypt with the data keys) and hand over each chunk's bytes", async () => {
    const load = (...p: string[]) =>
      import(pathToFileURL(join(import.meta.dirname, "..", "dist", ...p)).href);
    const parallel: typeof import("../src/node/parallel/parallel.js") = await load(
      "node",
      "parallel",
      "parallel.js",
    );
    const { sessionOf }: typeof import("../src/image/image.js") = await load("image", "image.js");
    // Three tasks of 4 MiB for the lanes to share.
    const raw = new Uint8Array(12 * 1024 * 1024);
    for (let i = 0; i < raw.length; i++) raw[i] = (i * 7 + (i >> 11)) & 0xff;
    const path = join(dir, "lanes-v2.dmg");
    const inner = await writeDmgBytes(raw, { chunkSectors: 256 });
    writeFileSync(path, encryptImage(inner, { password: PASSWORD, iterations: 10 }));
    const budget = { maxWorkingMemory: 64 * 1024 * 1024 };
    const image = await lib.openDmg(path, { password: PASSWORD, budget });
    try {
      const pool = parallel.ChunkPool.start(sessionOf(image), { threads: 2, mode: "data" });
      expect(pool).toBeDefined();
      let taken = 0;
      for (const c of image.chunks()) {
        const pieces: Uint8Array[] = [];
        const got = await pool!.take(c.index, async (p) => {
          pieces.push(p.slice());
        });
        if (!got.done) continue;
        taken++;
        const bytes = await image.read(c.sector * 512, c.sectorCount * 512);
        expect(Buffer.compare(Buffer.concat(pieces), bytes)).toBe(0);
      }
      await pool!.close();
      expect(taken).toBe(
        image.chunkCount -
          [...image.chunks()].filter((c) => c.typeName !== "zlib" && c.typeName !== "raw").length,
      );
    } finally {
      await image.close();
    }
  }, 60_000);
});

describe("extract --threads 2 against --threads 1", () => {
  it("gives identical bytes for each container", () => {
    const pw = join(dir, "pw.txt");
    writeFileSync(pw, `${PASSWORD}\n`);
    for (const c of cases) {
      const pass = c.password ? ["--password-file", pw] : [];
      const outs = [1, 2].map((t) => {
        const out = join(dir, `${c.name.replaceAll(" ", "-")}.t${t}.img`);
        const r = runCli(["extract", "--threads", String(t), ...pass, c.path, out], dir);
        expect([c.name, t, r.status, r.err]).toEqual([c.name, t, 0, ""]);
        return readFileSync(out);
      });
      expect([c.name, outs[0].length > 0]).toEqual([c.name, true]);
      expect([c.name, outs[1].equals(outs[0])]).toEqual([c.name, true]);
    }
  }, 120_000);
});
