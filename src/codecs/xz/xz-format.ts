/**
 * The fixed structures of the XZ container (xz-file-format 1.x): stream header and footer,
 * block header with its filter list, and the check types.
 *
 * A structure whose CRC32 fails is corrupt (DECODE_CORRUPT). One whose CRC32 holds but which
 * uses a feature this reader lacks (reserved flags, reserved check types, filters other than
 * LZMA2) is unsupported (CHUNK_TYPE_UNSUPPORTED): the format keeps the two apart on purpose.
 */
import { crc32 } from "../../bytes/crc32.js";
import type { ErrorCode } from "../../core/errors.js";
import { type DecodeContext, decodeError } from "../codec.js";
import { readVarint } from "./xz-input.js";

export const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
export const FOOTER_MAGIC = [0x59, 0x5a];
/** Stream header and stream footer are both 12 bytes. */
export const STREAM_HEADER_SIZE = 12;
export const STREAM_FOOTER_SIZE = 12;
export const CHECK_NONE = 0x00;
export const CHECK_CRC32 = 0x01;
export const CHECK_CRC64 = 0x04;
export const CHECK_SHA256 = 0x0a;
export const FILTER_LZMA2 = 0x21;
/** Filter IDs at or above 2^62 are reserved for internal use and never stored. */
const FILTER_ID_RESERVED = 2 ** 62;
/** The other filters of the format, named in messages. */
const FILTER_NAMES: ReadonlyMap<number, string> = new Map([
  [0x03, "delta"],
  [0x04, "BCJ x86"],
  [0x05, "BCJ PowerPC"],
  [0x06, "BCJ IA-64"],
  [0x07, "BCJ ARM"],
  [0x08, "BCJ ARM-Thumb"],
  [0x09, "BCJ SPARC"],
  [0x0a, "BCJ ARM64"],
  [0x0b, "BCJ RISC-V"],
]);

/** Size of the check field for a check type: 0, then 4, 8, 16, 32, 64 bytes by threes. */
export function checkSize(type: number): number {
  return type === 0 ? 0 : 4 << Math.floor((type - 1) / 3);
}

/** Little-endian 32-bit value at `b[p]`. */
export function le32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

/** Bytes `b[p..]` equal `magic`. */
function hasMagic(b: Uint8Array, p: number, magic: readonly number[]): boolean {
  return magic.every((m, i) => b[p + i] === m);
}

/** Stream flags (2 bytes) guarded by a CRC32 (E29): returns the check type. */
function streamFlags(
  ctx: DecodeContext,
  b: Uint8Array,
  p: number,
  crc: number,
  at: number,
): number {
  if (crc32(b.subarray(p, p + 2)) !== crc) {
    decodeError(ctx, "DECODE_CORRUPT", "XZ stream flags fail their CRC32", at);
  }
  const check = b[p + 1] & 0x0f;
  if (b[p] !== 0 || (b[p + 1] & 0xf0) !== 0) {
    decodeError(ctx, "CHUNK_TYPE_UNSUPPORTED", "XZ stream flags set reserved bits", at);
  }
  if (
    check !== CHECK_NONE &&
    check !== CHECK_CRC32 &&
    check !== CHECK_CRC64 &&
    check !== CHECK_SHA256
  ) {
    decodeError(ctx, "CHUNK_TYPE_UNSUPPORTED", `XZ check type ${hex(check)} is reserved`, at);
  }
  return check;
}

/**
 * Parse the 12-byte stream header at `b[p]` of which `n` bytes are present; returns the
 * check type, or -1 when the bytes present are a correct start but fewer than 12 (E29).
 */
export function parseStreamHeader(
  ctx: DecodeContext,
  b: Uint8Array,
  p: number,
  n: number,
  at: number,
): number {
  if (!HEADER_MAGIC.every((m, i) => i >= n || b[p + i] === m)) {
    decodeError(
      ctx,
      "DECODE_CORRUPT",
      "chunk does not start with the XZ magic FD 37 7A 58 5A 00",
      at,
    );
  }
  if (n < STREAM_HEADER_SIZE) return -1;
  return streamFlags(ctx, b, p + 6, le32(b, p + 8), at);
}

/**
 * Parse the 12-byte stream footer at `b[p]`: magic, CRC32, the same flags as the header
 * (`check`) and the index size it records (`indexSize`, checked against the real one).
 */
