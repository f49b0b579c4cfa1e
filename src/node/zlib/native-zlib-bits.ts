/**
 * Block-boundary points from a native inflater. With Z_BLOCK, node:zlib stops at the end of
 * every deflate block, but reports only the bytes it consumed: the boundary lies in the last of
 * them, at one of 8 bit offsets (zlib keeps fewer than 8 unread bits there;
 * {@link boundariesSupported} checks it). Each candidate offset is tried with pako, which
 * decodes from any bit offset, against the bytes the native inflater produced after the stop.
 * The true offset always passes; so a candidate that passes alone is the true one, and several
 * that pass are equivalent when they reach one same block boundary (same bit, same output):
 * from there on they decode alike. Any other outcome gets no point: a wrong point is never
 * made, whatever the input.
 */
import { deflateSync } from "node:zlib";
import type { DecodeContext } from "../../codecs/codec.js";
import {
  Z_BLOCK,
  Z_BUF_ERROR,
  Z_OK,
  Z_STREAM_END,
  ZStream,
  zlibInflate,
  zlibInflateInit2,
} from "../../codecs/zlib/pako.js";
import { FIRST_BLOCK_BIT, streamBoundaries } from "../../codecs/zlib/zlib-boundary.js";
import {
  inflateBit,
  placeInflate,
  primeInflate,
  snapshotsSupported,
} from "../../codecs/zlib/zlib-snapshot.js";
import { DmgError } from "../../core/errors.js";
import { readExact } from "../../sources/source.js";
import { engineStep, giveEngine, takeEngine } from "./native-zlib-engine.js";

/** Output compared per candidate in the first round... */
export const ROUND1 = 4096;
/** ...and, for several survivors, in the second: a stored block (at most 65535 bytes) whole. */
const ROUND2 = 65536 + 1024;
/** Working memory of the trials: pako's state and window, their output and their input. */
const TRIALS_BYTES = 64 * 1024 + 3 * ROUND2;

/**
 * A candidate that decoded like the native inflater: its bit, and "bit:output" of the first
 * block boundary it reached with output (after a block that is not the last), if any.
 */
interface Survivor {
  bit: number;
  stop: string | undefined;
}

let trialStrm: ZStream | undefined;
let trialOut: Uint8Array<ArrayBuffer> | undefined;

/**
 * Decode raw deflate from bit `bit` of `input` (chunk bytes from `base` on), with `window` as
 * history, into at most `after.length` bytes, up to the first block boundary past some output.
 * Undefined when that fails, differs from `after`, or ends the stream short of it (the true
 * offset produces all of it).
 */
function trial(
  window: Uint8Array,
  input: Uint8Array,
  base: number,
  bit: number,
  after: Uint8Array,
) {
  const strm = trialStrm!;
  const out = trialOut!;
  // No reset (pako's allocates tables): placing sets every field a block start reads.
  strm.total_in = 0;
  placeInflate(strm, window, 0, 0);
  let first = Math.floor(bit / 8) - base;
  const shift = bit % 8;
  if (shift) primeInflate(strm, input[first++], shift);
  strm.input = input;
  strm.next_in = first;
  strm.avail_in = input.length - first;
  strm.output = out;
  strm.next_out = 0;
  strm.avail_out = after.length;
  for (;;) {
    const before = strm.next_out;
    const ret = zlibInflate(strm, Z_BLOCK);
    if (ret !== Z_OK && ret !== Z_STREAM_END && ret !== Z_BUF_ERROR) return undefined;
    const n = strm.next_out;
    const got = out.subarray(before, n);
    if (Buffer.compare(got, after.subarray(before, n)) !== 0) return undefined;
    // data_type: 128 at a block boundary, 64 when that block was the last one.
    const boundary = (strm.data_type & 128) !== 0;
    if (ret === Z_STREAM_END || (boundary && (strm.data_type & 64) !== 0)) {
      return n === after.length ? { bit, stop: undefined } : undefined;
    }
    // Out of room, or of input: nothing told against it.
    if (!boundary) return { bit, stop: undefined };
    if (n > 0) return { bit, stop: `${8 * (base + first) + inflateBit(strm)}:${n}` };
  }
}

/** Compressed bytes of a chunk already in memory: `bytes` from chunk offset `at` on. */
export interface NearInput {
  bytes: Uint8Array;
  at: number;
}

/**
 * The candidates of `bits` that decode to the start of `after`, with input for them taken from
 * `near` when it holds it, else read.
 */
