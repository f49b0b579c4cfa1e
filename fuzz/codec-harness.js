/**
 * The codec targets' harness: the fuzz input as one chunk payload, decoded through the codec
 * interface of src/codecs/codec.ts with its contract checked, and, for codecs that resume at
 * index points, every point resumed and compared with the decode from the chunk start.
 */

import { loadCodecs } from "../dist/codecs/registry.js";
import { MemoryMeter } from "../dist/core/limits.js";
import { bytesSource } from "../dist/sources/source.js";

// Every decoder, loaded once (top-level await) before the first input.
const codecs = await loadCodecs();
const codecFor = (type) => codecs.get(type);

import { UDBZ, UDCO, UDZO, ULFO, ULMO } from "../dist/format/types.js";
import { PIECE } from "../dist/image/reader.js";
import { BUDGET, invariant, tolerate } from "./harness.js";

/** The chunk type each codec target decodes. */
export const CODEC_TYPES = Object.freeze({
  zlib: UDZO,
  bzip2: UDBZ,
  adc: UDCO,
  lzfse: ULFO,
  lzma: ULMO,
});

/** Error codes a codec may raise on hostile input. */
const CODEC_CODES = /^(DECODE_|CHUNK_TYPE_UNSUPPORTED$|BUDGET_WORKING_MEMORY$)/;

/**
 * How a codec target reads its input: byte 0 gives the declared size (1..256 sectors), byte 1
 * the largest piece asked of `next()`, the rest is the chunk's compressed payload.
 */
export function codecInput(data) {
  const sectors = 1 + data[0];
  const b = data[1];
  // Piece sizes 1..16 probe buffer edges; the rest step through odd sizes up to the reader's.
  const max = b === 0 ? PIECE : b <= 16 ? b : b * 509;
  return { outputSize: sectors * 512, max, payload: data.subarray(2) };
}

/** The control bytes {@link codecInput} reads, for seeds: `sectors` 1..256, piece byte. */
export function codecHeader(sectors, pieceByte = 0) {
  return Uint8Array.of(sectors - 1, pieceByte);
}

/** A decode context for the chunk `data[offset..]` declared to decode to `outputSize` bytes. */
function chunkContext(data, offset, outputSize) {
  return {
    source: bytesSource(data),
    offset,
    length: data.length - offset,
    outputSize,
    memory: new MemoryMeter(BUDGET.maxWorkingMemory),
    where: { table: 0, chunk: 0 },
  };
}

/**
 * False for a codec target whose chunk type is known but not decodable yet (its codec raises
 * CHUNK_TYPE_UNSUPPORTED); true for every other target.
 */
export async function codecDecodes(target) {
  const type = CODEC_TYPES[target];
  if (type === undefined) return true;
  const err = await tolerate(async () =>
    codecFor(type)
      .open(chunkContext(new Uint8Array(1), 0, 512))
      .close(),
  );
  return err?.code !== "CHUNK_TYPE_UNSUPPORTED";
}

/** Most index points a codec target keeps (and resumes) per input. */
const MAX_POINTS = 3;

/**
 * The index points of one decode: every point the codec offers is taken, up to MAX_POINTS.
 * `compact` asks for compact points, as the reader does when memory is short.
 */
function pointRecorder(compact) {
  const points = [];
  return {
    points,
    compact,
    reserve: () => points.length < MAX_POINTS,
    add(point) {
      if (point !== undefined) points.push(point);
    },
  };
}

/**
 * Read `cursor` to its end in pieces of at most `max`, checking each against the contract;
 * `onPiece(piece, position)` sees each piece (a view valid until the next call).
 */
async function readAll(cursor, start, outputSize, max, onPiece) {
  let total = start;
  for (;;) {
    const piece = await cursor.next(max);
    if (piece.length === 0) break;
    invariant(piece.length <= max, `next(${max}) returned ${piece.length} bytes`);
    onPiece(piece, total);
    total += piece.length;
    invariant(cursor.position === total, `position ${cursor.position} after ${total} bytes`);
    invariant(total <= outputSize, `handed out ${total} bytes of a ${outputSize}-byte chunk`);
  }
  invariant(total === outputSize, `chunk ended after ${total} of ${outputSize} bytes`);
}

/** Close `cursor` (twice: it must be safe) and check that its working memory came back. */
function closeAndCheck(cursor, memory) {
  cursor?.close();
  cursor?.close();
  invariant(memory.used === 0, `${memory.used} bytes of working memory still held after close`);
  invariant(memory.peak <= memory.limit, `working memory peaked at ${memory.peak}`);
}

