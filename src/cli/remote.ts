/**
 * Operands that are http:// or https:// URLs: read over HTTP range requests, never taken for a
 * path or a pattern. Headers for them come from `--header` and from the environment variable
 * DMG_VALIDATE_HTTP_HEADERS (one `Name: value` a line), so that a token need not appear on a
 * command line every user of the machine can list. No header value is ever printed, and a URL
 * is shown without its credentials, query or fragment (a presigned URL's signature is one).
 */
import type { DmgImage } from "../image/image.js";
import { openDmg } from "../node/open.js";
import type { HttpSource, HttpStats } from "../sources/http.js";
import { shownUrl } from "../sources/url.js";
import { type Args, parseHeader } from "./args.js";
import { humanBytes } from "./output.js";

/** The environment variable holding headers for HTTP operands, one `Name: value` a line. */
export const HEADERS_ENV = "DMG_VALIDATE_HTTP_HEADERS";

/** True when operand `op` is an http:// or https:// URL. */
export function isUrl(op: string | undefined): op is string {
  return op !== undefined && /^https?:\/\//i.test(op);
}

/** The URL `op` as reports show it: scheme, host and path only. */
export function urlName(op: string): string {
  try {
    return shownUrl(new URL(op));
  } catch {
    // Not a URL fetch would take (opening it fails): still nothing past the path is shown.
    return op.replace(/^(https?:\/\/)[^/?#]*@/i, "$1").replace(/[?#][\s\S]*$/, "");
  }
}

/**
 * The headers of DMG_VALIDATE_HTTP_HEADERS: blank lines skipped, any other line `Name: value`.
 *
 * @throws UsageError for a malformed line (its text is not shown).
 */
export function envHeaders(env: Record<string, string | undefined>): Array<[string, string]> {
  const text = env[HEADERS_ENV];
  if (!text) return [];
  const out: Array<[string, string]> = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === "") return;
    out.push(parseHeader(line, `${HEADERS_ENV} line ${i + 1}`));
  });
  return out;
}

/**
 * The headers for HTTP operands: the environment's, and the command line's, which replace the
 * environment's of the same name.
 *
 * @throws UsageError for a malformed line of the environment variable.
 */
export function remoteHeaders(
  args: Args,
  env: Record<string, string | undefined>,
): Array<[string, string]> {
  const given = new Set(args.headers.map(([name]) => name.toLowerCase()));
  const fromEnv = envHeaders(env).filter(([name]) => !given.has(name.toLowerCase()));
  return [...fromEnv, ...args.headers];
}

/**
 * Open URL `op` as an HTTP source with `headers`, cancelled by `signal` (`--timeout`). The
 * HTTP code is loaded here, on first use: a run over local files never loads it.
 */
export async function openRemote(
  op: string,
  headers: Array<[string, string]>,
  signal: AbortSignal | undefined,
): Promise<HttpSource> {
  const { httpSource } = await import("../sources/http.js");
  return httpSource(op, { headers, signal });
}

/**
 * Open operand `op` (a path, or a URL read with `args.headers`) as an image. A URL's source is
 * closed with the image, or here when opening fails.
 */
export async function openOperand(
  op: string,
  args: Args,
  signal: AbortSignal | undefined,
): Promise<DmgImage> {
  const options = { budget: args.budget, password: args.password, signal };
  if (!isUrl(op)) return openDmg(op, options);
  const src = await openRemote(op, args.headers, signal);
  try {
    return await openDmg(src, options);
  } catch (e) {
    await src.close();
    throw e;
  }
}

/** `N requests, X fetched (P% of the file), R retries`: what reading a URL cost. */
export function statsText(stats: HttpStats, size: number): string {
  const share = size > 0 ? ` (${((100 * stats.bytes) / size).toFixed(1)}% of the file)` : "";
  return `${stats.requests} HTTP requests, ${humanBytes(stats.bytes)} fetched${share}, ${stats.retries} retries`;
}
