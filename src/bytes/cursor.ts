/**
 * A cursor over one slice of the file that reads big-endian fields and refuses to run past
 * its end. Every parser reads through one, so a short structure is a TRUNCATED error, never
 * a read of garbage (dmg2img read 204 bytes of mish from a 185-byte buffer).
 */
import { at, DmgError, type ErrorCode } from "../core/errors.js";

const TWO_32 = 0x1_0000_0000;

export class Cursor {
  /** Position inside the slice. */
  pos = 0;
  private readonly view: DataView;

  /**
   * @param bytes the slice
   * @param base file offset of `bytes[0]`, for error messages
   * @param what the structure being read, for error messages
   * @param code the error raised when reading past the end
   */
  constructor(
    readonly bytes: Uint8Array,
    readonly base: number,
    readonly what: string,
    readonly code: ErrorCode = "TRUNCATED",
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** File offset of the cursor. */
  get offset(): number {
    return this.base + this.pos;
  }

  /** Bytes left in the slice. */
  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number): number {
    if (n > this.bytes.length - this.pos) {
      throw new DmgError(
        this.code,
        `${this.what} is truncated: needs ${n} bytes at ${at(this.offset)}, ${this.remaining} left`,
        this.offset,
      );
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  u8(): number {
    return this.view.getUint8(this.need(1));
  }

  u16(): number {
    return this.view.getUint16(this.need(2));
  }

  u32(): number {
    return this.view.getUint32(this.need(4));
  }

  /** A 64-bit field as an exact bigint. */
  u64big(): bigint {
    return this.view.getBigUint64(this.need(8));
  }

  /**
   * A 64-bit field as a number. Values above 2^53-1 cannot be held exactly and are refused
   * (attack class A9: 0x0020000000000001 rounds to a different offset).
   */
  u64(field: string): number {
    const p = this.need(8);
    const hi = this.view.getUint32(p);
    const lo = this.view.getUint32(p + 4);
    if (hi > 0x1f_ffff) {
      throw new DmgError(
        "FIELD_TOO_LARGE",
        `${this.what} field ${field} at ${at(this.base + p)} is 0x${this.view.getBigUint64(p).toString(16)}, above 2^53-1`,
        this.base + p,
      );
    }
    return hi * TWO_32 + lo;
  }

  /** A little-endian 16-bit field (GPT, MBR and the PC file systems store these). */
  u16le(): number {
    return this.view.getUint16(this.need(2), true);
  }

  /** A little-endian 32-bit field. */
  u32le(): number {
    return this.view.getUint32(this.need(4), true);
  }

  /** A little-endian 64-bit field as an exact bigint. */
  u64leBig(): bigint {
    return this.view.getBigUint64(this.need(8), true);
  }

  /**
   * A little-endian 64-bit field as a number; values above 2^53-1 are refused as in
   * {@link Cursor.u64} (A9).
   */
  u64le(field: string): number {
    const p = this.need(8);
    const lo = this.view.getUint32(p, true);
    const hi = this.view.getUint32(p + 4, true);
    if (hi > 0x1f_ffff) {
      throw new DmgError(
        "FIELD_TOO_LARGE",
        `${this.what} field ${field} at ${at(this.base + p)} is 0x${this.view.getBigUint64(p, true).toString(16)}, above 2^53-1`,
        this.base + p,
      );
    }
    return hi * TWO_32 + lo;
  }

  /** `n` bytes as a subarray (no copy). */
  bytesN(n: number): Uint8Array {
    const p = this.need(n);
    return this.bytes.subarray(p, p + n);
  }

  /** Four bytes as an ASCII tag such as `koly` or `mish`. */
  tag(): string {
    const b = this.bytesN(4);
    return String.fromCharCode(b[0], b[1], b[2], b[3]);
  }

  skip(n: number): void {
    this.need(n);
  }
}

/** Writes big-endian fields into a growing buffer: the serializing side of {@link Cursor}. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }

  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      let size = Math.max(64, this.buf.length * 2);
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const p = this.length;
    this.length += n;
    return p;
  }

  // Each writer reserves its room before touching `view` or `buf`: room() may replace them.
  u8(v: number): this {
    const p = this.room(1);
    this.view.setUint8(p, v);
    return this;
  }
  u16(v: number): this {
    const p = this.room(2);
    this.view.setUint16(p, v);
    return this;
  }
  u32(v: number): this {
    const p = this.room(4);
    this.view.setUint32(p, v >>> 0);
    return this;
  }
  u64(v: number | bigint): this {
    const p = this.room(8);
    this.view.setBigUint64(p, BigInt(v));
    return this;
  }
  bytes(b: Uint8Array): this {
    const p = this.room(b.length);
    this.buf.set(b, p);
    return this;
  }
  tag(s: string): this {
    for (let i = 0; i < 4; i++) this.u8(s.charCodeAt(i));
    return this;
  }
  zeros(n: number): this {
    this.room(n); // new buffers are zero-filled; room() never reuses bytes
    return this;
  }

  /** The bytes written, copied out. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}
