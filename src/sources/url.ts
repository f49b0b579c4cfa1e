/**
 * How a URL is shown in messages and reports, in a module of its own: the command line names
 * URL operands without loading the HTTP source.
 */

/** The URL as messages show it: scheme, host and path; no credentials, query or fragment. */
export function shownUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}
