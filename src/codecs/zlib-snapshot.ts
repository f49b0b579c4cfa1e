/**
 * Snapshots of pako's inflate state, so a zlib chunk can be resumed mid-stream, even mid-block
 * (zran resumes only at deflate block boundaries, which level 6 places ~1.4 MiB apart on mixed
 * data: too far apart for fast random reads).
 *
 * This module reads and writes fields of pako's internal inflate state. It is written against
 * pako 3.0.3, the exact version package.json pins (no range, on purpose: do not loosen it).
 * {@link snapshotsSupported} checks the state's field list once and turns snapshots off when it
 * differs, so another version degrades to decoding from the chunk start instead of misdecoding.
 *
 * A snapshot keeps the scalar fields, the 32 KiB window, and the decoding tables only while the
 * decoder is inside a Huffman-coded block (pako rebuilds them at every block header). Window and
 * tables go into one blob, deflated when the recorder asks for compact points.
 */
import {
  Z_BUF_ERROR,
  Z_DEFAULT_STRATEGY,
  Z_FINISH,
  Z_OK,
  Z_STREAM_END,
  ZStream,
  zlibDeflate,
  zlibDeflateEnd,
  zlibDeflateInit2,
  zlibDeflateReset,
  zlibInflate,
  zlibInflateInit,
  zlibInflateInit2,
} from "pako";

/** pako's scalar inflate-state fields, all restored as numbers. */
const SCALARS = [
  "mode",
  "last",
  "wrap",
  "havedict",
  "flags",
  "dmax",
  "check",
  "total",
  "wbits",
  "wsize",
  "whave",
  "wnext",
  "hold",
  "bits",
  "length",
  "offset",
  "extra",
  "lenbits",
  "distbits",
  "ncode",
  "nlen",
  "ndist",
  "have",
  "sane",
  "back",
  "was",
] as const;
/** The other fields: references, scratch (`work`) and gzip-only ones (`head`), not copied. */
const REFERENCES = ["strm", "head", "next", "window", "lens", "work"];
const TABLES = ["lencode", "distcode", "lendyn", "distdyn"];

/** pako 3.0.3's modes from CODELENS to LIT: the decoder uses its current tables only in these. */
const CODELENS = 16198;
const LIT = 16205;
/** Sizes of pako's dynamic tables (ENOUGH_LENS, ENOUGH_DISTS) and code-length array. */
const LENDYN = 852;
const DISTDYN = 592;
const LENS = 320;
/** Largest blob: a full window and both tables and the code lengths. */
export const SNAPSHOT_MAX = 32768 + 4 * (LENDYN + DISTDYN) + 2 * LENS;
/** Bytes a snapshot holds besides its blob (scalars and object headers), rounded up. */
export const SNAPSHOT_OVERHEAD = 512;
/** Working memory of a packer: pako's deflate state at memLevel 8 (~270 KB) and its output. */
export const PACKER_BYTES = 320 * 1024 + SNAPSHOT_MAX;

// biome-ignore lint/suspicious/noExplicitAny: pako types its state as any.
type PakoState = any;

let supported: boolean | undefined;

/** True when pako's inflate state has exactly the fields this module knows (pako 3.0.3). */
export function snapshotsSupported(): boolean {
  if (supported === undefined) {
    const strm = new ZStream();
    const known = [...SCALARS, ...REFERENCES, ...TABLES].sort().join();
    supported = zlibInflateInit(strm) === Z_OK && Object.keys(strm.state).sort().join() === known;
  }
  return supported;
}

/** The state of an inflater between two calls, enough to continue in a fresh stream. */
export class InflateSnapshot {
  constructor(
    readonly scalars: Float64Array,
    readonly totalIn: number,
    readonly totalOut: number,
    readonly adler: number,
    /** Window bytes, then the dynamic tables and code lengths the flags say are present. */
    readonly blob: Uint8Array,
    /** Length of the blob before packing; equal to `blob.length` when stored raw. */
    readonly rawLength: number,
    readonly windowLength: number,
    /** The dynamic tables (and code lengths) follow the window in the blob. */
    readonly lenCopied: boolean,
    readonly distCopied: boolean,
    readonly lensCopied: boolean,
    /** pako's fixed tables when they are current (shared, never written after creation). */
    readonly lenFixed: Int32Array | null,
    readonly distFixed: Int32Array | null,
  ) {}

  /** Working memory held. */
  get bytes(): number {
    return this.blob.length + SNAPSHOT_OVERHEAD;
  }
}

