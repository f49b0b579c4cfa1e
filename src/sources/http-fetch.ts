/**
 * The requests of an HTTP source: redirects followed by hand, retries with backoff, budgets,
 * and every ranged response checked against the bytes asked and the file first seen.
 */
import { at, DmgError, type ErrorCode } from "../core/errors.js";
import { abortError } from "../core/work.js";
import type { HttpConfig } from "./http-options.js";
import { readBuffer } from "./read-buffer.js";
import { shownUrl } from "./url.js";

const MiB = 1024 * 1024;

/**
 * Largest file served from a server that ignores Range: it is read once, whole, and kept. A
 * larger one would have to be downloaded again for every window: HTTP_NO_RANGES.
 */
export const SMALL_BODY = 16 * MiB;
/** Longest wait a Retry-After may ask for; past it the request fails with its error. */
export const MAX_RETRY_AFTER_MS = 30_000;
/** Longest wait between two retries of our own. */
const MAX_BACKOFF_MS = 5_000;

/** Counters of an HTTP source. */
export interface HttpStats {
  /** HTTP requests sent, retries and redirects included. */
  requests: number;
  /** Body bytes received, retries included. */
  bytes: number;
  /** Requests sent again after a failure. */
  retries: number;
}

/**
 * A failure that may be retried: `transient` (network, dropped body, 5xx, 408, 429) up to the
 * retry count, `bad` (a response that breaks the protocol) once. Never escapes this module.
 */
class Retry {
  constructor(
    readonly kind: "transient" | "bad",
    readonly error: DmgError,
    readonly waitMs = 0,
  ) {}
}

/** The validator of the file first seen, sent on later requests and compared on every answer. */
interface Validator {
  etag: string | undefined;
  lastModified: string | undefined;
}

/** A parsed `Content-Range: bytes START-END/SIZE`, or the `bytes * /SIZE` of a 416. */
interface ContentRange {
  start: number;
  end: number;
  size: number;
}

/** A decimal header number, refused unless it is a safe integer of plain digits. */
function headerInteger(v: string | null): number | undefined {
  if (v === null || !/^\d{1,16}$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** `bytes START-END/SIZE`, exactly; a proxy rewriting it any other way is not trusted. */
export function parseContentRange(v: string | null): ContentRange | undefined {
  const m = v === null ? null : /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16})$/.exec(v.trim());
  if (!m) return undefined;
  const [start, end, size] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (![start, end, size].every(Number.isSafeInteger) || start > end || end >= size) {
    return undefined;
  }
  return { start, end, size };
}

