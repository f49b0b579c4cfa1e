/**
 * Formatting of findings, reports and sizes, for people and for JSON. Every string from a file
 * (names, messages that quote them) and every file name passes through `sanitize` or
 * `jsonText` on its way out.
 */
import type { DmgError, Finding } from "../core/errors.js";
import { sanitize } from "../core/text.js";
import { CHECKSUM_CRC32, CHECKSUM_NONE, type Checksum, checksumCrc32 } from "../format/checksum.js";
import type { ChecksumOutcome, ValidationReport } from "../image/validate.js";

/** `0x1f00`. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

export { humanBytes } from "../core/text.js";

/** `1 table`, `3 tables`. */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Where a finding or error applies: ` at offset 0x1f00 (table 0, chunk 3)`, or nothing. */
function where(f: { offset: number; table?: number; chunk?: number }): string {
  let s = f.offset >= 0 ? ` at offset ${hex(f.offset)}` : "";
  if (f.table !== undefined)
    s += f.chunk !== undefined ? ` (table ${f.table}, chunk ${f.chunk})` : ` (table ${f.table})`;
  return s;
}

/** `error CODE at offset 0x..: message` (or `warning ...`). */
export function findingLine(f: Finding): string {
  // Decode errors already begin with "table T chunk C: "; say it once.
  const said = f.table !== undefined && f.message.startsWith(`table ${f.table} chunk ${f.chunk}: `);
  const loc = said ? where({ offset: f.offset }) : where(f);
  return `${f.severity} ${f.code}${loc}: ${sanitize(f.message)}`;
}

/** `CODE at offset 0x..: message`, for errors of extract, cat, info and create. */
export function errorText(e: DmgError): string {
  return `${e.code}${where({ offset: e.offset, table: e.table, chunk: e.chunk })}: ${sanitize(e.message)}`;
}

/** A DmgError as a JSON finding. */
export function errorJson(e: DmgError): Record<string, unknown> {
  const o: Record<string, unknown> = { code: e.code, message: e.message, offset: e.offset };
  if (e.table !== undefined) o.table = e.table;
  if (e.chunk !== undefined) o.chunk = e.chunk;
  return o;
}

/** A checksum struct as JSON: type, bits and the value in hex. */
export function checksumJson(c: Checksum): Record<string, unknown> {
  let value = "";
  for (const b of c.value) value += b.toString(16).padStart(2, "0");
  return { type: c.type, bits: c.bits, value };
}

/** `crc32 0x1234abcd`, `none`, or `type 5 (unknown)`. */
export function checksumText(c: Checksum): string {
  if (c.type === CHECKSUM_NONE) return "none";
  const crc = checksumCrc32(c);
  if (c.type === CHECKSUM_CRC32 && crc !== undefined)
    return `crc32 0x${crc.toString(16).padStart(8, "0")}`;
  return `type ${c.type}, ${c.bits} bits (unknown)`;
}

/** The checksum part of an `OK` line: `checksums ok`, or what each level came to. */
export function checksumSummary(r: ValidationReport): string {
  if (r.mode === "quick") return "structure only";
  const { dataFork, tables, master } = r.checksums;
  const all: ChecksumOutcome[] = [dataFork, ...tables, master];
  if (all.every((o) => o === all[0])) return `checksums ${all[0]}`;
  const counts = new Map<ChecksumOutcome, number>();
  for (const o of tables) counts.set(o, (counts.get(o) ?? 0) + 1);
  const t =
    counts.size === 0
      ? "no tables"
      : counts.size === 1
        ? `tables ${tables[0]}`
        : [...counts].map(([o, n]) => `${n} table${n === 1 ? "" : "s"} ${o}`).join(", ");
  return `checksums: data fork ${dataFork}, ${t}, master ${master}`;
}
