/**
 * httpSource against a real HTTP server (node:http on 127.0.0.1): sizes, ranged reads,
 * validation of every response, the file changing underneath, retries, budgets, redirects,
 * cancellation, and whole validations of real images giving the same report as local bytes.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  DmgError,
  type HttpSourceOptions,
  httpSource,
  openDmg,
  validateDmg,
} from "../src/index.js";
import { FIRST_WINDOW } from "../src/sources/http.js";
import { writeDmgBytes } from "../src/write/writer.js";
import { REAL } from "./helpers/corpus.js";
import { pattern } from "./helpers/hostile.js";
import {
  type Fault,
  type FileServer,
  type ServeOptions,
  serveFile,
} from "./helpers/http-server.js";

const servers: FileServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(file: Uint8Array, opts?: ServeOptions): Promise<FileServer> {
  const s = await serveFile(file, opts);
  servers.push(s);
  return s;
}

/** Faults by request number. */
function faults(list: Record<number, Fault>): ServeOptions["fault"] {
  return (n) => list[n];
}

/** The code of the DmgError `p` rejects with (fails on success or another exception). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DmgError);
    return (e as DmgError).code;
  }
  throw new Error("expected a DmgError");
}

const FAST: HttpSourceOptions = { retryDelay: 1 };
const FILE = pattern(300_000, 7);

describe("httpSource: reads", () => {
  it("learns the size from HEAD and reads exact ranges", async () => {
    const s = await serve(FILE);
    const src = await httpSource(s.url, { readAhead: 0 });
    expect(src.size).toBe(FILE.length);
    expect(await src.read(1000, 5000)).toEqual(FILE.subarray(1000, 6000));
    expect(await src.read(FILE.length - 1, 1)).toEqual(FILE.subarray(FILE.length - 1));
    expect(s.seen.map((r) => r.method)).toEqual(["HEAD", "GET", "GET"]);
    expect(s.seen[1].headers.range).toBe("bytes=1000-5999");
    // A strong ETag: later requests carry it, so another version is a 412.
    expect(s.seen[1].headers["if-match"]).toBe('"v1"');
    expect(src.stats()).toEqual({ requests: 3, bytes: 5001, retries: 0 });
  });

  it("learns the size from a GET of byte 0 when HEAD is refused", async () => {
    const s = await serve(FILE, { noHead: true });
    const src = await httpSource(s.url, { readAhead: 0 });
    expect(src.size).toBe(FILE.length);
    expect(s.seen[1].headers.range).toBe("bytes=0-0");
    expect(await src.read(7, 9)).toEqual(FILE.subarray(7, 16));
  });

  it("serves sequential small reads from one window read ahead, and shares concurrent reads", async () => {
    const s = await serve(FILE);
    const src = await httpSource(s.url, { readAhead: 64 * 1024 });
    for (let off = 0; off < 64 * 1024; off += 4096) {
      expect(await src.read(off, 4096)).toEqual(FILE.subarray(off, off + 4096));
    }
    expect(src.stats().requests).toBe(2);
    const reads = [100_000, 101_000, 102_000, 103_000].map((o) => src.read(o, 500));
    const got = await Promise.all(reads);
    got.forEach((g, i) => {
      const o = 100_000 + i * 1000;
      expect(g).toEqual(FILE.subarray(o, o + 500));
    });
    expect(src.stats().requests).toBe(3);
  });

  it("fills `into` and returns a copy the next read does not overwrite", async () => {
    const s = await serve(FILE);
    const src = await httpSource(s.url);
    const into = new Uint8Array(100);
    const a = await src.read(10, 100, into);
    expect(a.buffer).toBe(into.buffer);
    const b = await src.read(200, 100);
    expect(a).toEqual(FILE.subarray(10, 110));
    expect(b).toEqual(FILE.subarray(200, 300));
  });
});

describe("httpSource: faults", () => {
  it("retries a connection dropped mid-body", async () => {
    const s = await serve(FILE, { fault: faults({ 1: { kind: "drop", after: 1000 } }) });
    const src = await httpSource(s.url, { ...FAST, readAhead: 0 });
    expect(await src.read(0, 50_000)).toEqual(FILE.subarray(0, 50_000));
    expect(src.stats().retries).toBe(1);
  });

  it("buffers a small file from a server that ignores Range", async () => {
    const s = await serve(FILE, { fault: () => ({ kind: "full200" }), noHead: true });
    const src = await httpSource(s.url);
    expect(src.size).toBe(FILE.length);
    expect(await src.read(5, 10)).toEqual(FILE.subarray(5, 15));
    expect(await src.read(290_000, 10_000)).toEqual(FILE.subarray(290_000));
    expect(src.stats().requests).toBe(2); // the HEAD refused, then the one GET
  });

  it("refuses a large file from a server that ignores Range without reading it", async () => {
    const big = randomBytes(17 * 1024 * 1024);
    const s = await serve(big, { fault: () => ({ kind: "full200" }), noHead: true });
    expect(await codeOf(httpSource(s.url))).toBe("HTTP_NO_RANGES");
    // HEAD known size, then 200s to ranges: refused too.
    const t = await serve(big, { fault: (n) => (n > 0 ? { kind: "full200" } : undefined) });
    const src = await httpSource(t.url);
    expect(await codeOf(src.read(0, 10))).toBe("HTTP_NO_RANGES");
    expect(src.stats().bytes).toBeLessThan(1024 * 1024);
  });

  it("retries a wrong Content-Range once, then refuses it", async () => {
    const once = await serve(FILE, { fault: faults({ 1: { kind: "wrongRange" } }) });
    const a = await httpSource(once.url, { ...FAST, readAhead: 0 });
    expect(await a.read(10, 20)).toEqual(FILE.subarray(10, 30));
    const always = await serve(FILE, { fault: () => ({ kind: "wrongRange" }) });
    const b = await httpSource(always.url, { ...FAST, readAhead: 0 });
    const e = await b.read(10, 20).catch((x) => x);
    expect(e).toBeInstanceOf(DmgError);
    expect(e.code).toBe("HTTP_BAD_RESPONSE");
    expect(e.offset).toBe(10);
    expect(e.message).toMatch(/Content-Range bytes 11-30 instead of bytes 10-29/);
    expect(b.stats().requests).toBe(3); // HEAD, the GET, its one retry
  });

  it("refuses a short body and a body longer than asked", async () => {
    for (const kind of ["short", "long"] as const) {
      const s = await serve(FILE, { fault: (n) => (n > 0 ? { kind } : undefined) });
      const src = await httpSource(s.url, { ...FAST, readAhead: 0 });
      expect(await codeOf(src.read(100, 1000))).toBe("HTTP_BAD_RESPONSE");
      // Never more than asked is held: the long body is stopped at its extra byte.
      expect(src.stats().bytes).toBeLessThanOrEqual(2 * 1001);
    }
  });

  it("fails with SOURCE_CHANGED when the ETag changes between requests", async () => {
    const s = await serve(FILE, { fault: faults({ 2: { kind: "change" } }) });
    const src = await httpSource(s.url, { readAhead: 0 });
    expect(await src.read(0, 10)).toEqual(FILE.subarray(0, 10));
    expect(await codeOf(src.read(10, 10))).toBe("SOURCE_CHANGED");
    // And stays failed: no later read returns bytes of the new version.
    expect(await codeOf(src.read(20, 10))).toBe("SOURCE_CHANGED");
  });

  it("fails with SOURCE_CHANGED on a 200 to If-Range (Last-Modified only)", async () => {
    const s = await serve(FILE, { etag: false, fault: faults({ 2: { kind: "change" } }) });
    const src = await httpSource(s.url, { readAhead: 0 });
    await src.read(0, 10);
    expect(s.seen[1].headers["if-range"]).toMatch(/GMT$/);
    expect(await codeOf(src.read(10, 10))).toBe("SOURCE_CHANGED");
  });

  it("fails with SOURCE_CHANGED when the size in Content-Range changes (no validator)", async () => {
    const s = await serve(FILE, {
      etag: false,
      lastModified: false,
      fault: faults({ 2: { kind: "resize", size: FILE.length + 1 } }),
    });
    const src = await httpSource(s.url, { readAhead: 0 });
    await src.read(0, 10);
    expect(s.seen[1].headers["if-range"]).toBeUndefined();
    const e = await src.read(10, 10).catch((x) => x);
    expect(e.code).toBe("SOURCE_CHANGED");
    expect(e.message).toContain(`size is now ${FILE.length + 1}`);
  });

  it("stops at an AbortSignal.timeout with BUDGET_TIME, and on a plain abort with ABORTED", async () => {
    const s = await serve(FILE, {
      fault: (_n, req) => (req.headers.range ? { kind: "slow", ms: 2000 } : undefined),
    });
    const src = await httpSource(s.url, { signal: AbortSignal.timeout(200) });
    expect(await codeOf(src.read(0, 10))).toBe("BUDGET_TIME");
    const c = new AbortController();
    const src2 = await httpSource(s.url, { signal: c.signal });
    const p = src2.read(0, 10);
    setTimeout(() => c.abort(), 50);
    expect(await codeOf(p)).toBe("ABORTED");
  });

  it("close() aborts reads in flight", async () => {
    const s = await serve(FILE, {
      fault: (_n, req) => (req.headers.range ? { kind: "slow", ms: 2000 } : undefined),
    });
    const src = await httpSource(s.url);
    const p = src.read(0, 10);
    setTimeout(() => void src.close(), 50);
    expect(await codeOf(p)).toBe("ABORTED");
    expect(await codeOf(src.read(0, 10))).toBe("ABORTED");
  });

  it("waits out a 429 with Retry-After: 1, and retries a 503", async () => {
    const s = await serve(FILE, {
      fault: faults({ 1: { kind: "status", status: 429, retryAfter: "1" } }),
    });
    const src = await httpSource(s.url, { readAhead: 0 });
    expect(await src.read(0, 10)).toEqual(FILE.subarray(0, 10));
    expect(src.stats()).toMatchObject({ requests: 3, retries: 1 });
    const t = await serve(FILE, { fault: faults({ 1: { kind: "status", status: 503 } }) });
    const src2 = await httpSource(t.url, FAST);
    expect(await src2.read(0, 10)).toEqual(FILE.subarray(0, 10));
    expect(src2.stats().retries).toBe(1);
  });

  it("gives up on a Retry-After past 30 s, and on 5xx after the retries", async () => {
    const s = await serve(FILE, {
      fault: (n) => (n > 0 ? { kind: "status", status: 503, retryAfter: "3600" } : undefined),
    });
    const src = await httpSource(s.url, FAST);
    const e = await src.read(0, 10).catch((x) => x);
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toMatch(/HTTP 503.*retry after 3600 s/);
    const t = await serve(FILE, {
      fault: (n) => (n > 0 ? { kind: "status", status: 500 } : undefined),
    });
    const src2 = await httpSource(t.url, { ...FAST, retries: 2 });
    expect(await codeOf(src2.read(0, 10))).toBe("IO_ERROR");
    expect(src2.stats()).toEqual({ requests: 4, bytes: 0, retries: 2 });
    expect(await codeOf(httpSource(`${t.origin}/missing`, FAST))).toBe("IO_ERROR");
  });

  it("counts retries against maxRequests and bytes against maxBytes", async () => {
    const s = await serve(FILE, {
      fault: (n) => (n > 0 ? { kind: "status", status: 503 } : undefined),
    });
    const src = await httpSource(s.url, { ...FAST, maxRequests: 3, retries: 10 });
    expect(await codeOf(src.read(0, 10))).toBe("BUDGET_HTTP_REQUESTS");
    expect(src.stats().requests).toBe(3);
    const t = await serve(FILE);
    const src2 = await httpSource(t.url, { readAhead: 0, maxBytes: 1000 });
    await src2.read(0, 600);
    expect(await codeOf(src2.read(600, 600))).toBe("BUDGET_HTTP_BYTES");
  });
});

describe("httpSource: redirects and options", () => {
  it("refuses a redirect loop with HTTP_REDIRECTS", async () => {
    const s = await serve(FILE, {
      route: (req, res) => {
        if (req.url === "/a") res.writeHead(302, { Location: "/b" }).end();
        else if (req.url === "/b") res.writeHead(302, { Location: "/a" }).end();
        else return false;
        return true;
      },
    });
    expect(await codeOf(httpSource(`${s.origin}/a`))).toBe("HTTP_REDIRECTS");
  });

  it("follows a redirect to another origin without its Authorization, and keeps going there", async () => {
    const target = await serve(FILE);
    const front = await serve(FILE, {
      route: (_req, res) => {
        res.writeHead(302, { Location: target.url }).end();
        return true;
      },
    });
    const src = await httpSource(`${front.origin}/x.dmg`, {
      headers: { Authorization: "Bearer secret-token" },
      readAhead: 0,
    });
    expect(await src.read(0, 100)).toEqual(FILE.subarray(0, 100));
    expect(front.seen[0].headers.authorization).toBe("Bearer secret-token");
    expect(target.seen.length).toBeGreaterThan(0);
    for (const r of target.seen) expect(r.headers.authorization).toBeUndefined();
    // The read went straight to the redirect's end.
    expect(front.seen).toHaveLength(1);
  });

  it("keeps credentials out of messages", async () => {
    const s = await serve(FILE, { fault: () => ({ kind: "status", status: 403 }) });
    const u = new URL(s.url);
    u.username = "alice";
    u.password = "hunter2";
    u.search = "?sig=abc";
    const e = await httpSource(u, { ...FAST, headers: { "X-Key": "k3y" } }).catch((x) => x);
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toContain(`${s.origin}/file.dmg`);
    for (const secret of ["alice", "hunter2", "sig=abc", "k3y"]) {
      expect(e.message).not.toContain(secret);
    }
    // The URL's credentials went as Basic authorization.
    expect(s.seen[0].headers.authorization).toBe(`Basic ${btoa("alice:hunter2")}`);
  });

  it("refuses invalid options and non-HTTP URLs with INVALID_ARGUMENT", async () => {
    for (const [url, opts] of [
      ["file:///etc/passwd", {}],
      ["not a url", {}],
      ["http://127.0.0.1/x", { readAhead: -1 }],
      ["http://127.0.0.1/x", { concurrency: 0 }],
      ["http://127.0.0.1/x", { retries: 1.5 }],
      ["http://127.0.0.1/x", { signal: "no" }],
      ["http://127.0.0.1/x", { headers: { "bad name": "x" } }],
      ["http://127.0.0.1/x", { fetch: 3 }],
    ] as const) {
      expect(await codeOf(httpSource(url, opts as HttpSourceOptions))).toBe("INVALID_ARGUMENT");
    }
  });

  it("turns a network failure into IO_ERROR after its retries", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    const e = await httpSource(`http://127.0.0.1:${port}/x`, { ...FAST, retries: 1 }).catch(
      (x) => x,
    );
    expect(e.code).toBe("IO_ERROR");
  });
});

describe("httpSource: whole validations", () => {
  const reals = [
    "jhermsmeier_node-udif_compression-raw.dmg",
    "jhermsmeier_node-udif_zlib-compressed.dmg",
    "citruz_dmgwiz_input_lzma.dmg",
  ];

  it.each(reals)("%s: the same report over HTTP as from local bytes", async (name) => {
    const bytes = new Uint8Array(readFileSync(join(REAL, name)));
    const s = await serve(bytes);
    for (const quick of [true, false]) {
      const local = await validateDmg(bytes, { quick });
      const src = await httpSource(s.url);
      const remote = await validateDmg(src, { quick });
      expect(remote).toEqual(local);
      expect(remote.ok).toBe(true);
      console.log(`${name} ${quick ? "quick" : "full"}: ${JSON.stringify(src.stats())}`);
    }
  });

  it("a 6 MiB image: the same report and disk over HTTP, few requests", async () => {
    const image = await writeDmgBytes(pattern(6 * 1024 * 1024, 3), {
      codec: "raw",
      chunkSectors: 256,
    });
    const s = await serve(image);
    for (const readAhead of [undefined, 0]) {
      for (const quick of [true, false]) {
        const src = await httpSource(s.url, { readAhead });
        const remote = await validateDmg(src, { quick });
        expect(remote).toEqual(await validateDmg(image, { quick }));
        const st = src.stats();
        console.log(
          `6 MiB image (${image.length} bytes), readAhead ${readAhead ?? "default"}, ${quick ? "quick" : "full"}: ${JSON.stringify(st)}`,
        );
        expect(st.bytes).toBeLessThanOrEqual(quick ? image.length : 2 * image.length);
      }
    }
    const img = await openDmg(await httpSource(s.url));
    const local = await openDmg(image);
    expect(Buffer.compare(await img.read(0, img.size), await local.read(0, local.size))).toBe(0);
  });

  it("a quick validation is HEAD and two small GETs; a full one fetches the file about once", async () => {
    // Four tables, a few KiB of XML: the trailer and the tables fit one window at the end.
    const image = await writeDmgBytes(pattern(6 * 1024 * 1024, 5), {
      codec: "raw",
      chunkSectors: 256,
      partitions: [
        { name: "Driver Descriptor Map (DDM : 0)", sectors: 64 },
        { name: "Apple (Apple_partition_map : 1)", sectors: 64 },
        { name: "disk image (Apple_HFS : 2)", sectors: 12_000 },
        { name: "free (Apple_Free : 3)", sectors: -1 },
      ],
    });
    const s = await serve(image);
    const quick = await httpSource(s.url);
    const q = await validateDmg(quick, { quick: true });
    expect(q.ok).toBe(true);
    expect(q.summary?.tables).toHaveLength(4);
    // HEAD, the first sectors, and the window ending at the end (trailer and tables).
    expect(quick.stats()).toEqual({ requests: 3, bytes: 2 * FIRST_WINDOW, retries: 0 });
    expect(s.seen.map((r) => r.headers.range ?? r.method)).toEqual([
      "HEAD",
      `bytes=0-${FIRST_WINDOW - 1}`,
      `bytes=${image.length - FIRST_WINDOW}-${image.length - 1}`,
    ]);

    s.seen.length = 0;
    const full = await httpSource(s.url);
    expect((await validateDmg(full, { quick: false })).ok).toBe(true);
    const st = full.stats();
    // Windows double from 64 KiB to 1 MiB: 0-64K, the tail, 128K, 256K, 512K, then 1 MiB ones;
    // then the partition map and file-system probes read the disk's first chunk again.
    expect(st.requests).toBeLessThanOrEqual(14);
    expect(st.bytes).toBeGreaterThanOrEqual(image.length);
    expect(st.bytes).toBeLessThanOrEqual(1.02 * image.length);
    // Each byte of the data fork was asked for once by the decode pass: the ranges after the
    // first two tile it; what follows is the probes' few reads.
    const ranges = s.seen.slice(3).map((r) => /^bytes=(\d+)-(\d+)$/.exec(r.headers.range ?? ""));
    let at = FIRST_WINDOW;
    let n = 0;
    for (; n < ranges.length && at < image.length; n++) {
      expect(Number(ranges[n]?.[1])).toBe(at);
      at = Number(ranges[n]?.[2]) + 1;
    }
    expect(at).toBe(image.length);
    expect(ranges.length - n).toBeLessThanOrEqual(2);
  });

  it("grows the window while reads go on in sequence, starts over after a jump, and fetches the next window ahead", async () => {
    const file = pattern(8 * 1024 * 1024, 9);
    const s = await serve(file);
    const src = await httpSource(s.url);
    const step = 16 * 1024;
    for (let off = 0; off < 4 * 1024 * 1024; off += step) {
      const got = await src.read(off, step);
      expect(Buffer.compare(got, file.subarray(off, off + step))).toBe(0);
    }
    const K = 1024;
    const ranges = () => s.seen.slice(1).map((r) => r.headers.range);
    // The window fetched ahead may still be on its way to the server.
    await vi.waitFor(() => expect(s.seen).toHaveLength(src.stats().requests));
    // 64K, then 128K fetched with the next (256K) ahead of the reads, and so on up to 1 MiB;
    // the reads are in the window from 4032K, and the one after it is on its way.
    expect(ranges()).toEqual([
      `bytes=0-${64 * K - 1}`,
      `bytes=${64 * K}-${192 * K - 1}`,
      `bytes=${192 * K}-${448 * K - 1}`,
      `bytes=${448 * K}-${960 * K - 1}`,
      `bytes=${960 * K}-${1984 * K - 1}`,
      `bytes=${1984 * K}-${3008 * K - 1}`,
      `bytes=${3008 * K}-${4032 * K - 1}`,
      `bytes=${4032 * K}-${5056 * K - 1}`,
      `bytes=${5056 * K}-${6080 * K - 1}`,
    ]);
    s.seen.length = 0;
    expect(await src.read(7 * 1024 * K, 100)).toEqual(
      file.subarray(7 * 1024 * K, 7 * 1024 * K + 100),
    );
    // A jump: the window starts over at 64 KiB.
    expect(s.seen.map((r) => r.headers.range)).toEqual([
      `bytes=${7 * 1024 * K}-${7 * 1024 * K + FIRST_WINDOW - 1}`,
    ]);
  });
});