/** Milliseconds a Retry-After asks for (delay-seconds or an HTTP date), or undefined. */
export function retryAfterMs(v: string | null, nowMs = Date.now()): number | undefined {
  if (v === null) return undefined;
  const s = v.trim();
  if (/^\d{1,10}$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - nowMs);
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that carry credentials: not sent to another origin than the caller's URL. */
const CREDENTIALS = ["authorization", "cookie", "proxy-authorization"];

/** What a ranged GET gave: the bytes asked, or the whole file when the server ignored Range. */
export type RangeResult = { whole: false; bytes: Uint8Array } | { whole: true; bytes: Uint8Array };

/** A counting semaphore: at most `n` requests in flight. */
class Lanes {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** The requests of one HTTP source. */
export class HttpClient {
  /** Where requests go: the caller's URL, then the end of the last redirect chain followed. */
  url: URL;
  /** Size of the file, once known (-1 before). */
  size = -1;
  readonly stats: HttpStats = { requests: 0, bytes: 0, retries: 0 };
  private maxBytes: number;
  private validator: Validator | undefined;
  private readonly origin: string;
  private readonly lanes: Lanes;
  private readonly stop = new AbortController();
  private readonly unlink: () => void;
  /** A file found changed: every later read fails the same way (never bytes of two versions). */
  private broken: DmgError | undefined;

  constructor(private readonly cfg: HttpConfig) {
    this.url = cfg.url;
    this.origin = cfg.url.origin;
    this.maxBytes = cfg.maxBytes ?? Number.MAX_SAFE_INTEGER;
    this.lanes = new Lanes(cfg.concurrency);
    const signal = cfg.signal;
    if (signal) {
      const onAbort = () => this.stop.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      this.unlink = () => signal.removeEventListener("abort", onAbort);
    } else {
      this.unlink = () => undefined;
    }
  }

  /** Abort every request in flight; later reads fail with ABORTED. */
  close(): void {
    this.unlink();
    if (!this.stop.signal.aborted) {
      this.stop.abort(new DmgError("ABORTED", `HTTP source ${this.shown()} was closed`));
    }
  }

  /** Throw if the source was aborted, closed, or found changed. */
  check(offset = -1): void {
    if (this.stop.signal.aborted) throw abortError(this.stop.signal, offset);
    if (this.broken) throw this.broken;
  }

  private shown(): string {
    return shownUrl(this.url);
  }

  private error(code: ErrorCode, what: string, offset = -1): DmgError {
    const where = offset >= 0 ? ` (reading at ${at(offset)})` : "";
    return new DmgError(code, `${this.shown()}: ${what}${where}`, offset);
  }

  private changed(what: string, offset: number): DmgError {
    this.broken = this.error(
      "SOURCE_CHANGED",
      `the file changed while it was read: ${what}`,
      offset,
    );
    return this.broken;
  }

  /**
   * Learn the size (and validator): HEAD, else a GET of byte 0. Returns the whole file when
   * the server ignored Range and it is small enough to keep.
   */
  async open(): Promise<Uint8Array | undefined> {
    this.check();
    if (await this.head()) return undefined;
    return this.retrying(0, () => this.lanes.run(() => this.probe()));
  }

  /** HEAD once: true when it gave a usable size. Any failure but a budget or abort falls through. */
  private async head(): Promise<boolean> {
    let res: Response;
    try {
      res = await this.exchange("HEAD", undefined, -1);
    } catch (e) {
      if (e instanceof Retry) return false;
      if (e instanceof DmgError && (e.overBudget || e.code === "ABORTED")) throw e;
      if (e instanceof DmgError && e.code === "HTTP_REDIRECTS") throw e;
      return false;
    }
    await discard(res);
    // A 405 or 403 to HEAD is common (presigned URLs sign the method); the GET decides.
    if (res.status !== 200) return false;
    const length = headerInteger(res.headers.get("content-length"));
    // An encoded length is not the file's; some servers send 0 for HEAD.
    if (length === undefined || length === 0 || encoded(res)) return false;
    this.adopt(res);
    this.sized(length);
    return true;
  }

  /** GET bytes=0-0: the size from Content-Range, or the whole file from a 200. */
  private async probe(): Promise<Uint8Array | undefined> {
    const res = await this.exchange("GET", [0, 0], 0);
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get("content-range"));
      if (cr === undefined || cr.start + cr.end !== 0) {
        await discard(res);
        throw this.bad("a 206 without Content-Range bytes 0-0/SIZE", 0);
      }
      try {
        this.compare(res, 0);
      } catch (e) {
        await discard(res);
        throw e;
      }
      this.sized(cr.size);
      await this.body(res, 0, 1);
      return undefined;
    }
    if (res.status === 200) return this.whole(res, 0);
    if (res.status === 416) {
      // An empty file has no byte 0: "bytes */0".
      const size = /^bytes \*\/0$/.test(res.headers.get("content-range")?.trim() ?? "");
      await discard(res);
      if (size) {
        this.sized(0);
        return new Uint8Array(0);
      }
      throw this.bad("416 to a request for byte 0", 0);
    }
    throw await this.statusError(res, 0);
  }

  private sized(size: number): void {
    this.size = size;
    // Windows read ahead and retries read some bytes more than once: four times the file,
    // and 16 MiB for small files and a whole body of a server that ignores Range.
    const scaled = 4 * size + SMALL_BODY;
    if (this.cfg.maxBytes === undefined) {
      this.maxBytes = Number.isSafeInteger(scaled) ? scaled : Number.MAX_SAFE_INTEGER;
    }
  }

  /** Keep the first response's validator. */
  private adopt(res: Response): void {
    if (this.validator) return;
    const etag = res.headers.get("etag") ?? undefined;
    const lastModified = res.headers.get("last-modified") ?? undefined;
    if (etag !== undefined || lastModified !== undefined) this.validator = { etag, lastModified };
  }

  /** SOURCE_CHANGED when a response names another version than the first one. */
  private compare(res: Response, offset: number): void {
    const v = this.validator;
    if (!v) {
      this.adopt(res);
      return;
    }
    const etag = res.headers.get("etag");
    if (v.etag !== undefined && etag !== null && etag !== v.etag) {
      throw this.changed("its ETag is not the one first seen", offset);
    }
    const lm = res.headers.get("last-modified");
    if (v.lastModified !== undefined && lm !== null && lm !== v.lastModified) {
      throw this.changed("its Last-Modified is not the one first seen", offset);
    }
  }

  /** The conditional headers that make a changed file fail rather than answer. */
  private conditions(h: Headers): void {
    const v = this.validator;
    if (!v) return;
    if (v.etag !== undefined && !v.etag.startsWith("W/")) {
      // A strong ETag: any other version is a 412.
      h.set("if-match", v.etag);
      h.set("if-range", v.etag);
    } else if (v.lastModified !== undefined) {
      // A date: any other version answers 200 with the whole file instead of the range.
      h.set("if-range", v.lastModified);
    }
  }

  /**
   * Fetch bytes [start, end] (inclusive), checked, retried. `into` (at least end-start+1
   * bytes) receives them when given.
   */
  async range(start: number, end: number, into?: Uint8Array): Promise<RangeResult> {
    return this.retrying(start, () =>
      this.lanes.run(async () => {
        const n = end - start + 1;
        this.check(start);
        this.spend(n, start);
        const res = await this.exchange("GET", [start, end], start);
        return this.ranged(res, start, end, into);
      }),
    );
  }

  /** Refuse a request whose body would take the bytes received past maxBytes. */
  private spend(n: number, offset: number): void {
    if (this.stats.bytes + n > this.maxBytes) {
      throw this.error(
        "BUDGET_HTTP_BYTES",
        `${this.stats.bytes + n} bytes would be received; the budget allows ${this.maxBytes} (raise maxBytes)`,
        offset,
      );
    }
  }

  private async ranged(
    res: Response,
    start: number,
    end: number,
    into?: Uint8Array,
  ): Promise<RangeResult> {
    const n = end - start + 1;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get("content-range"));
      if (cr && cr.size !== this.size) {
        await discard(res);
        throw this.changed(`its size is now ${cr.size}, not ${this.size}`, start);
      }
      try {
        this.compare(res, start);
      } catch (e) {
        await discard(res);
        throw e;
      }
      let wrong: string | undefined;
      if (!cr) wrong = "a 206 without a single Content-Range bytes START-END/SIZE";
      else if (cr.start !== start || cr.end !== end) {
        wrong = `Content-Range bytes ${cr.start}-${cr.end} instead of bytes ${start}-${end}`;
      } else if (encoded(res)) wrong = "a Content-Encoding on a range";
      else {
        const length = res.headers.get("content-length");
        if (length !== null && headerInteger(length) !== n) {
          wrong = `a Content-Length other than the ${n} bytes asked`;
        }
      }
      if (wrong !== undefined) {
        await discard(res);
        throw this.bad(wrong, start);
      }
      return { whole: false, bytes: await this.body(res, start, n, into) };
    }
    if (res.status === 200) {
      // A 200 to a request with If-Range is the server saying the file changed, unless its
      // validator is the one first seen: then it ignores Range (and If-Range) altogether.
      try {
        this.compare(res, start);
        if (this.validator && !sameValidator(res, this.validator)) {
          throw this.changed(
            "a 200 answered a request for a range of the version first seen",
            start,
          );
        }
      } catch (e) {
        await discard(res);
        throw e;
      }
      const bytes = await this.whole(res, start);
      return { whole: true, bytes };
    }
    if (res.status === 412) {
      await discard(res);
      throw this.changed("the server answered 412 to If-Match", start);
    }
    if (res.status === 416) {
      const cr = /^bytes \*\/(\d{1,16})$/.exec(res.headers.get("content-range")?.trim() ?? "");
      await discard(res);
      if (cr && Number(cr[1]) !== this.size) {
        throw this.changed(`its size is now ${cr[1]}, not ${this.size}`, start);
      }
      throw this.bad(`416 to a request for bytes ${start}-${end} of ${this.size}`, start);
    }
    throw await this.statusError(res, start);
  }

  /**
   * The whole file from a 200: kept when it is at most {@link SMALL_BODY} bytes (and, once the
   * size is known, exactly that size), else HTTP_NO_RANGES before reading more of it.
   */
  private async whole(res: Response, offset: number): Promise<Uint8Array> {
    const length = headerInteger(res.headers.get("content-length"));
    const noRanges = () =>
      this.error(
        "HTTP_NO_RANGES",
        `the server ignores Range requests (it answered 200 with the whole file) and the file is over ${SMALL_BODY} bytes`,
        offset,
      );
    if ((length !== undefined && length > SMALL_BODY) || this.size > SMALL_BODY) {
      await discard(res);
      throw noRanges();
    }
    if (encoded(res)) {
      await discard(res);
      throw this.bad("a Content-Encoding on the file", offset);
    }
    if (length !== undefined && this.size >= 0 && length !== this.size) {
      await discard(res);
      throw this.changed(`its size is now ${length}, not ${this.size}`, offset);
    }
    const want = this.size >= 0 ? this.size : (length ?? -1);
    const bytes = await this.body(res, offset, want, undefined, SMALL_BODY);
    if (bytes === undefined) throw noRanges();
    if (this.size < 0) {
      this.compare(res, offset);
      this.sized(bytes.length);
    }
    return bytes;
  }

  /**
   * Read a body of exactly `n` bytes (`n` < 0: any length up to `cap`, else undefined),
   * stopping as soon as it runs longer: never more than asked is held.
   */
  private async body(
    res: Response,
    offset: number,
    n: number,
    into?: Uint8Array,
  ): Promise<Uint8Array>;
  private async body(
    res: Response,
    offset: number,
    n: number,
    into: Uint8Array | undefined,
    cap: number,
  ): Promise<Uint8Array | undefined>;
  private async body(
    res: Response,
    offset: number,
    n: number,
    into?: Uint8Array,
    cap = n,
  ): Promise<Uint8Array | undefined> {
    const reader = res.body?.getReader();
    if (!reader) {
      if (n <= 0) return new Uint8Array(0);
      throw this.bad(`an empty body instead of ${n} bytes`, offset);
    }
    const known = n >= 0;
    let out = known ? readBuffer(into, n) : null;
    const parts: Uint8Array[] = [];
    let got = 0;
    let done = false;
    try {
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch {
          this.check(offset);
          throw new Retry(
            "transient",
            this.error("IO_ERROR", `the connection broke after ${got} bytes of the body`, offset),
          );
        }
        if (r.done) {
          done = true;
          break;
        }
        const chunk = r.value;
        if (!(chunk instanceof Uint8Array)) throw this.bad("a body that is not bytes", offset);
        this.stats.bytes += chunk.length;
        if (this.stats.bytes > this.maxBytes) this.spend(0, offset);
        if (got + chunk.length > (known ? n : cap)) {
          if (!known) return undefined;
          throw this.bad(`a body longer than the ${n} bytes asked`, offset);
        }
        if (out) out.set(chunk, got);
        else parts.push(chunk);
        got += chunk.length;
      }
    } finally {
      if (!done) reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
    if (known && got !== n) {
      throw this.bad(`a body of ${got} bytes instead of ${n}`, offset);
    }
    if (!out) {
      out = new Uint8Array(got);
      let pos = 0;
      for (const p of parts) {
        out.set(p, pos);
        pos += p.length;
      }
    }
    return out;
  }

  /** A response with a status that is not an answer: transient for 5xx, 408, 429. */
  private async statusError(res: Response, offset: number): Promise<DmgError | Retry> {
    await discard(res);
    const err = this.error("IO_ERROR", `the server answered HTTP ${res.status}`, offset);
    if (res.status >= 500 || res.status === 408 || res.status === 429) {
      const wait = retryAfterMs(res.headers.get("retry-after"));
      return new Retry("transient", err, wait);
    }
    return err;
  }

  private bad(what: string, offset: number): Retry {
    return new Retry("bad", this.error("HTTP_BAD_RESPONSE", `the server sent ${what}`, offset));
  }

  /** Run `attempt`, retrying its retryable failures with exponential backoff and jitter. */
  private async retrying<T>(offset: number, attempt: () => Promise<T>): Promise<T> {
    let transient = 0;
    let bad = 0;
    for (;;) {
      try {
        return await attempt();
      } catch (e) {
        if (!(e instanceof Retry)) throw e;
        const tries = transient + bad;
        if (tries >= this.cfg.retries) throw e.error;
        if (e.kind === "bad" && bad >= 1) throw e.error;
        if (e.kind === "bad") bad++;
        else transient++;
        if (e.waitMs > MAX_RETRY_AFTER_MS) {
          throw new DmgError(
            e.error.code,
            `${e.error.message}; it asked to retry after ${Math.ceil(e.waitMs / 1000)} s, more than ${MAX_RETRY_AFTER_MS / 1000} s`,
            e.error.offset,
          );
        }
        const backoff = Math.min(MAX_BACKOFF_MS, this.cfg.retryDelay * 2 ** tries);
        const jittered = backoff / 2 + (Math.random() * backoff) / 2;
        await this.sleep(Math.max(jittered, e.waitMs), offset);
        this.stats.retries++;
      }
    }
  }

  /** Wait `ms`, or less if the source is aborted or closed (then throw). */
  private sleep(ms: number, offset: number): Promise<void> {
    const signal = this.stop.signal;
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        if (signal.aborted) reject(abortError(signal, offset));
        else resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
      if (signal.aborted) done();
    });
  }

  /** The headers of a request to `url`: the caller's, less credentials for another origin. */
  private headers(url: URL, range: [number, number] | undefined): Headers {
    const h = new Headers(this.cfg.headers);
    if (url.origin !== this.origin) for (const name of CREDENTIALS) h.delete(name);
    // A decoded body's length is not the range's (browsers ignore this header; they decode).
    h.set("accept-encoding", "identity");
    if (range) {
      h.set("range", `bytes=${range[0]}-${range[1]}`);
      this.conditions(h);
    }
    return h;
  }

  /** Count one request against maxRequests. */
  private count(offset: number): void {
    if (this.stats.requests >= this.cfg.maxRequests) {
      throw this.error(
        "BUDGET_HTTP_REQUESTS",
        `more than ${this.cfg.maxRequests} requests; the budget allows ${this.cfg.maxRequests} (raise maxRequests)`,
        offset,
      );
    }
    this.stats.requests++;
  }

  /**
   * One request, following redirects by hand (at most maxRedirects; a loop is HTTP_REDIRECTS)
   * and keeping where they end for the requests after. Network failures are transient.
   */
  private async exchange(
    method: "GET" | "HEAD",
    range: [number, number] | undefined,
    offset: number,
  ): Promise<Response> {
    let url = this.url;
    const seen = new Set([url.href]);
    for (let hops = 0; ; hops++) {
      this.check(offset);
      this.count(offset);
      let res = await this.send(url, method, range, "manual", offset);
      if (res.type === "opaqueredirect") {
        // Browsers hide where a redirect goes: let the platform follow it (it drops
        // credentials across origins and bounds the chain itself).
        this.count(offset);
        res = await this.send(url, method, range, "follow", offset);
        if (res.url) url = new URL(res.url);
      }
      if (!REDIRECTS.has(res.status)) {
        this.url = url;
        return res;
      }
      await discard(res);
      if (hops >= this.cfg.maxRedirects) {
        throw this.error("HTTP_REDIRECTS", `more than ${this.cfg.maxRedirects} redirects`, offset);
      }
      url = this.target(res, url, offset);
      // A loop would only spend the request budget.
      if (seen.has(url.href)) throw this.error("HTTP_REDIRECTS", "a redirect loop", offset);
      seen.add(url.href);
    }
  }

  /** Where a redirect goes: an http(s) URL, never a local one. */
  private target(res: Response, from: URL, offset: number): URL {
    const location = res.headers.get("location");
    let next: URL | undefined;
    try {
      next = location === null ? undefined : new URL(location, from);
    } catch {
      next = undefined;
    }
    if (!next || (next.protocol !== "http:" && next.protocol !== "https:")) {
      throw this.error(
        "HTTP_REDIRECTS",
        `a ${res.status} redirect without an http(s) Location`,
        offset,
      );
    }
    // Credentials in a Location are not for us to send on.
    next.username = "";
    next.password = "";
    next.hash = "";
    return next;
  }

  private async send(
    url: URL,
    method: "GET" | "HEAD",
    range: [number, number] | undefined,
    redirect: RequestRedirect,
    offset: number,
  ): Promise<Response> {
    const f = this.cfg.fetch;
    let res: unknown;
    try {
      res = await f(url.href, {
        method,
        headers: this.headers(url, range),
        redirect,
        signal: this.stop.signal,
      });
    } catch (e) {
      this.check(offset);
      const code = (e as { cause?: { code?: unknown } })?.cause?.code;
      const why = typeof code === "string" && /^[A-Z_]{1,40}$/.test(code) ? ` (${code})` : "";
      throw new Retry("transient", this.error("IO_ERROR", `the request failed${why}`, offset));
    }
    if (
      typeof res !== "object" ||
      res === null ||
      typeof (res as Response).status !== "number" ||
      typeof (res as Response).headers?.get !== "function"
    ) {
      throw this.error("IO_ERROR", "fetch returned something that is not a Response", offset);
    }
    return res as Response;
  }
}

/** True when the body is encoded (gzip...): its length is not the file's. */
function encoded(res: Response): boolean {
  const e = res.headers.get("content-encoding");
  return e !== null && e.trim().toLowerCase() !== "identity" && e.trim() !== "";
}

/** True when `res` carries the validator first seen (and so names the same version). */
function sameValidator(res: Response, v: Validator): boolean {
  const etag = res.headers.get("etag");
  if (v.etag !== undefined && etag === v.etag) return true;
  const lm = res.headers.get("last-modified");
  return v.etag === undefined && v.lastModified !== undefined && lm === v.lastModified;
}

/** Drop a body not read, so that its connection is released. */
async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Already broken or released: nothing to free.
  }
}
