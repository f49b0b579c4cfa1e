/**
 * Strings from a file on their way to a terminal or a log. A table name is whatever bytes the
 * image holds: an ESC sequence in it could erase a FAIL line, print a forged OK line or retitle
 * the terminal; a CR or U+2028 could split a line; a bidi override could reorder what a person
 * reads (attack class G40). Every string from a file, and every file name, is shown through
 * {@link sanitize} (text) or {@link jsonText} (JSON): the dangerous characters become visible
 * escapes.
 */

/**
 * C0 controls and DEL, C1 controls (U+0085 and U+009B, the 8-bit CSI, among them), the bidi
 * marks, embeddings, overrides and isolates, and the Unicode line and paragraph separators.
 */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function visible(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x80
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/**
 * `s` safe to print on one terminal line: every control character, bidi control and line
 * separator shown as a visible `\xNN` or `\uNNNN` escape. Other characters are kept.
 */
export function sanitize(s: string): string {
  return s.replace(UNSAFE, visible);
}

/** Characters JSON.stringify leaves raw that some readers take as line breaks or controls. */
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `value` as JSON on one line, also for readers that split lines at U+2028 / U+2029 / U+0085
 * and terminals that act on C1 or bidi controls: those are written as `\uNNNN` escapes, which
 * any JSON parser reads back to the same string.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `8.96 MiB`, `512 bytes`. */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? "" : "s"}`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ${units[u]}`;
}
