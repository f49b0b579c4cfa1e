/**
 * What the file-system probes share: the result type, the bounded read they go through, and
 * little-endian field readers over a slice already read.
 *
 * A probe reads a few KiB at fixed offsets of a partition, never walks a tree, and turns every
 * inconsistency of a superblock into a finding: a file system inside a disk image is data to
 * describe, and a hostile one must not stop the report of the image around it.
 */
import { type Finding, warning } from "../../core/errors.js";
import { sanitize } from "../../core/text.js";

/** Reads `length` bytes at `offset` of the virtual disk (`image.read`). */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

/** The kinds of file system {@link FileSystemInfo} names. */
export type FileSystemType =
  | "HFS+"
  | "HFSX"
  | "HFS"
  | "APFS"
  | "FAT12"
  | "FAT16"
  | "FAT32"
  | "exFAT"
  | "NTFS"
  | "ISO9660"
  | "unknown";

/** What a partition's superblock says, and what is wrong with it. */
export interface FileSystemInfo {
  /** The file system, or "unknown" when no superblock was recognized. */
  type: FileSystemType;
  /** The volume name the superblock holds (sanitized for a terminal), when it holds one. */
  label?: string;
  /** The allocation unit: HFS allocation block, APFS block, FAT/exFAT/NTFS cluster, ISO logical block. */
  blockSize?: number;
  /** The size the superblock gives the file system, in bytes. */
  totalBytes?: number;
  /** The superblock's fields, by name. */
  fields: Record<string, string | number | boolean>;
  /** Inconsistencies of the superblock (FS_MALFORMED, FS_CHECKSUM), at disk offsets. */
  findings: Finding[];
}

/** A probe's view of one partition: where it starts on the disk, how long it is, and its reads. */
export interface Partition {
  read: ReadAt;
  start: number;
  length: number;
}

/** Read `n` bytes at `offset` of the partition, or undefined when the partition is shorter. */
export async function readIn(
  p: Partition,
  offset: number,
  n: number,
): Promise<Uint8Array | undefined> {
  if (offset < 0 || n <= 0 || offset + n > p.length) return undefined;
  const b = await p.read(p.start + offset, n);
  return b.length === n ? b : undefined;
}

/** A new result of `type`, with no fields or findings yet. */
export function result(type: FileSystemType): FileSystemInfo {
  return { type, fields: {}, findings: [] };
}

/**
 * Record an inconsistency of the superblock at disk offset `offset`; `kind` names the file
 * system when `info.type` cannot yet (a FAT boot sector too broken to count its clusters).
 */
export function malformed(
  info: FileSystemInfo,
  message: string,
  offset: number,
  kind: string = info.type,
): void {
  info.findings.push(warning("FS_MALFORMED", `${kind} file system: ${message}`, offset));
}

/** True when `n` is a power of two. */
export function powerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

/** A view of `b` for little- and big-endian field reads. */
export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A little-endian 64-bit field as a number, or -1 above 2^53-1: such a count or offset cannot
 * fit any disk, and the callers report it as inconsistent (attack class A9).
 */
export function le64(v: DataView, offset: number): number {
  const lo = v.getUint32(offset, true);
  const hi = v.getUint32(offset + 4, true);
  if (hi > 0x1f_ffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}

/** A big-endian 64-bit field as a number, or -1 above 2^53-1 (see {@link le64}). */
export function be64(v: DataView, offset: number): number {
  const hi = v.getUint32(offset);
  const lo = v.getUint32(offset + 4);
  if (hi > 0x1f_ffff) return -1;
  return hi * 0x1_0000_0000 + lo;
}

/** Bytes `from`..`from+n` as text, each byte one character (Latin-1), not yet sanitized. */
function latin1(b: Uint8Array, from: number, n: number): string {
  let s = "";
  for (let i = from; i < from + n && i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/** Bytes `from`..`from+n` as text, each byte one character, sanitized for a terminal. */
export function ascii(b: Uint8Array, from: number, n: number): string {
  return sanitize(latin1(b, from, n));
}

/**
 * A space- or NUL-padded label of `n` bytes at `from`, trimmed and sanitized (a volume name is
 * chosen by whoever made the image: it may hold terminal escapes); undefined when empty.
 */
export function label(b: Uint8Array, from: number, n: number): string | undefined {
  const t = latin1(b, from, n).replace(/[\0 ]+$/, "");
  return t === "" ? undefined : sanitize(t);
}

/** True when the bytes at `from` spell `magic`. */
export function hasMagic(b: Uint8Array, from: number, magic: string): boolean {
  if (from + magic.length > b.length) return false;
  for (let i = 0; i < magic.length; i++) if (b[from + i] !== magic.charCodeAt(i)) return false;
  return true;
}

/** Format a size check: "N bytes, past the partition's L". */
export function pastEnd(what: string, bytes: number, length: number): string {
  return `${what} is ${bytes} bytes, past the end of the ${length}-byte partition`;
}
