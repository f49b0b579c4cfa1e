/**
 * pako's inflate state, saved and set: snapshots, so a zlib chunk can be resumed mid-stream,
 * even mid-block; and placement at a deflate block boundary ({@link placeInflate}), where only
 * the window, the bit position and the Adler-32 so far are needed. Level 6 ends a block every
 * 16K symbols (every ~16 KB of incompressible data, MBs apart over runs of zeros), so points
 * are taken at block boundaries and snapshots only where boundaries are far apart.
 *
 * This module reads and writes fields of pako's internal inflate state. It is written against
 * pako 3.0.3, the exact version package.json pins (no range, on purpose: do not loosen it).
 * {@link snapshotsSupported} checks the state's field list once and turns points off when it
 * differs, so another version degrades to decoding from the chunk start instead of misdecoding.
 *
 * A snapshot keeps the scalar fields, the 32 KiB window, and the decoding tables only while the
 * decoder is inside a Huffman-coded block (pako rebuilds them at every block header). Window and
 * tables go into one blob, deflated when the recorder asks for compact points.
 */
import { Z_OK, ZStream, zlibInflateInit } from "./pako.js";
import { type SnapshotPacker, unpack } from "./zlib-pack.js";

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

/** pako 3.0.3's mode between two deflate blocks. */
const TYPE = 16191;

/**
 * Copy the last decoded bytes, at most 32 KiB, in order out of pako's circular window into
 * `out` at `at`; returns how many. That is the history a decoder resuming at the current block
 * boundary needs.
 */
export function inflateWindow(strm: ZStream, out: Uint8Array, at: number): number {
  const s: PakoState = strm.state;
  const have = s.window === null ? 0 : Math.min(s.whave, s.wsize);
  if (have > 0 && have < s.wsize) out.set(s.window.subarray(0, have), at);
  else if (have > 0) {
    out.set(s.window.subarray(s.wnext, s.wsize), at);
    out.set(s.window.subarray(0, s.wnext), at + s.wsize - s.wnext);
  }
  return have;
}

/** Bit offset in the input of the next bit `strm` will read (its total in, less the bits held). */
export function inflateBit(strm: ZStream): number {
  return 8 * strm.total_in - strm.state.bits;
}

/**
 * Put `strm` (fresh from zlibInflateInit, or zlibInflateInit2 raw; or reset) at a deflate block
 * boundary, `position` bytes into its output, with `window` (at most 32 KiB) as the history and
 * `check` as the Adler-32 so far (zlib streams only). No input bits are held: a boundary
 * inside a byte is completed by {@link primeInflate}.
 */
export function placeInflate(
  strm: ZStream,
  window: Uint8Array,
  position: number,
  check: number,
): void {
  const s: PakoState = strm.state;
  s.mode = TYPE;
  s.last = 0;
  // A zlib header was read (flags 0: not gzip) and asked for no preset dictionary.
  s.flags = 0;
  s.havedict = 0;
  s.check = check;
  s.total = position;
  s.hold = 0;
  s.bits = 0;
  s.wsize = 1 << s.wbits;
  if (s.window === null || s.window.length !== s.wsize) s.window = new Uint8Array(s.wsize);
  s.window.set(window);
  s.whave = window.length;
  s.wnext = window.length % s.wsize;
  strm.total_out = position;
  strm.adler = check;
}

/** Hand `strm` the unread high `8 - shift` bits of `byte`, the byte a block boundary is in. */
export function primeInflate(strm: ZStream, byte: number, shift: number): void {
  const s: PakoState = strm.state;
  s.hold = byte >>> shift;
  s.bits = 8 - shift;
}
