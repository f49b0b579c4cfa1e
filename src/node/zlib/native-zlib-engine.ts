/**
 * node:zlib engines driven through their synchronous native handle, as node:zlib's inflateSync
 * does internally: the caller's input piece in, a caller's buffer of exactly the size asked for
 * out. node:zlib's documented interfaces either work on whole buffers (a 250 MB chunk would be
 * one 250 MB buffer) or stream into buffers they allocate themselves, whose garbage alone costs
 * tens of megabytes of resident memory per gigabyte decoded.
 *
 * Engines and 1 MiB output buffers are pooled (a few of each) instead of being left to the GC.
 */
import { constants, DeflateRaw, deflateSync, Inflate, InflateRaw } from "node:zlib";

/** The synchronous native handle behind a node:zlib engine. */
interface NativeHandle {
  writeSync(
    flush: number,
    input: Uint8Array,
    inOffset: number,
    inLength: number,
    output: Uint8Array,
    outOffset: number,
    outLength: number,
  ): void;
}

/** The parts of a node:zlib engine used here. */
export interface Engine {
  /** The native handle; null once the engine is closed. */
  _handle: NativeHandle | null;
  /** After each write: [output space left, input bytes left]. */
  _writeState: Uint32Array;
  /** Set when zlib reported an error (the engine destroys itself). */
  destroyed: boolean;
  reset(): void;
  close(): void;
}

/**
 * What an engine does: inflate a zlib stream (a chunk from its start), inflate raw deflate (a
 * chunk resumed at a point), or deflate raw at level 1 (a point's window, packed).
 */
export type EngineKind = "zlib" | "raw" | "pack";

/** Size of the output buffer a cursor owns: a whole 2048-sector chunk in one call. */
export const OUT_BUFFER = 1024 * 1024;
/** Idle engines of each kind and output buffers kept for the next use. */
const POOL = 2;

const idle: Record<EngineKind, Engine[]> = { zlib: [], raw: [], pack: [] };
const idleBuffers: Uint8Array[] = [];

function newEngine(kind: EngineKind): Engine {
  const z =
    kind === "zlib"
      ? new Inflate({ chunkSize: 64 })
      : kind === "raw"
        ? new InflateRaw({ chunkSize: 64 })
        : new DeflateRaw({ level: 1, chunkSize: 64 });
  // zlib errors destroy the engine, which then emits "error"; callers see `destroyed`.
  z.on("error", () => undefined);
  return z as unknown as Engine;
}

/** An engine of `kind`, ready for a new stream. */
export function takeEngine(kind: EngineKind): Engine {
  return idle[kind].pop() ?? newEngine(kind);
}

/** Give back an engine taken with {@link takeEngine}: reset for the next stream, or closed. */
export function giveEngine(kind: EngineKind, z: Engine): void {
  if (z.destroyed) return;
  if (idle[kind].length < POOL) {
    z.reset();
    idle[kind].push(z);
  } else z.close();
}

/** A buffer of {@link OUT_BUFFER} bytes (the caller accounts for it). */
export function takeBuffer(): Uint8Array {
  return idleBuffers.pop() ?? new Uint8Array(OUT_BUFFER);
}

export function giveBuffer(b: Uint8Array): void {
  if (idleBuffers.length < POOL) idleBuffers.push(b);
}

/**
 * One call into the engine: `input[inOffset, +inLength)` in, at most `outLength` bytes out at
 * `out[outOffset]`. Returns [output produced, input consumed], or undefined on a zlib error.
 */
export function engineStep(
  z: Engine,
  flush: number,
  input: Uint8Array,
  inOffset: number,
  inLength: number,
  out: Uint8Array,
  outOffset: number,
  outLength: number,
): [number, number] | undefined {
  z._handle!.writeSync(flush, input, inOffset, inLength, out, outOffset, outLength);
  if (z.destroyed) return undefined;
  return [outLength - z._writeState[0], inLength - z._writeState[1]];
}

/** True when node:zlib exposes the synchronous handle used here, and it inflates. */
function nativeHandleWorks(): boolean {
  try {
    const z = newEngine("zlib");
    if (typeof z._handle?.writeSync !== "function" || !(z._writeState instanceof Uint32Array)) {
      return false;
    }
    const raw = new TextEncoder().encode("native zlib self-test ".repeat(50));
    const packed = deflateSync(raw);
    const out = new Uint8Array(raw.length + 1);
    const r = engineStep(z, constants.Z_FINISH, packed, 0, packed.length, out, 0, out.length);
    z.close();
    const same = r !== undefined && r[0] === raw.length && r[1] === packed.length;
    // And an error must show as a destroyed engine.
    const bad = newEngine("zlib");
    const broken = engineStep(bad, constants.Z_FINISH, raw, 0, raw.length, out, 0, out.length);
    return same && Buffer.compare(out.subarray(0, raw.length), raw) === 0 && broken === undefined;
  } catch {
    return false;
  }
}

/** True when the native engines can be used on this Node version (checked once). */
export const nativeZlibAvailable: boolean = nativeHandleWorks();
