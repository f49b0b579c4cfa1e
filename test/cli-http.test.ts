/**
 * The command line over HTTP: check, info, cat and extract of a URL served by a real server
 * (node:http on 127.0.0.1), headers from --header and DMG_VALIDATE_HTTP_HEADERS reaching the
 * server but never the output, URLs shown without credentials or query, and the exit codes of
 * a server that misbehaves.
 *
 * The CLI runs as a child process started asynchronously: the server answers from this
 * process's event loop, which a synchronous spawn would block.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { openDmg } from "../src/index.js";
import { BIN, type Run, ZLIB } from "./helpers/cli-run.js";
import { type FileServer, type ServeOptions, serveFile } from "./helpers/http-server.js";

const tmp = mkdtempSync(join(tmpdir(), "dmg-cli-http-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const servers: FileServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const IMAGE = new Uint8Array(readFileSync(ZLIB));

async function serve(opts?: ServeOptions, file = IMAGE): Promise<FileServer> {
  const s = await serveFile(file, opts);
  servers.push(s);
  return s;
}

/** Run `dmg-validate args` in a child process, without blocking this one's event loop. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: tmp,
      env: {
        ...process.env,
        DMG_VALIDATE_DEBUG: "",
        DMG_VALIDATE_HTTP_HEADERS: "",
        GITHUB_ACTIONS: "",
        GITHUB_STEP_SUMMARY: "",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    child.on("error", reject);
    child.on("close", (status) => {
      const stdout = Buffer.concat(out);
      resolve({
        status,
        stdout,
        out: stdout.toString("utf8"),
        err: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/** The virtual disk of the served image, read locally. */
async function disk(): Promise<Uint8Array> {
  const image = await openDmg(IMAGE);
  try {
    return await image.read(0, image.size);
  } finally {
    await image.close();
  }
}

/** `text` holds none of `secrets`. */
function expectNone(text: string, secrets: string[]): void {
  for (const secret of secrets) expect(text).not.toContain(secret);
}

describe("CLI over HTTP: commands", () => {
  it("check validates a URL, full and quick, single-threaded over range requests", async () => {
    const s = await serve();
    const full = await cli(["check", "--threads", "4", s.url]);
    expect(full.status).toBe(0);
    expect(full.out).toMatch(new RegExp(`^OK  ${s.url} \\(`));
    const quick = await cli(["check", "--quick", s.url]);
    expect(quick.status).toBe(0);
    expect(quick.out).toContain(`OK  ${s.url}`);
    for (const r of s.seen) {
      expect(r.method === "HEAD" || /^bytes=\d+-\d+$/.test(r.headers.range ?? "")).toBe(true);
    }
  });

  it("check --verbose shows what the URL cost", async () => {
    const s = await serve();
    const r = await cli(["check", "--verbose", s.url]);
    expect(r.status).toBe(0);
    const m =
      /^ {2}http: (\d+) HTTP requests, .* fetched \(([\d.]+)% of the file\), 0 retries$/m.exec(
        r.out,
      );
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).toBe(s.seen.length);
  });

  it("info, cat and extract read a URL", async () => {
    const s = await serve();
    const info = await cli(["info", s.url]);
    expect(info.status).toBe(0);
    expect(info.out).toContain(`file             ${s.url}\n`);
    const json = await cli(["info", "--json", s.url]);
    expect(JSON.parse(json.out)).toMatchObject({ file: s.url, ok: true });

    const want = await disk();
    const cat = await cli(["cat", s.url]);
    expect(cat.status).toBe(0);
    expect(Buffer.compare(cat.stdout, want)).toBe(0);
    const part = await cli(["cat", "--offset", "1000", "--length", "5000", s.url]);
    expect(Buffer.compare(part.stdout, want.subarray(1000, 6000))).toBe(0);

    const out = join(tmp, "disk.img");
    const ex = await cli(["extract", s.url, out]);
    expect(ex.status).toBe(0);
    expect(ex.out).toContain(`extracted ${s.url}: ${want.length} bytes`);
    expect(Buffer.compare(readFileSync(out), want)).toBe(0);
  });

  it("never takes a URL for a path or a pattern", async () => {
    const s = await serve({
      route: (req, res) => {
        if (req.url === "/file.dmg") return false;
        res.writeHead(404).end();
        return true;
      },
    });
    const r = await cli(["check", `${s.origin}/*.dmg`]);
    expect(r.status).toBe(3);
    // The server was asked for the URL as given; no directory was searched.
    expect(s.seen.map((x) => x.path)).toContain("/*.dmg");
    expect(r.out).toContain(`FAIL ${s.origin}/*.dmg`);
    expect(r.out).toContain("HTTP 404");
  });
});