export function parseStreamFooter(
  ctx: DecodeContext,
  b: Uint8Array,
  p: number,
  at: number,
  check: number,
  indexSize: number,
): void {
  if (!hasMagic(b, p + 10, FOOTER_MAGIC)) {
    decodeError(ctx, "DECODE_CORRUPT", "XZ stream footer lacks its YZ magic", at);
  }
  if (crc32(b.subarray(p + 4, p + 10)) !== le32(b, p)) {
    decodeError(ctx, "DECODE_CORRUPT", "XZ stream footer fails its CRC32", at);
  }
  if (b[p + 8] !== 0 || b[p + 9] !== check) {
    decodeError(ctx, "DECODE_CORRUPT", "XZ stream footer flags differ from the header's", at);
  }
  const backward = (le32(b, p + 4) + 1) * 4;
  if (backward !== indexSize) {
    decodeError(
      ctx,
      "DECODE_CORRUPT",
      `XZ stream footer records a ${backward}-byte index; it has ${indexSize} bytes`,
      at,
    );
  }
}

/** What a block header declares. */
export interface BlockHeader {
  /** Header size in bytes (8-1024). */
  size: number;
  /** Declared compressed size, when stored. */
  packed: number | undefined;
  /** Declared uncompressed size, when stored. */
  unpacked: number | undefined;
  /** LZMA2 dictionary size from the filter properties. */
  dictSize: number;
}

/** LZMA2 dictionary size from its properties byte, or -1 when invalid (xz-file-format 5.3.1). */
export function lzma2DictSize(props: number): number {
  if (props > 40) return -1;
  if (props === 40) return 0xffffffff;
  return (2 | (props & 1)) * 2 ** (Math.floor(props / 2) + 11);
}

/**
 * Parse the block header `h` (all of it: `(h[0] + 1) * 4` bytes). The CRC32 is checked
 * before anything else is read (E29), then flags, sizes, the filter list and the padding.
 */
export function parseBlockHeader(ctx: DecodeContext, h: Uint8Array, at: number): BlockHeader {
  const size = h.length;
  const end = size - 4;
  const bad = (code: ErrorCode, message: string): never => decodeError(ctx, code, message, at);
  if (crc32(h.subarray(0, end)) !== le32(h, end))
    bad("DECODE_CORRUPT", "XZ block header fails its CRC32");
  const flags = h[1];
  if (flags & 0x3c) bad("CHUNK_TYPE_UNSUPPORTED", "XZ block flags set reserved bits");
  let p = 2;
  const field = (what: string): number => {
    const [value, length] = readVarint(h, p, end);
    if (length <= 0) bad("DECODE_CORRUPT", `XZ block header has a bad ${what}`);
    p += length;
    return value;
  };
  const packed = flags & 0x40 ? field("compressed size") : undefined;
  if (packed === 0) bad("DECODE_CORRUPT", "XZ block header declares a compressed size of 0");
  const unpacked = flags & 0x80 ? field("uncompressed size") : undefined;
  const filters: Array<{ id: number; props: Uint8Array }> = [];
  for (let i = 0; i <= (flags & 3); i++) {
    const id = field("filter ID");
    const n = field("filter properties size");
    if (n > end - p) bad("DECODE_CORRUPT", "XZ filter properties overflow the block header");
    filters.push({ id, props: h.subarray(p, p + n) });
    p += n;
  }
  for (; p < end; p++) if (h[p] !== 0) bad("DECODE_CORRUPT", "XZ block header padding is not zero");
  for (const [i, { id }] of filters.entries()) {
    if (id >= FILTER_ID_RESERVED)
      bad("DECODE_CORRUPT", "XZ block header uses a reserved filter ID");
    if (id === FILTER_LZMA2 && i === filters.length - 1) continue;
    if (id === FILTER_LZMA2) bad("DECODE_CORRUPT", "XZ filter LZMA2 (0x21) is not the last filter");
    const name = FILTER_NAMES.get(id);
    bad(
      "CHUNK_TYPE_UNSUPPORTED",
      `XZ filter ${hex(id)}${name ? ` (${name})` : ""} is not supported; only LZMA2 (0x21) is`,
    );
  }
  const { props } = filters[filters.length - 1];
  const dictSize = props.length === 1 && props[0] <= 0x3f ? lzma2DictSize(props[0]) : -1;
  if (dictSize < 0) bad("DECODE_CORRUPT", "XZ LZMA2 filter has invalid properties");
  return { size, packed, unpacked, dictSize };
}
