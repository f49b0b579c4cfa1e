/**
 * The web page in a real browser (Debian's chromium, driven by playwright-core; no browser is
 * downloaded): every real image in corpus/real/ picked as a file gets the verdict the library
 * gives on Node and a picture of its disk; a long validation is cancelled; a URL is read with
 * range requests, and a server that forbids this page by CORS is explained in words; the core
 * bundle validates in the page with no Node global. Screenshots go to test-artifacts/web/.
 */
import { execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { deflateSync } from "node:zlib";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UDZE, UDZO } from "../src/format/types.js";
import { openDmg, validateDmg } from "../src/node/index.js";
import { buildDmg, type ChunkModel } from "../src/write/model.js";
import { zlibZeros } from "./helpers/hostile-images.js";

const ROOT = join(import.meta.dirname, "..");
const DIST = join(ROOT, "dist-web");
const REAL = join(ROOT, "corpus", "real");
const ART = join(ROOT, "test-artifacts", "web");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const haveChromium = existsSync(CHROMIUM);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
};

/** Files the test serves under /files/, by name. */
const files = new Map<string, Uint8Array>();

/** A static server of dist-web/ and /files/ with Range support; `cors` adds no CORS header. */
function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    let body: Uint8Array | undefined;
    let type = "application/octet-stream";
    if (path.startsWith("/files/")) body = files.get(path.slice(7));
    else {
      const name = path === "/" ? "index.html" : path.slice(1);
      const file = join(DIST, name);
      if (!name.includes("..") && existsSync(file)) {
        body = readFileSync(file);
        type = TYPES[extname(file)] ?? type;
      }
    }
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.setHeader("Content-Type", type);
    res.setHeader("Accept-Ranges", "bytes");
    res.setHeader("ETag", `"${body.length}"`);
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(body.length - 1, m[2] ? Number(m[2]) : body.length - 1);
      if (start >= body.length) {
        res.writeHead(416, { "Content-Range": `bytes */${body.length}` }).end();
        return;
      }
      res.writeHead(206, {
        "Content-Range": `bytes ${start}-${end}/${body.length}`,
        "Content-Length": end - start + 1,
      });
      res.end(req.method === "HEAD" ? undefined : body.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { "Content-Length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

/** The verdict the page gives, computed by the library on Node. */
async function nodeVerdict(bytes: Uint8Array): Promise<{ verdict: string; codes: string[] }> {
  const r = await validateDmg(bytes);
  const codes = r.errors.map((f) => f.code);
  const verdict = codes.includes("ENCRYPTED")
    ? "encrypted"
    : r.ok
      ? "valid"
      : r.overBudget
        ? "over budget"
        : "invalid";
  return { verdict, codes };
}

/** Chunk type names the picture's legend should show, or undefined when it cannot open. */
async function expectedTypes(bytes: Uint8Array): Promise<string[] | undefined> {
  try {
    const img = await openDmg(bytes);
    const names = new Set<string>();
    for (const t of img.tables) for (const n of Object.keys(t.histogram)) names.add(n);
    await img.close();
    names.delete("terminator");
    names.delete("comment");
    return [...names].sort();
  } catch {
    return undefined;
  }
}

describe.skipIf(!haveChromium && !process.env.CI)("the web page in chromium", () => {
  let context: BrowserContext;
  let page: Page;
  let origin: string;
  const servers: Server[] = [];
  const pageErrors: string[] = [];
  const profile = mkdtempSync(join(tmpdir(), "dmg-web-profile-"));

  beforeAll(async () => {
    // Under CI a missing browser fails here instead of skipping.
    expect(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}`).toBe(true);
    execFileSync(process.execPath, [join(ROOT, "scripts", "build-web.mjs")], { stdio: "pipe" });
    mkdirSync(ART, { recursive: true });
    const s = await serve();
    servers.push(s.server);
    origin = s.origin;
    const { chromium } = await import("playwright-core");
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: { width: 1100, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(e.message));
  }, 120_000);

  afterAll(async () => {
    // An exception in the page is a bug whatever the test it happened in.
    expect(pageErrors).toEqual([]);
    await context?.close();
    for (const s of servers) s.close();
    rmSync(profile, { recursive: true, force: true });
  });

  const load = async () => {
    await page.goto(`${origin}/`);
    await page.waitForSelector("#budgets input", { state: "attached" });
  };
  const verdictOf = async () => {
    await page.waitForSelector("#verdict", { timeout: 60_000 });
    return page.getAttribute("#verdict", "data-verdict");
  };

  it("gives every real image the library's verdict, and pictures the ones it can open", async () => {
    const names = readdirSync(REAL).filter((n) => n !== "README.md");
    expect(names.length).toBeGreaterThan(5);
    for (const name of names) {
      const bytes = new Uint8Array(readFileSync(join(REAL, name)));
      const want = await nodeVerdict(bytes);
      await load();
      await page.setInputFiles("#file", join(REAL, name));
      expect(await verdictOf(), name).toBe(want.verdict);
      const codes = await page.$$eval("#findings li.error", (li) =>
        li.map((e) => e.getAttribute("data-code")),
      );
      expect(codes, name).toEqual(want.codes);
      const types = await expectedTypes(bytes);
      if (types) {
        const legend = await page.$$eval("figure.bar", () =>
          Array.from(document.querySelectorAll(".legend li")).map((li) =>
            li.getAttribute("data-type"),
          ),
        );
        expect(legend.sort(), name).toEqual(types);
        const bars = await page.$$eval("figure.bar", (figs) =>
          figs.map((f) => ({
            segments: Number(f.getAttribute("data-segments")),
            buckets: Number(f.getAttribute("data-buckets")),
            rects: f.querySelectorAll("rect.seg").length,
          })),
        );
        expect(bars.length, name).toBe(2);
        for (const b of bars) {
          expect(b.rects).toBe(b.segments);
          expect(b.segments).toBeGreaterThan(0);
          expect(b.segments).toBeLessThanOrEqual(b.buckets);
        }
      } else {
        expect(await page.$$("figure.bar"), name).toHaveLength(0);
      }
      await page.screenshot({ path: join(ART, `${name}.png`), fullPage: true });
    }
  }, 300_000);

  it("marks a corrupt chunk on the disk, shows its entry by keyboard, and offers both reports", async () => {
    const bytes = new Uint8Array(
      readFileSync(join(REAL, "jhermsmeier_node-udif_zlib-compressed.dmg")),
    );
    const img = await openDmg(bytes);
    const c = img.chunk(1);
    await img.close();
    const bad = bytes.slice();
    bad[c.offset + Math.floor(c.length / 2)] ^= 0xff;
    await load();
    await page.setInputFiles("#file", {
      name: "corrupt.dmg",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(bad),
    });
    expect(await verdictOf()).toBe("invalid");
    const disk = page.locator("figure.bar").first();
    expect(Number(await disk.getAttribute("data-marks"))).toBeGreaterThan(0);
    await disk.locator("svg").focus();
    await page.keyboard.press("Home");
    await page.keyboard.press("ArrowRight");
    const detail = await disk.locator(".detail").textContent();
    expect(detail).toMatch(/chunk \d+ \(table \d+, entry \d+\): zlib/);
    // The pointer shows the entry under it too: near the left edge, chunk 0.
    await disk.locator("svg").hover({ position: { x: 3, y: 20 } });
    const hovered = await disk.locator(".detail").textContent();
    expect(hovered).toMatch(/^sectors \d+\.\.\d+: chunk 0 \(table 0, entry 0\): zlib/);
    expect(hovered).not.toBe(detail);
    const reports = await page.evaluate(async () => {
      const get = async (id: string) => {
        const a = document.getElementById(id) as HTMLAnchorElement;
        return { name: a.download, body: await (await fetch(a.href)).json() };
      };
      return { json: await get("dl-json"), sarif: await get("dl-sarif") };
    });
    expect(reports.json.name).toBe("corrupt.dmg.report.json");
    expect(reports.json.body.schema).toMatch(/schema\/report\/1$/);
    expect(reports.json.body.ok).toBe(false);
    expect(reports.sarif.body.version).toBe("2.1.0");
    expect(reports.sarif.body.runs[0].results.length).toBe(
      reports.json.body.errors.length + reports.json.body.warnings.length,
    );
    await page.screenshot({ path: join(ART, "corrupt-chunk.png"), fullPage: true });
  }, 120_000);

  it("cancels a long validation: the worker stops and the page says so", async () => {
    files.set("large.dmg", zlibZeros(2048));
    await load();
    await page.setInputFiles("#file", {
      name: "large.dmg",
      mimeType: "application/octet-stream",
      buffer: Buffer.from(files.get("large.dmg")!),
    });
    await page.waitForFunction(
      () => /Decoding .* of .*\/s/.test(document.getElementById("status-text")?.textContent ?? ""),
      null,
      { timeout: 60_000 },
    );
    await page.screenshot({ path: join(ART, "progress.png") });
    await page.click("#cancel");
    await page.waitForFunction(
      () => document.getElementById("status")?.dataset.state === "cancelled",
    );
    expect(await page.textContent("#status-text")).toBe("Cancelled.");
    expect(await page.isHidden("#result")).toBe(true);
  }, 120_000);

  it("pictures a quarter of a million chunks with a bounded number of elements", async () => {
    const payload = new Uint8Array(deflateSync(new Uint8Array(512)));
    const chunks: ChunkModel[] = [];
    for (let i = 0; i < 250_000; i++) {
      chunks.push(i % 3 === 0 ? { type: UDZE, sectors: 1 } : { type: UDZO, sectors: 1, payload });
    }
    const image = buildDmg({ tables: [{ name: "many", chunks, checksum: null }] });
    await load();
    await page.click("#options summary");
    await page.check("#quick");
    const path = join(profile, "many.dmg");
    writeFileSync(path, image);
    await page.setInputFiles("#file", path);
    expect(await verdictOf()).toBe("valid");
    const shape = await page.evaluate(() => ({
      elements: document.getElementsByTagName("*").length,
      rects: document.querySelectorAll("rect").length,
      text: document.getElementById("result")!.textContent ?? "",
    }));
    expect(shape.text).toContain("250,000 chunks");
    expect(shape.rects).toBeLessThanOrEqual(2 * (720 + 720 + 1));
    expect(shape.elements).toBeLessThan(5000);
  }, 180_000);

  it("reads a URL with range requests, and explains a server that forbids it by CORS", async () => {
    const name = "jhermsmeier_node-udif_compression-bz2.dmg";
    files.set(name, new Uint8Array(readFileSync(join(REAL, name))));
    await load();
    await page.fill("#url", `${origin}/files/${name}`);
    await page.click("#url-form button");
    expect(await verdictOf()).toBe("valid");
    expect(await page.$$("figure.bar")).toHaveLength(2);
    // Another origin that sends no Access-Control-Allow-Origin: the browser refuses the page.
    const other = await serve();
    servers.push(other.server);
    await load();
    await page.fill("#url", `${other.origin}/files/${name}`);
    await page.click("#url-form button");
    expect(await verdictOf()).toBe("invalid");
    expect(await page.textContent("#hint")).toMatch(/did not allow this page to read it \(CORS\)/);
  }, 180_000);

  it("fits 360 px, follows the dark scheme, and puts a file's strings in as text", async () => {
    const name = "jhermsmeier_node-udif_compression-adc.dmg";
    await page.setViewportSize({ width: 360, height: 800 });
    await page.emulateMedia({ colorScheme: "dark" });
    await load();
    await page.setInputFiles("#file", {
      name: "<img src=x onerror=alert(1)>.dmg",
      mimeType: "application/octet-stream",
      buffer: readFileSync(join(REAL, name)),
    });
    expect(await verdictOf()).toBe("valid");
    expect(await page.$$("#result img")).toHaveLength(0);
    expect(await page.textContent("#verdict")).toContain("<img src=x onerror=alert(1)>.dmg");
    const layout = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      bg: getComputedStyle(document.body).backgroundColor,
    }));
    expect(layout.scroll).toBeLessThanOrEqual(360);
    expect(layout.bg).toBe("rgb(13, 17, 23)");
    await page.screenshot({ path: join(ART, "narrow-dark.png"), fullPage: true });
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1100, height: 900 });
  }, 120_000);

  it("shows a changed stored CRC32 as invalid, and an encrypted image as encrypted", async () => {
    const valid = join(REAL, "citruz_dmgwiz_input_lzma.dmg");
    const bytes = new Uint8Array(readFileSync(valid));
    const crc = bytes.slice();
    // The koly trailer's data-fork checksum value (trailer offset 0x58).
    crc[crc.length - 512 + 0x58] ^= 0x01;
    const shots: Array<
      [string, string | { name: string; mimeType: string; buffer: Buffer }, string]
    > = [
      ["valid", valid, "valid"],
      [
        "invalid",
        {
          name: "input_lzma-crc.dmg",
          mimeType: "application/octet-stream",
          buffer: Buffer.from(crc),
        },
        "invalid",
      ],
      ["encrypted", join(REAL, "citruz_dmgwiz_input_aes256.dmg"), "encrypted"],
    ];
    await page.setViewportSize({ width: 760, height: 900 });
    for (const [shot, file, verdict] of shots) {
      await load();
      await page.setInputFiles("#file", file);
      expect(await verdictOf()).toBe(verdict);
      if (shot === "invalid") {
        expect(await page.getAttribute("#findings li.error", "data-code")).toBe("CRC_DATA_FORK");
      }
      // The README's pictures: the result, from its verdict down.
      const top = await page.evaluate(
        () => document.getElementById("status")!.getBoundingClientRect().top + scrollY,
      );
      await page.screenshot({
        path: join(ART, `readme-${shot}.png`),
        clip: { x: 0, y: top, width: 760, height: shot === "encrypted" ? 360 : 760 },
        fullPage: true,
      });
    }
    // With its password: this file's key is wrapped with Triple DES, which WebCrypto lacks;
    // the page says so rather than calling the image broken.
    await load();
    await page.click("#options summary");
    await page.fill("#password", "test123");
    await page.setInputFiles("#file", join(REAL, "citruz_dmgwiz_input_aes256.dmg"));
    expect(await verdictOf()).toBe("encrypted");
    expect(await page.getAttribute("#findings li.error", "data-code")).toBe("CIPHER_UNAVAILABLE");
    expect(await page.textContent("#findings li.error")).toMatch(/Triple DES/);
    await page.setViewportSize({ width: 1100, height: 900 });
  }, 120_000);

  it("runs the core bundle in the page with no Node global", async () => {
    const name = "jhermsmeier_node-udif_compression-lzfse.dmg";
    const lzma = "citruz_dmgwiz_input_lzma.dmg";
    files.set(name, new Uint8Array(readFileSync(join(REAL, name))));
    files.set(lzma, new Uint8Array(readFileSync(join(REAL, lzma))));
    await load();
    // A string, so that the test runner's transform leaves the page's own import() alone.
    const script = `(async () => {
      const globals = ["process", "Buffer", "require", "__dirname", "global", "setImmediate"]
        .filter((g) => g in globalThis);
      const core = await import("/core.js");
      const bytes = new Uint8Array(await (await fetch(${JSON.stringify(`${origin}/files/${name}`)})).arrayBuffer());
      const fromBytes = await core.validateDmg(bytes);
      const fromBlob = await core.validateDmg(new Blob([bytes]));
      const img = await core.openDmg(new Blob([bytes]));
      const disk = await img.read(0, 512);
      await img.close();
      // The page's CSP admits WebAssembly ('wasm-unsafe-eval'), so XZ chunks decode with it.
      const wasm = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))
        .then(() => true, () => false);
      const xz = await core.validateDmg(new Uint8Array(await (await fetch(${JSON.stringify(`${origin}/files/${lzma}`)})).arrayBuffer()));
      return { globals, ok: [fromBytes.ok, fromBlob.ok, xz.ok], wasm, checks: fromBytes.checksums, first: disk.length };
    })()`;
    const out = await page.evaluate(script);
    expect(out).toMatchObject({ globals: [], ok: [true, true, true], wasm: true, first: 512 });
    expect((out as { checks: { dataFork: string } }).checks.dataFork).toBe("ok");
  }, 120_000);
});

describe("the web page's source", () => {
  it("puts strings in as text: no markup sinks", () => {
    const dir = join(ROOT, "web");
    const sources = readdirSync(dir).filter((n) => n.endsWith(".ts"));
    expect(sources.length).toBeGreaterThan(3);
    const offenders = sources.filter((n) =>
      /innerHTML|outerHTML|insertAdjacentHTML|document\.write|srcdoc|\beval\(/.test(
        readFileSync(join(dir, n), "utf8"),
      ),
    );
    expect(offenders).toEqual([]);
  });
});
