/**
 * Validation in a worker thread (the recipe for upload handlers): the same report as in this
 * thread, a pathological input stopped at its deadline and a heap that runs out both reported
 * as budgets, and this process healthy after each.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UDZE } from "../src/format/types.js";
import { buildDmg } from "../src/write/model.js";
import { namedImage, zlibZeros } from "./helpers/hostile-images.js";
import { serveFile } from "./helpers/http-server.js";

const tmp = mkdtempSync(join(tmpdir(), "dmg-worker-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Worker threads run the built modules (npm test builds dist/ first): load them from there.
type Lib = typeof import("../src/node/index.js");
type WorkerModule = typeof import("../src/node/worker/validate-in-worker.js");
let validateDmg: Lib["validateDmg"];
let validateInWorker: Lib["validateInWorker"];
let runInWorker: WorkerModule["runInWorker"];
beforeAll(async () => {
  const dist = join(import.meta.dirname, "..", "dist", "node");
  const lib: Lib = await import(pathToFileURL(join(dist, "index.js")).href);
  const mod: WorkerModule = await import(
    pathToFileURL(join(dist, "worker", "validate-in-worker.js")).href
  );
  ({ validateDmg, validateInWorker } = lib);
  ({ runInWorker } = mod);
});

describe("validateInWorker", () => {
  it("gives the report validateDmg gives, from a path, bytes or a Blob", async () => {
    const image = namedImage("worker");
    const path = join(tmp, "small.dmg");
    writeFileSync(path, image);
    const here = await validateDmg(path);
    for (const source of [path, image, new Blob([new Uint8Array(image)])]) {
      const there = await validateInWorker(source);
      expect(there.ok).toBe(true);
      expect(there.summary).toEqual(here.summary);
      expect(there.checksums).toEqual(here.checksums);
    }
    const missing = await validateInWorker(join(tmp, "missing.dmg"));
    expect(missing.errors[0].code).toBe("IO_ERROR");
    await expect(validateInWorker(image, { timeoutMs: -1 })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("passes progress on from the worker, paced, ending at the total, and none once settled", async () => {
    const image = namedImage("progress");
    const seen: Array<[number, number]> = [];
    const report = await validateInWorker(image, { onProgress: (d, t) => seen.push([d, t]) });
    expect(report.ok).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    const [done, total] = seen[seen.length - 1];
    expect(done).toBe(total);
    expect(total).toBe(report.summary!.sectorCount * 512);
    for (let i = 1; i < seen.length; i++) expect(seen[i][0]).toBeGreaterThanOrEqual(seen[i - 1][0]);
    await expect(validateInWorker(image, { onProgress: 3 as never })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("reads an http(s) URL itself, with the headers given, and reports an unreachable one", async () => {
    const image = namedImage("remote");
    const here = await validateDmg(image);
    const server = await serveFile(image);
    try {
      const there = await validateInWorker(new URL(server.url), {
        headers: { Authorization: "Bearer worker-token" },
      });
      expect(there.ok).toBe(true);
      expect(there.checksums).toEqual(here.checksums);
      expect(server.seen.length).toBeGreaterThan(0);
      for (const r of server.seen) expect(r.headers.authorization).toBe("Bearer worker-token");
    } finally {
      await server.close();
    }
    // Nobody listens there any more: a finding, as a missing file is.
    const gone = await validateInWorker(new URL(server.url), { timeoutMs: 20_000 });
    expect(gone.ok).toBe(false);
    expect(gone.errors[0].code).toBe("IO_ERROR");
    await expect(validateInWorker(new URL("ftp://example.com/x.dmg"))).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  }, 60_000);

  it("keeps a deadline longer than a timer can hold", async () => {
    // setTimeout holds at most 2^31 - 1 ms: a longer delay fires after 1 ms, which killed the
    // worker at once; AbortSignal.timeout refuses delays past 2^32 - 1.
    for (const timeoutMs of [2 ** 31 + 5, 2 ** 40]) {
      const report = await validateInWorker(namedImage("long"), { timeoutMs });
      expect(report.errors).toEqual([]);
      expect(report.ok).toBe(true);
    }
  }, 60_000);

  it("stops a long validation at its deadline with BUDGET_TIME, and the process goes on", async () => {
    const slow = zlibZeros(4096); // 4 GiB of zlib zeros in 4 MB: seconds of work
    const report = await validateInWorker(slow, { timeoutMs: 200 });
    expect(report.ok).toBe(false);
    expect(report.overBudget).toBe(true);
    expect(report.errors[0].code).toBe("BUDGET_TIME");
    expect((await validateInWorker(namedImage("after"))).ok).toBe(true);
  }, 60_000);

  it("terminates a worker that cannot stop itself at its deadline and grace", async () => {
    // A thread stuck in a loop that never gives its event loop a turn: no signal reaches it,
    // only termination does (what guards against a bug in the library itself).
    const script = new URL("./fixtures/spin-thread.mjs", import.meta.url);
    const request = { kind: "dmg-validate" as const, source: new Uint8Array(1), timeoutMs: 100 };
    const report = await runInWorker(request, 64, undefined, script);
    expect(report.errors[0].code).toBe("BUDGET_TIME");
    expect(report.errors[0].message).toContain("its worker was terminated");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(
      runInWorker({ ...request, timeoutMs: 60_000 }, 64, controller.signal, script),
    ).rejects.toMatchObject({ code: "ABORTED" });
  }, 60_000);

  it("reports a worker that runs out of its heap as BUDGET_WORKING_MEMORY", async () => {
    // 256 tables with 62 KB names (names allowed by the budget): 16 MB of strings, 8 MiB heap.
    const tables = Array.from({ length: 256 }, (_, t) => ({
      name: `${t}`.padEnd(62_000, "n"),
      chunks: [{ type: UDZE, sectors: 1 }],
    }));
    const image = buildDmg({ tables });
    const report = await validateInWorker(image, {
      maxHeapMb: 8,
      budget: { maxNameBytes: 100_000 },
    });
    expect(report.errors[0].code).toBe("BUDGET_WORKING_MEMORY");
    expect((await validateInWorker(namedImage("after"))).ok).toBe(true);
  }, 60_000);
});