describe("CLI over HTTP: headers and credentials", () => {
  it("sends --header to the server and shows its value nowhere", async () => {
    const s = await serve();
    const secret = "Bearer tok-3f9a1c";
    const header = ["--header", `Authorization: ${secret}`, "--header", "X-Extra: xtra-77"];
    const runs = [
      await cli(["check", "--verbose", ...header, s.url]),
      await cli(["check", "--format", "json", ...header, s.url]),
      await cli(["check", "--format", "sarif", ...header, s.url]),
      await cli(["info", "--json", ...header, s.url]),
    ];
    for (const r of runs) {
      expect(r.status).toBe(0);
      expectNone(r.out + r.err, ["tok-3f9a1c", "xtra-77"]);
    }
    expect(s.seen.length).toBeGreaterThan(0);
    for (const r of s.seen) {
      expect(r.headers.authorization).toBe(secret);
      expect(r.headers["x-extra"]).toBe("xtra-77");
    }
  });

  it("keeps header values and URL credentials out of failure messages", async () => {
    const s = await serve({ fault: () => ({ kind: "status", status: 403 }) });
    const u = new URL(s.url);
    u.username = "alice";
    u.password = "hunter2";
    u.search = "?X-Amz-Signature=abc123";
    const secrets = ["alice", "hunter2", "abc123", "Signature", "tok-3f9a1c"];
    for (const args of [
      ["check", "--verbose"],
      ["check", "--format", "json"],
      ["info"],
      ["info", "--json"],
      ["cat"],
      ["extract"],
    ]) {
      const extra = args[0] === "extract" ? [join(tmp, "never.img")] : [];
      const r = await cli([...args, "--header", "X-Token: tok-3f9a1c", u.href, ...extra]);
      expect(r.status, args.join(" ")).toBe(3);
      expect(r.out + r.err).toContain(`${s.origin}/file.dmg`);
      expect(r.out + r.err).toContain("HTTP 403");
      expectNone(r.out + r.err, secrets);
    }
    // The URL's credentials went as Basic authorization, the header as given.
    expect(s.seen[0].headers.authorization).toBe(`Basic ${btoa("alice:hunter2")}`);
    expect(s.seen[0].headers["x-token"]).toBe("tok-3f9a1c");
  });

  it("takes headers from DMG_VALIDATE_HTTP_HEADERS; --header replaces one of the same name", async () => {
    const s = await serve();
    const env = { DMG_VALIDATE_HTTP_HEADERS: "X-Token: env-tok-1\n\nX-Team: env-team-2\n" };
    const r = await cli(["check", "--verbose", s.url], env);
    expect(r.status).toBe(0);
    expectNone(r.out + r.err, ["env-tok-1", "env-team-2"]);
    expect(s.seen[0].headers["x-token"]).toBe("env-tok-1");
    expect(s.seen[0].headers["x-team"]).toBe("env-team-2");
    s.seen.length = 0;
    const o = await cli(["info", "--header", "x-token: cli-tok", s.url], env);
    expect(o.status).toBe(0);
    expect(s.seen[0].headers["x-token"]).toBe("cli-tok");
    expect(s.seen[0].headers["x-team"]).toBe("env-team-2");
  });

  it("refuses a malformed header with a usage error that does not quote it", async () => {
    const s = await serve();
    const bad = await cli(["check", "--header", "Bearer tok-no-colon", s.url]);
    expect(bad.status).toBe(2);
    expect(bad.err).toContain("--header needs a header");
    expectNone(bad.err + bad.out, ["tok-no-colon"]);
    const env = await cli(["info", s.url], {
      DMG_VALIDATE_HTTP_HEADERS: "X-Ok: fine\nX-Bad: tok-\u0001-ctl",
    });
    expect(env.status).toBe(2);
    expect(env.err).toContain("DMG_VALIDATE_HTTP_HEADERS line 2");
    expectNone(env.err + env.out, ["tok-", "fine"]);
    // A URL that does not parse is a usage error too, shown without its query.
    const url = await cli(["check", "http://[::1/x.dmg?sig=s3cr3t"]);
    expect(url.status).toBe(2);
    expect(url.err).toContain("http://[::1/x.dmg is not a valid URL");
    expectNone(url.err, ["s3cr3t"]);
    expect(s.seen).toHaveLength(0);
  });
});

describe("CLI over HTTP: exit codes", () => {
  it("a server that answers ranges wrongly is an I/O failure (3), named by its code", async () => {
    const s = await serve({ fault: (n) => (n > 0 ? { kind: "wrongRange" } : undefined) });
    const check = await cli(["check", s.url]);
    expect(check.status).toBe(3);
    expect(check.out).toContain("HTTP_BAD_RESPONSE");
    const info = await cli(["info", s.url]);
    expect(info.status).toBe(3);
    expect(info.err).toContain("HTTP_BAD_RESPONSE");
  });

  it("a file that changes while it is read exits 3 with SOURCE_CHANGED", async () => {
    // The file is replaced after the HEAD: the first range asked for names another version.
    const s = await serve({ fault: (n) => (n === 1 ? { kind: "change" } : undefined) });
    const r = await cli(["check", "--format", "json", s.url]);
    expect(r.status).toBe(3);
    expect(JSON.parse(r.out).errors[0].code).toBe("SOURCE_CHANGED");
  });

  it("--timeout stops a slow server with BUDGET_TIME (exit 1)", async () => {
    const s = await serve({
      fault: (_n, req) => (req.headers.range ? { kind: "slow", ms: 3000 } : undefined),
    });
    const r = await cli(["check", "--timeout", "300ms", s.url]);
    expect(r.status).toBe(1);
    expect(r.out).toContain("BUDGET_TIME");
  });
});
