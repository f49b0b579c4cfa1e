/**
 * Packing of the bytes a zlib resume point keeps (a 32 KiB window, and for a mid-block snapshot
 * the decoding tables): raw deflate at level 1 through pako, ended by a sync flush, so that a
 * packed window is itself a deflate stream that is not final and ends on a byte boundary (a
 * decoder can be fed it to rebuild its history, then go on with the chunk's own blocks).
 */
import {
  Z_BUF_ERROR,
  Z_DEFAULT_STRATEGY,
  Z_OK,
  Z_SYNC_FLUSH,
  ZStream,
  zlibDeflate,
  zlibDeflateEnd,
  zlibDeflateInit2,
  zlibDeflateReset,
  zlibInflate,
  zlibInflateInit2,
} from "./pako.js";

/** Most bytes packed at once: a window plus a snapshot's tables (see SNAPSHOT_MAX). */
const PACK_MAX = 40 * 1024;
/** Working memory of a packer: pako's deflate state at memLevel 8 (~270 KB) and its output. */
export const PACKER_BYTES = 320 * 1024 + PACK_MAX;

/**
 * Inflate `packed`, a raw deflate stream ended by a sync flush, back to exactly `length` bytes;
 * null if it does not give exactly that (it always does: a packed blob never leaves memory).
 */
export function unpack(packed: Uint8Array, length: number): Uint8Array | null {
  const strm = new ZStream();
  if (zlibInflateInit2(strm, -15) !== Z_OK) return null;
  // One byte of room more than expected, to see a blob that decodes to more.
  const out = new Uint8Array(length + 1);
  strm.input = packed;
  strm.next_in = 0;
  strm.avail_in = packed.length;
  strm.output = out;
  strm.next_out = 0;
  strm.avail_out = out.length;
  const ret = zlibInflate(strm, Z_SYNC_FLUSH);
  const ok = (ret === Z_OK || ret === Z_BUF_ERROR) && strm.avail_in === 0;
  return ok && strm.next_out === length ? out.subarray(0, length) : null;
}

/** Deflates point blobs (level 1, raw, sync flush). One per recording cursor; {@link PACKER_BYTES}. */
export class SnapshotPacker {
  private readonly strm = new ZStream();
  private readonly out = new Uint8Array(PACK_MAX);
  private ok: boolean;

  constructor() {
    this.ok = zlibDeflateInit2(this.strm, 1, 8, -15, 8, Z_DEFAULT_STRATEGY) === Z_OK;
  }

  /** The packed blob, or null when packing would not save an eighth of it. */
  pack(raw: Uint8Array): Uint8Array | null {
    const { strm, out } = this;
    if (!this.ok || raw.length === 0 || zlibDeflateReset(strm) !== Z_OK) return null;
    strm.input = raw;
    strm.next_in = 0;
    strm.avail_in = raw.length;
    strm.output = out;
    strm.next_out = 0;
    const room = Math.min(out.length, raw.length - (raw.length >> 3));
    strm.avail_out = room;
    const ret = zlibDeflate(strm, Z_SYNC_FLUSH);
    // Done only when all input went in and the flush fitted with room to spare (pako leaves
    // avail_out at 0 when it may have more to write).
    if (ret !== Z_OK || strm.avail_in !== 0 || strm.avail_out === 0) {
      if (ret !== Z_OK && ret !== Z_BUF_ERROR) this.ok = false;
      return null;
    }
    return out.slice(0, strm.next_out);
  }

  close(): void {
    if (this.strm.state) zlibDeflateEnd(this.strm);
    this.ok = false;
  }
}
