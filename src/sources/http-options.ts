/**
 * Options of an HTTP source, checked once at the API boundary, and the URL as messages show it.
 */
import { DmgError } from "../core/errors.js";
import { checkSignal } from "../core/work.js";
import { encodeBase64 } from "../format/base64.js";

const MiB = 1024 * 1024;

/** Options for {@link httpSource}. */
export interface HttpSourceOptions {
  /** Headers sent with every request (credentials, for one). Never shown in messages. */
  headers?: HeadersInit | Record<string, string>;
  /** Cancels opening and every later read: ABORTED, or BUDGET_TIME for a timeout signal. */
  signal?: AbortSignal;
  /** Bytes fetched at once for a read smaller than this (default 1 MiB; 0: only what is asked). */
  readAhead?: number;
  /** Most HTTP requests, retries and redirects included (default 100,000): BUDGET_HTTP_REQUESTS. */
  maxRequests?: number;
  /**
   * Most body bytes received, retries included (default 4 × file size + 16 MiB, set once the
   * size is known): BUDGET_HTTP_BYTES.
   */
  maxBytes?: number;
  /** Retries of a failed request: network errors, dropped bodies, 5xx, 408, 429 (default 4). */
  retries?: number;
  /** First wait before a retry, in milliseconds; it doubles on each retry (default 100). */
  retryDelay?: number;
  /** Most requests in flight at once (default 4). */
  concurrency?: number;
  /** The fetch to use (default: the global one): a custom agent, or a test's. */
  fetch?: typeof fetch;
  /** Most redirects followed for one request (default 5): HTTP_REDIRECTS past it. */
  maxRedirects?: number;
}

/** Options with their defaults filled in. */
export interface HttpConfig {
  url: URL;
  headers: Headers;
  signal: AbortSignal | undefined;
  readAhead: number;
  maxRequests: number;
  maxBytes: number | undefined;
  retries: number;
  retryDelay: number;
  concurrency: number;
  fetch: typeof fetch;
  maxRedirects: number;
}

/**
 * Largest read-ahead window: a cache holds a few windows, so this bounds its memory whatever a
 * caller passes.
 */
export const MAX_READ_AHEAD = 64 * MiB;
/** Most requests in flight at once a caller may ask for. */
const MAX_CONCURRENCY = 64;

export { shownUrl } from "./url.js";

function integerOption(
  options: Record<string, unknown>,
  key: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const v = read(options, key);
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new DmgError("INVALID_ARGUMENT", `${key} must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** Read one option: a getter that throws is INVALID_ARGUMENT, never the caller's exception. */
function read(options: Record<string, unknown>, key: string): unknown {
  try {
    return options[key];
  } catch {
    throw new DmgError("INVALID_ARGUMENT", `option ${key} could not be read`);
  }
}

function parseUrl(url: unknown): URL {
  let u: URL;
  try {
    u = new URL(url instanceof URL ? url.href : String(url));
  } catch {
    throw new DmgError("INVALID_ARGUMENT", "url is not a valid URL");
  }
  // file:, data: and the rest would read local files or bytes the caller did not mean to.
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new DmgError("INVALID_ARGUMENT", `url must be http: or https:, not ${u.protocol}`);
  }
  u.hash = "";
  return u;
}

function parseHeaders(h: unknown): Headers {
  if (h === undefined || h === null) return new Headers();
  try {
    return new Headers(h as HeadersInit);
  } catch {
    // The platform's message may quote the value: a credential must never reach a message.
    throw new DmgError("INVALID_ARGUMENT", "headers must be valid HTTP header names and values");
  }
}

/**
 * Credentials in the URL (`https://user:pass@host/`) become Basic authorization: fetch refuses
 * URLs that carry them, and messages must not show them.
 */
function takeUserinfo(u: URL, headers: Headers): void {
  if (u.username === "" && u.password === "") return;
  if (!headers.has("authorization")) {
    let user: string;
    let pass: string;
    try {
      user = decodeURIComponent(u.username);
      pass = decodeURIComponent(u.password);
    } catch {
      throw new DmgError("INVALID_ARGUMENT", "url credentials are not valid percent-encoding");
    }
    const token = encodeBase64(new TextEncoder().encode(`${user}:${pass}`));
    headers.set("authorization", `Basic ${token}`);
  }
  u.username = "";
  u.password = "";
}

/**
 * Check the URL and options of {@link httpSource}.
 *
 * @throws DmgError INVALID_ARGUMENT
 */
export function resolveHttpOptions(url: unknown, options: unknown): HttpConfig {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new DmgError("INVALID_ARGUMENT", "options must be an object");
  }
  const o = (options ?? {}) as Record<string, unknown>;
  const u = parseUrl(url);
  const headers = parseHeaders(read(o, "headers"));
  takeUserinfo(u, headers);
  let f = read(o, "fetch");
  if (f === undefined) f = typeof fetch === "function" ? fetch : undefined;
  if (typeof f !== "function") {
    throw new DmgError("INVALID_ARGUMENT", "fetch must be a function (no global fetch here)");
  }
  const maxBytes = read(o, "maxBytes");
  return {
    url: u,
    headers,
    signal: checkSignal(read(o, "signal")),
    readAhead: integerOption(o, "readAhead", MiB, 0, MAX_READ_AHEAD),
    maxRequests: integerOption(o, "maxRequests", 100_000, 1, Number.MAX_SAFE_INTEGER),
    maxBytes:
      maxBytes === undefined
        ? undefined
        : integerOption(o, "maxBytes", 0, 0, Number.MAX_SAFE_INTEGER),
    retries: integerOption(o, "retries", 4, 0, 100),
    retryDelay: integerOption(o, "retryDelay", 100, 0, 60_000),
    concurrency: integerOption(o, "concurrency", 4, 1, MAX_CONCURRENCY),
    fetch: f as typeof fetch,
    maxRedirects: integerOption(o, "maxRedirects", 5, 0, 100),
  };
}
