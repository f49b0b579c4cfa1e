/**
 * The picture's data: chunks aggregated into a fixed number of pixel buckets, so that an
 * image of millions of chunks costs the page a few hundred elements and the worker one pass.
 * Pure functions and plain data (it crosses from the worker to the page).
 */
import type { ChunkInfo } from "../src/index.js";

/** One bar: `buckets` equal spans of `[0, total)` units (sectors, or file bytes). */
export interface Bar {
  total: number;
  buckets: number;
  /** Type names; index t is the row of `weight`. */
  types: string[];
  /** Units of type t in bucket b at `weight[b * types.length + t]`. */
  weight: Float64Array;
  /** Chunks touching bucket b. */
  count: Uint32Array;
  /** The first chunk (by index) touching bucket b, as plain data, or null. */
  first: Array<ChunkInfo | null>;
}

/** A labelled span of a bar. */
export interface Span {
  label: string;
  start: number;
  length: number;
}

/** A new empty bar. */
export function newBar(total: number, buckets: number, types: string[]): Bar {
  const n = total > 0 ? Math.max(1, Math.min(buckets, total)) : 1;
  return {
    total,
    buckets: n,
    types,
    weight: new Float64Array(n * types.length),
    count: new Uint32Array(n),
    first: new Array(n).fill(null),
  };
}

/** The bucket of unit `u`. */
export function bucketOf(bar: Bar, u: number): number {
  if (bar.total <= 0) return 0;
  return Math.min(bar.buckets - 1, Math.max(0, Math.floor((u * bar.buckets) / bar.total)));
}

/**
 * Add `[start, start + length)` of type row `t` to `bar`: each bucket it touches gets the units
 * it covers there. Work is proportional to the buckets touched, never to `length`.
 */
export function addSpan(
  bar: Bar,
  t: number,
  start: number,
  length: number,
  chunk: ChunkInfo | null,
): void {
  if (length <= 0 || bar.total <= 0) return;
  const end = Math.min(bar.total, start + length);
  if (start >= end) return;
  const width = bar.total / bar.buckets;
  const b0 = bucketOf(bar, start);
  const b1 = bucketOf(bar, end - 1);
  const rows = bar.types.length;
  for (let b = b0; b <= b1; b++) {
    const lo = Math.max(start, b * width);
    const hi = Math.min(end, (b + 1) * width);
    bar.weight[b * rows + t] += Math.max(0, hi - lo);
    if (chunk) {
      bar.count[b]++;
      const f = bar.first[b];
      if (f === null || chunk.index < f.index) bar.first[b] = chunk;
    }
  }
}

/** The dominant type row of bucket `b` (the most units), or -1 for an empty bucket. */
export function dominant(bar: Bar, b: number): number {
  const rows = bar.types.length;
  let best = -1;
  let most = 0;
  for (let t = 0; t < rows; t++) {
    const w = bar.weight[b * rows + t];
    if (w > most) {
      most = w;
      best = t;
    }
  }
  return best;
}

/** Units of bucket `b` covered by anything. */
export function covered(bar: Bar, b: number): number {
  const rows = bar.types.length;
  let sum = 0;
  for (let t = 0; t < rows; t++) sum += bar.weight[b * rows + t];
  return sum;
}

/** The units bucket `b` spans. */
export function bucketWidth(bar: Bar, b: number): number {
  // The same fractional edges addSpan fills up to.
  const width = bar.total / bar.buckets;
  return Math.min(bar.total, (b + 1) * width) - b * width;
}

/** A run of buckets drawn as one segment: same dominant type, same gap/overlap state. */
export interface Segment {
  from: number;
  to: number;
  /** Type row, or -1 for nothing there (a gap). */
  type: number;
  /** Bytes claimed twice (file-offset view). */
  overlap: boolean;
}

/**
 * The segments of `bar`: runs of buckets with the same dominant type. With `coverage`, a
 * bucket covered more than its width is an overlap, one covered less a gap (where it shows).
 */
export function segments(bar: Bar, coverage: boolean): Segment[] {
  const out: Segment[] = [];
  for (let b = 0; b < bar.buckets; b++) {
    const type = dominant(bar, b);
    const c = covered(bar, b);
    const overlap = coverage && c > bucketWidth(bar, b) + 1e-6;
    const last = out[out.length - 1];
    if (last && last.type === type && last.overlap === overlap) last.to = b + 1;
    else out.push({ from: b, to: b + 1, type, overlap });
  }
  return out;
}

/** What the worker sends the page: the two bars, the labelled spans, and the image's fields. */
export interface Layout {
  /** The virtual disk by sector. */
  disk: Bar;
  /** The file (the data fork and what follows it) by byte offset. */
  file: Bar;
  /** UDIF partition tables (blkx), in sectors. */
  tables: Span[];
  /** The partition map's entries (GPT, APM, MBR), in sectors; empty without one. */
  partitions: Span[];
  /** The partition map's scheme ("GPT", "none", ...), or why it could not be read. */
  scheme: string;
  /** The trailer's fields, as names and printable values. */
  trailer: Array<[string, string]>;
  /** The partition tables' fields, one row each. */
  tableRows: Array<Record<string, string>>;
  chunkCount: number;
  /** Chunks per type name over all tables. */
  histogram: Record<string, number>;
  /** The container around the UDIF image (encrypted, sparse, segmented) or "none". */
  container: string;
}

/** Colours of chunk types and file regions, by name; the CSS custom property each uses. */
export const TYPE_COLOURS: Record<string, string> = {
  zero: "--c-zero",
  ignore: "--c-ignore",
  raw: "--c-raw",
  adc: "--c-adc",
  zlib: "--c-zlib",
  bzip2: "--c-bzip2",
  lzfse: "--c-lzfse",
  lzma: "--c-lzma",
  "XML plist": "--c-meta",
  "resource fork": "--c-meta",
  "code signature": "--c-sig",
  "koly trailer": "--c-koly",
};
