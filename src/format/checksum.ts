/** The 136-byte UDIF checksum struct: u32 type, u32 bit count, 128 bytes of value. */
import { type Cursor, Writer } from "../bytes/cursor.js";
import { at, DmgError } from "../core/errors.js";

export const CHECKSUM_SIZE = 136;
export const CHECKSUM_NONE = 0;
export const CHECKSUM_CRC32 = 2;

export interface Checksum {
  /** 0 = none, 2 = CRC32 (no public reader documents another code). */
  type: number;
  /** Bits of `value` that are meaningful (32 for CRC32). */
  bits: number;
  /** The meaningful bytes of the value (bits / 8 rounded up). */
  value: Uint8Array;
}

/** The CRC32 a checksum holds, or undefined when it holds none. */
export function checksumCrc32(c: Checksum): number | undefined {
  if (c.type !== CHECKSUM_CRC32 || c.bits !== 32) return undefined;
  return ((c.value[0] << 24) | (c.value[1] << 16) | (c.value[2] << 8) | c.value[3]) >>> 0;
}

/** Read a checksum struct. Unknown types are kept (reported by validation), impossible bit counts refused. */
export function readChecksum(c: Cursor, what: string): Checksum {
  const start = c.offset;
  const type = c.u32();
  const bits = c.u32();
  const raw = c.bytesN(128);
  // Attack class A7: a bit count above the 1024 bits the struct holds would make a reader
  // that trusts it copy past the struct.
  if (bits > 1024) {
    throw new DmgError(
      "CHECKSUM_TYPE",
      `${what} checksum at ${at(start)} claims ${bits} bits; the struct holds at most 1024`,
      start,
    );
  }
  if (type === CHECKSUM_CRC32 && bits !== 32) {
    throw new DmgError(
      "CHECKSUM_TYPE",
      `${what} checksum at ${at(start)} is CRC32 with ${bits} bits instead of 32`,
      start,
    );
  }
  return { type, bits, value: raw.slice(0, Math.ceil(bits / 8)) };
}

/** A CRC32 checksum struct, or an empty one. */
export function crc32Checksum(crc: number | undefined): Checksum {
  if (crc === undefined) return { type: CHECKSUM_NONE, bits: 0, value: new Uint8Array(0) };
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, crc >>> 0);
  return { type: CHECKSUM_CRC32, bits: 32, value };
}

export function writeChecksum(w: Writer, c: Checksum): void {
  w.u32(c.type).u32(c.bits);
  const v = new Uint8Array(128);
  v.set(c.value.subarray(0, 128));
  w.bytes(v);
}

export function serializeChecksum(c: Checksum): Uint8Array {
  const w = new Writer(CHECKSUM_SIZE);
  writeChecksum(w, c);
  return w.finish();
}