/** Which tables a snapshot of `s` must keep, and the blob length they make. */
function layout(s: PakoState) {
  const tables = s.mode >= CODELENS && s.mode <= LIT;
  const lenCopied = tables && s.lencode === s.lendyn;
  const distCopied = tables && s.distcode === s.distdyn;
  const lensCopied = s.mode === CODELENS;
  const windowLength = s.window === null ? 0 : Math.min(s.whave, s.wsize);
  const length =
    windowLength +
    (lenCopied ? 4 * LENDYN : 0) +
    (distCopied ? 4 * DISTDYN : 0) +
    (lensCopied ? 2 * LENS : 0);
  return { lenCopied, distCopied, lensCopied, windowLength, length };
}

/** Upper bound of the memory a snapshot of `strm` taken now would hold. */
export function snapshotBytes(strm: ZStream): number {
  return layout(strm.state).length + SNAPSHOT_OVERHEAD;
}

const asBytes = (a: Int32Array | Uint16Array) =>
  new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Snapshot `strm` (between two inflate calls), packing the blob with `packer` if given. */
export function captureInflate(strm: ZStream, packer?: SnapshotPacker): InflateSnapshot {
  const s: PakoState = strm.state;
  const { lenCopied, distCopied, lensCopied, windowLength, length } = layout(s);
  const raw = new Uint8Array(length);
  let at = 0;
  const put = (bytes: Uint8Array) => {
    raw.set(bytes, at);
    at += bytes.length;
  };
  if (windowLength > 0) put(s.window.subarray(0, windowLength));
  if (lenCopied) put(asBytes(s.lendyn));
  if (distCopied) put(asBytes(s.distdyn));
  if (lensCopied) put(asBytes(s.lens));
  const scalars = new Float64Array(SCALARS.length);
  SCALARS.forEach((k, i) => {
    scalars[i] = Number(s[k]);
  });
  const blob = packer?.pack(raw) ?? raw;
  return new InflateSnapshot(
    scalars,
    strm.total_in,
    strm.total_out,
    strm.adler,
    blob,
    length,
    windowLength,
    lenCopied,
    distCopied,
    lensCopied,
    s.lencode === s.lendyn ? null : s.lencode,
    s.distcode === s.distdyn ? null : s.distcode,
  );
}

/**
 * Load `snap` into `strm`, a stream fresh from zlibInflateInit. Returns false when a packed blob
 * does not unpack to its recorded length (it always does: the blob never leaves memory).
 */
export function restoreInflate(strm: ZStream, snap: InflateSnapshot): boolean {
  const raw = snap.blob.length === snap.rawLength ? snap.blob : unpack(snap.blob, snap.rawLength);
  if (raw === null) return false;
  const s: PakoState = strm.state;
  SCALARS.forEach((k, i) => {
    s[k] = snap.scalars[i];
  });
  let at = 0;
  const take = (n: number) => {
    at += n;
    return raw.subarray(at - n, at);
  };
  if (s.wsize > 0) {
    s.window = new Uint8Array(s.wsize);
    s.window.set(take(snap.windowLength));
  }
  if (snap.lenCopied) asBytes(s.lendyn).set(take(4 * LENDYN));
  if (snap.distCopied) asBytes(s.distdyn).set(take(4 * DISTDYN));
  if (snap.lensCopied) asBytes(s.lens).set(take(2 * LENS));
  s.lencode = snap.lenFixed ?? s.lendyn;
  s.distcode = snap.distFixed ?? s.distdyn;
  strm.total_in = snap.totalIn;
  strm.total_out = snap.totalOut;
  strm.adler = snap.adler;
  return true;
}

/** Inflate a packed blob back to `length` bytes, or null if it does not give exactly that. */
function unpack(packed: Uint8Array, length: number): Uint8Array | null {
  const strm = new ZStream();
  if (zlibInflateInit2(strm, -15) !== Z_OK) return null;
  const out = new Uint8Array(length);
  strm.input = packed;
  strm.next_in = 0;
  strm.avail_in = packed.length;
  strm.output = out;
  strm.next_out = 0;
  strm.avail_out = length;
  // Z_FINISH with room for all output: pako needs no window of its own.
  const ret = zlibInflate(strm, Z_FINISH);
  return ret === Z_STREAM_END && strm.avail_out === 0 ? out : null;
}

/** Deflates snapshot blobs (level 1, raw). One per recording cursor; {@link PACKER_BYTES}. */
export class SnapshotPacker {
  private readonly strm = new ZStream();
  private readonly out = new Uint8Array(SNAPSHOT_MAX);
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
    const ret = zlibDeflate(strm, Z_FINISH);
    if (ret !== Z_STREAM_END) {
      // Out of room (Z_OK / Z_BUF_ERROR): not worth packing. Anything else: stop packing.
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