async function survivors(
  ctx: DecodeContext,
  base: number,
  bits: number[],
  window: Uint8Array,
  after: Uint8Array,
  near: NearInput | undefined,
): Promise<Survivor[]> {
  // Input for the output compared at up to 10 bits a byte, and a dynamic block header: a
  // candidate that runs out first is not told against (so never wrongly kept alone).
  const n = Math.min(ctx.length - base, after.length + (after.length >> 2) + 1024);
  const from = base - (near?.at ?? base);
  const input =
    near && from >= 0 && from + n <= near.bytes.length
      ? near.bytes.subarray(from, from + n)
      : await readExact(ctx.source, ctx.offset + base, n, "compressed chunk data");
  trialStrm ??= new ZStream();
  if (!trialStrm.state && zlibInflateInit2(trialStrm, -15) !== Z_OK) return [];
  trialOut ??= new Uint8Array(ROUND2);
  const kept: Survivor[] = [];
  for (const bit of bits) {
    const t = trial(window, input, base, bit, after);
    if (t) kept.push(t);
  }
  return kept;
}

/** True when one candidate is left, or all reach one same boundary (so decode alike). */
function settled(kept: Survivor[]): boolean {
  const { stop } = kept[0] ?? {};
  return kept.length <= 1 || (stop !== undefined && kept.every((t) => t.stop === stop));
}

/**
 * The exact bit offset of the block boundary where the native inflater stopped after consuming
 * `consumed` bytes of the chunk, given the window before it and the bytes decoded after it; or
 * undefined when it cannot be told for sure. Needs working memory (best effort: none, no bit).
 */
export async function exactBit(
  ctx: DecodeContext,
  consumed: number,
  window: Uint8Array,
  after: Uint8Array,
  near?: NearInput,
): Promise<number | undefined> {
  const { memory } = ctx;
  if (consumed < 3 || memory.used + TRIALS_BYTES > memory.limit) return undefined;
  memory.acquire(TRIALS_BYTES, "zlib point trials");
  try {
    const base = consumed - 1;
    const bits = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => 8 * consumed - k);
    const all = bits.filter((b) => b >= FIRST_BLOCK_BIT);
    let kept = await survivors(ctx, base, all, window, after.subarray(0, ROUND1), near);
    if (!settled(kept) && after.length > ROUND1) {
      const again = kept.map((t) => t.bit);
      kept = await survivors(ctx, base, again, window, after.subarray(0, ROUND2), near);
    }
    return kept.length > 0 && settled(kept) ? kept[0].bit : undefined;
  } catch (e) {
    // A failing read only costs this point; the read that needs those bytes raises it.
    if (e instanceof DmgError) return undefined;
    throw e;
  } finally {
    memory.release(TRIALS_BYTES);
  }
}

/** Decoded positions and chunk bytes consumed where the native inflater stops in `z`. */
function nativeBoundaries(z: Uint8Array, size: number): string[] {
  const e = takeEngine("zlib");
  const out = new Uint8Array(size + 1);
  const found: string[] = [];
  let produced = 0;
  let consumed = 0;
  for (;;) {
    const left = z.length - consumed;
    const room = out.length - produced;
    const r = engineStep(e, Z_BLOCK, z, consumed, left, out, produced, room);
    if (r === undefined || (r[0] === 0 && r[1] === 0)) break;
    produced += r[0];
    consumed += r[1];
    const stop = r[0] < room && r[1] < left;
    if (stop && produced > 0 && produced < size) found.push(`${produced}:${consumed}`);
  }
  giveEngine("zlib", e);
  return found;
}

let boundaries: boolean | undefined;

/**
 * True when the native inflater stops at every block boundary having consumed exactly the
 * bytes up to the one the boundary is in, as {@link exactBit} assumes (checked once, against
 * pako, on blocks of every kind and every bit offset).
 */
export function boundariesSupported(): boolean {
  if (boundaries !== undefined) return boundaries;
  try {
    // Text, random and zero runs in blocks of ~128 symbols (memLevel 1): over 300 boundaries.
    const data = new Uint8Array(96 * 1024);
    let x = 0x9e3779b9;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const kind = (i >> 11) % 3;
      data[i] = kind === 0 ? 0x61 + ((x >>> 8) % 7) : kind === 1 ? x & 0xff : 0;
    }
    const z = new Uint8Array(deflateSync(data, { memLevel: 1 }));
    const want = [...streamBoundaries(z, data.length)]
      .filter(([q]) => q > 0 && q < data.length)
      .map(([q, bit]) => `${q}:${Math.ceil(bit / 8)}`);
    const got = nativeBoundaries(z, data.length);
    boundaries = snapshotsSupported() && want.length > 200 && want.join() === got.join();
  } catch {
    boundaries = false;
  }
  return boundaries;
}
