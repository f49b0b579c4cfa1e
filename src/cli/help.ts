/** The text of `dmg-validate --help` and `--version`. */
import { readFileSync } from "node:fs";
import { BUDGET_KEYS, DEFAULT_BUDGET } from "../core/limits.js";
import { packageFile } from "./package-file.js";

/** A number the way the flags accept it: 128M rather than 134217728. */
export function sizeText(n: number): string {
  for (const [unit, bits] of [
    ["T", 40],
    ["G", 30],
    ["M", 20],
    ["K", 10],
  ] as const) {
    const u = 2 ** bits;
    if (n >= u && n % u === 0) return `${n / u}${unit}`;
  }
  return String(n);
}

/** The package version, from package.json. */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(packageFile("package.json"), "utf8"));
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

/** The full help text. */
export function helpText(): string {
  let width = 0;
  for (const b of BUDGET_KEYS) width = Math.max(width, b.flag.length + 4);
  const budgets = BUDGET_KEYS.map(({ key, flag, what, bytes }) => {
    // Byte budgets in binary units, counts as plain numbers.
    const def = bytes ? sizeText(DEFAULT_BUDGET[key]) : String(DEFAULT_BUDGET[key]);
    return `  ${`${flag} N`.padEnd(width)}most ${what} (default ${def})`;
  });
  return `dmg-validate ${version()}: a strict validator and reader for Apple disk images (UDIF .dmg)

Usage:
  dmg-validate [check] [--quick] FILE...     validate each image (every chunk decoded and
                                             every CRC32 checked; --quick: structure only);
                                             FILE may be a directory (every .dmg below it),
                                             a pattern (dist/*.dmg, out/**/*.dmg), -, or
                                             an http:// or https:// URL (see Remote images)
                                             --require-signature: an image without an
                                             embedded code signature is an error
                                             --trust-roots FILE (check, info; repeatable):
                                             certificates (PEM or DER) the signature's
                                             chain must reach (Apple's are not built in)
  dmg-validate info [--chunks] FILE          trailer, layout, tables and warnings
                                             (--chunks: also every chunk)
  dmg-validate extract FILE OUT              write the whole virtual disk to OUT
                                             (OUT "-": standard output); zero blocks
                                             become holes (a sparse file)
  dmg-validate cat FILE [--offset N] [--length N]
                                             write those bytes of the virtual disk to
                                             standard output (default: all of it)
  dmg-validate create RAW OUT [options]      make a UDIF image of the raw disk file RAW

Options for create:
  --codec zlib|raw|lzfse    chunk encoding (default zlib)
  --chunk-sectors N         sectors per chunk (default 2048)
  --layout xml|rsrc|both    where the tables are described (default xml)
  --level N                 zlib level, -1 to 9 (default 6)
  --no-checksums            write no CRC32 checksums
  --zero zero|ignore|none   how all-zero chunks are stored (default zero)

Options for extract and create:
  --fsync                   flush the output to disk before renaming it into place (it is
                            written under a temporary name either way)

Budgets (check, info, extract, cat): exceeding one is reported as BUDGET_* and exit code 1.
${budgets.join("\n")}
  --timeout DURATION        stop the work on each file after this long (30s, 2m, 1500ms;
                            a plain number is seconds), reported as BUDGET_TIME

Output of check:
  --format FORMAT           text (default), json (one object per file per line), sarif
                            (SARIF 2.1.0, for code scanning), junit (JUnit XML test report)
                            or github (workflow commands and a job summary; the default when
                            GITHUB_ACTIONS=true)
  --json                    the same as --format json (every command)
  -q, --quiet               print nothing; the exit code says it all
  --verbose                 also each file's checksums and what checking it cost
  --sarif FILE              also write a SARIF log of the run to FILE

Remote images (check, info, extract, cat):
  A FILE that starts with http:// or https:// is read with HTTP range requests, never
  downloaded whole (the server must support Range; a file of at most 16M is read once if
  not). URLs are shown without credentials or query string; header values are never shown.
  --header 'Name: value'    send this header with every request (repeatable)
  DMG_VALIDATE_HTTP_HEADERS environment variable: more headers, one 'Name: value' a line
                            (keeps a token out of the process list; --header wins over it)
  Failures to read (no Range support, wrong responses, redirect loops, the file changing
  while it is read) exit with 3; check --verbose also shows requests and bytes fetched.

Encrypted images (check, info, extract, cat):
  --password-file FILE      the password is the first line of FILE (without its newline)
  --password-env NAME       the password is the value of environment variable NAME
  Without either, the password is asked for (not echoed) when standard input is a terminal
  and the image is encrypted; otherwise an encrypted image fails with ENCRYPTED. There is
  no --password option: a command line is visible to other users (ps) and is kept in shell
  history. The password is never printed.

General options:
  -                         as FILE: standard input (copied to a private temporary file,
                            at most --max-stdin-bytes, 16G by default)
  --threads N               threads decoding chunks for check and extract (default: one per
                            core; 1 keeps everything on the main thread)
  -h, --help                show this help
  -V, --version             show the version
  --                        end of options (for a file named like a command)

Numbers: 4096, 64K, 32M, 1G, 2T (binary units) or 0x1000.

Exit codes:
  0   every file is valid
  1   some file is invalid or over a budget
  2   usage error
  3   I/O error (missing or unreadable file or URL, cannot write the output)
  70  internal error (a bug: please report it)
`;
}