/**
 * Decode the fuzz input as one chunk of `type` (see {@link codecInput}), reading all output
 * and checking the codec contract of src/codecs/codec.ts. A codec that resumes is given a
 * recorder (compact points when bit 7 of byte 1 is set); each point it offers must resume to
 * the same bytes, and the same outcome, as the decode from the chunk start.
 */
export async function fuzzCodec(type, data) {
  if (data.length < 2) return;
  const codec = codecFor(type);
  const { outputSize, max } = codecInput(data);
  const ctx = chunkContext(data, 2, outputSize);
  const recorder = codec.resume ? pointRecorder((data[1] & 0x80) !== 0) : undefined;
  if (recorder) ctx.points = recorder;
  const out = new Uint8Array(outputSize);
  let decoded = 0;
  let cursor;
  const err = await tolerate(async () => {
    cursor = codec.open(ctx);
    await readAll(cursor, 0, outputSize, max, (piece, at) => {
      out.set(piece, at);
      decoded = at + piece.length;
    });
  });
  if (err !== undefined) {
    invariant(CODEC_CODES.test(err.code), `codec raised ${err.code}: ${err.message}`);
    if (cursor !== undefined) {
      // A failed decoder is never resumed: the same error again, not more bytes.
      const again = await tolerate(() => cursor.next(1));
      invariant(again !== undefined, "a failed cursor handed out bytes on the next call");
    }
  }
  closeAndCheck(cursor, ctx.memory);
  for (const point of recorder?.points ?? []) {
    await checkResume(codec, data, point, { outputSize, max, out, decoded, err });
  }
}

/** Resume `point` and compare with the decode from the start (`out`, `decoded`, `err`). */
async function checkResume(codec, data, point, { outputSize, max, out, decoded, err }) {
  const at = point.position;
  invariant(at > 0 && at <= decoded, `point at ${at} offered after ${decoded} decoded bytes`);
  const ctx = chunkContext(data, 2, outputSize);
  ctx.points = pointRecorder(false);
  let cursor;
  const again = await tolerate(async () => {
    cursor = codec.resume(ctx, point);
    invariant(cursor.position === at, `cursor resumed at ${at} stands at ${cursor.position}`);
    await readAll(cursor, at, outputSize, max, (piece, pos) => {
      const end = Math.min(pos + piece.length, decoded);
      for (let i = pos; i < end; i++) {
        invariant(piece[i - pos] === out[i], `resumed at ${at}: byte ${i} differs`);
      }
    });
  });
  closeAndCheck(cursor, ctx.memory);
  // The same checks and errors as from the start (a budget may differ: points hold memory).
  if (err === undefined || !err.code.startsWith("BUDGET_")) {
    invariant(
      again?.code === err?.code,
      `resumed at ${at}: ${again?.code ?? "ok"}, from the start: ${err?.code ?? "ok"}`,
    );
  }
}

/** The bytes handed out for the fuzz input as one chunk of `type`, and the error (if any). */
async function outcomeOf(type, data) {
  const { outputSize, max } = codecInput(data);
  const ctx = chunkContext(data, 2, outputSize);
  const out = new Uint8Array(outputSize);
  let n = 0;
  let cursor;
  const err = await tolerate(async () => {
    cursor = codecFor(type).open(ctx);
    for (let p = await cursor.next(max); p.length > 0; p = await cursor.next(max)) {
      out.set(p.subarray(0, Math.min(p.length, outputSize - n)), n);
      n += p.length;
    }
  });
  cursor?.close();
  return { bytes: out.subarray(0, Math.min(n, outputSize)), n, err };
}

/**
 * For a codec with a WebAssembly engine beside its TypeScript one: decode the fuzz input with
 * the TypeScript engine (`setMode("js")`, the instrumented code that guides the fuzzer) and with
 * WebAssembly (`setMode("auto")`, `ready()` resolving true), and fail unless both hand out the
 * same bytes and end with the same error (code, message and offset).
 */
export async function sameWithBothEngines(type, data, setMode, ready) {
  if (data.length < 2) return;
  setMode("js");
  const js = await outcomeOf(type, data);
  setMode("auto");
  invariant(await ready(), "the WebAssembly engine did not load");
  const wasm = await outcomeOf(type, data);
  setMode("js");
  const what = (o) => (o.err ? `${o.err.code} "${o.err.message}" at ${o.err.offset}` : "ok");
  invariant(
    js.n === wasm.n && Buffer.compare(js.bytes, wasm.bytes) === 0,
    `TypeScript handed out ${js.n} bytes, WebAssembly ${wasm.n} (or other bytes)`,
  );
  invariant(what(js) === what(wasm), `TypeScript: ${what(js)}, WebAssembly: ${what(wasm)}`);
}
