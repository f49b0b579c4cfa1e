/** Chunk (block) type codes of mish entries, named as the format names them. */

export const UDZE = 0x00000000; // zero fill
export const UDRW = 0x00000001; // raw copy (also UDRO)
export const UDIG = 0x00000002; // ignore / free space: reads as zeros, left out of the table CRC
export const UDCO = 0x80000004; // ADC
export const UDZO = 0x80000005; // zlib
export const UDBZ = 0x80000006; // bzip2
export const ULFO = 0x80000007; // LZFSE
export const ULMO = 0x80000008; // LZMA (XZ streams)
export const COMMENT = 0x7ffffffe; // no data: "+beg" / "+end"
export const TERMINATOR = 0xffffffff; // end of the table

/** Names for messages, histograms and JSON output. */
export const CHUNK_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [UDZE, "zero"],
  [UDRW, "raw"],
  [UDIG, "ignore"],
  [UDCO, "adc"],
  [UDZO, "zlib"],
  [UDBZ, "bzip2"],
  [ULFO, "lzfse"],
  [ULMO, "lzma"],
  [COMMENT, "comment"],
  [TERMINATOR, "terminator"],
]);

/** Name of a chunk type code, or its hex for unknown codes. */
export function chunkTypeName(type: number): string {
  return CHUNK_TYPE_NAMES.get(type) ?? `0x${type.toString(16).padStart(8, "0")}`;
}

/** True for types whose payload must be decoded (and so counts against decoding budgets). */
export function isCompressed(type: number): boolean {
  return type === UDCO || type === UDZO || type === UDBZ || type === ULFO || type === ULMO;
}

/** True for types that read as zeros without touching the data fork. */
export function isZeroFill(type: number): boolean {
  return type === UDZE || type === UDIG;
}

export const SECTOR_SIZE = 512;
