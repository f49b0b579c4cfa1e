/**
 * UDZO decoding through node:zlib: the zlib C library, about four times faster than pako.
 *
 * node:zlib's documented interfaces either inflate a whole buffer at once (inflateSync: a
 * 250 MB chunk would be one 250 MB buffer) or stream on the thread pool into output buffers
 * it allocates itself, whose garbage alone costs tens of megabytes of resident memory per
 * gigabyte decoded. So this codec drives the engine's own synchronous native handle, as
 * node:zlib's inflateSync does internally: the caller's input piece in, a reused output
 * buffer of exactly the size asked for out. That gives pako's exact bounds (output capped at
 * the declared size, one byte past it decoded to detect an overrun) at native speed.
 *
 * Native zlib only ever takes the honest path. The moment it sees anything else (a zlib
 * error, output past the declared size, an early end, input left over), the chunk is handed
 * to the pako codec, which decodes it again from the start and gives the verdict; so the
 * codes, messages and offsets of every decode error are the pako path's by construction.
 */
import { constants, deflateSync, Inflate } from "node:zlib";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  type GuardedCursor,
  guardedNext,
} from "../codecs/codec.js";
import { ChunkInput, INPUT_PIECE } from "../codecs/input.js";
import { registerCodec } from "../codecs/registry.js";
import { zlibCodec } from "../codecs/zlib.js";
import { DmgError } from "../errors.js";

/** Size of the output buffer a cursor owns: a whole 2048-sector chunk in one call. */
const OUT_BUFFER = 1024 * 1024;
/** Working memory accounted for zlib's inflate state and 32 KiB window, rounded up. */
const INFLATE_STATE = 64 * 1024;
/** Idle engines and output buffers kept for the next chunk instead of being left to the GC. */
const POOL = 2;

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

/** The parts of a node:zlib Inflate engine used here. */
interface Engine {
  /** The native handle; null once the engine is closed. */
  _handle: NativeHandle | null;
  /** After each write: [output space left, input bytes left]. */
  _writeState: Uint32Array;
  /** Set when zlib reported an error (the engine destroys itself). */
  destroyed: boolean;
  reset(): void;
  close(): void;
}

const idleEngines: Engine[] = [];
const idleBuffers: Uint8Array[] = [];

function newEngine(): Engine {
  const z = new Inflate({ chunkSize: 64 });
  // zlib errors destroy the engine, which then emits "error"; the cursor sees `destroyed`.
  z.on("error", () => undefined);
  return z as unknown as Engine;
}

/** One inflate call: returns [output produced, input consumed], or undefined on a zlib error. */
function inflateStep(
  z: Engine,
  flush: number,
  input: Uint8Array,
  inOffset: number,
  inLength: number,
  out: Uint8Array,
  cap: number,
): [number, number] | undefined {
  z._handle!.writeSync(flush, input, inOffset, inLength, out, 0, cap);
  if (z.destroyed) return undefined;
  return [cap - z._writeState[0], inLength - z._writeState[1]];
}

const EMPTY = new Uint8Array(0);

class NativeZlibCursor implements ChunkCursor, GuardedCursor {
  position = 0;
  held = 0;
  done = false;
  failure: DmgError | undefined;
  private engine: Engine | undefined;
  private input: ChunkInput | undefined;
  private out: Uint8Array | undefined;
  /** The compressed piece being inflated and where its unconsumed bytes start. */
  private piece: Uint8Array = EMPTY;
  private pieceAt = 0;
  /** The pako cursor that judges the chunk once native zlib has seen an anomaly. */
  private judge: ChunkCursor | undefined;

  constructor(readonly ctx: DecodeContext) {
    // Degenerate contexts take the pako path throughout, and so do budgets too tight for the
    // 1 MiB buffer: a budget refusal is then pako's own, as on the core.
    if (ctx.length === 0 || ctx.outputSize === 0 || !this.acquire()) {
      this.judge = zlibCodec.open(ctx);
      return;
    }
    this.engine = idleEngines.pop() ?? newEngine();
    this.out = idleBuffers.pop() ?? new Uint8Array(OUT_BUFFER);
  }

  /** Account the state, output buffer and input piece; false (nothing held) when over budget. */
  private acquire(): boolean {
    const { memory } = this.ctx;
    try {
      memory.acquire(INFLATE_STATE + OUT_BUFFER, "zlib decoder state and output buffer");
      this.held = INFLATE_STATE + OUT_BUFFER;
      // Each piece is inflated whole before the next is read, so one buffer serves them all.
      this.input = new ChunkInput(this.ctx, INPUT_PIECE, true);
      return true;
    } catch (e) {
      this.release(false);
      if (e instanceof DmgError && e.code === "BUDGET_WORKING_MEMORY") return false;
      throw e;
    }
  }

  next(max: number): Promise<Uint8Array> {
    if (this.judge) return this.judge.next(max);
    return guardedNext(this, "zlib", max, (n) => this.step(n));
  }

  private async step(max: number): Promise<Uint8Array> {
    const { ctx } = this;
    const input = this.input!;
    const out = this.out!;
    const remaining = ctx.outputSize - this.position;
    // Past the declared size, room for one byte: producing it proves an overrun (E25).
    const cap = remaining > 0 ? Math.min(max, OUT_BUFFER, remaining) : 1;
    for (;;) {
      if (this.pieceAt === this.piece.length && input.left > 0) {
        this.piece = (await input.next()) ?? EMPTY;
        this.pieceAt = 0;
      }
      // Z_FINISH once all input is in: zlib then reports a stream cut short as an error.
      const last = input.left === 0;
      const flush = last ? constants.Z_FINISH : constants.Z_NO_FLUSH;
      const left = this.piece.length - this.pieceAt;
      const r = inflateStep(this.engine!, flush, this.piece, this.pieceAt, left, out, cap);
      if (r === undefined) return this.handOver(max);
      const [produced, consumed] = r;
      this.pieceAt += consumed;
      if (produced > 0) {
        if (remaining <= 0) return this.handOver(max);
        this.position += produced;
        return out.subarray(0, produced);
      }
      if (consumed > 0 || (left === 0 && !last)) continue;
      // No progress with room for output: the stream has ended (under Z_FINISH, without an
      // error). It must end exactly at the declared size with no input left over.
      if (remaining > 0 || this.pieceAt < this.piece.length || !last) return this.handOver(max);
      this.done = true;
      this.close();
      return EMPTY;
    }
  }

  /**
   * Native zlib saw something other than an honest stream: let the pako cursor decode the
   * chunk again, skip what was already handed out, and continue (it raises the error).
   */
  private async handOver(max: number): Promise<Uint8Array> {
    const handedOut = this.position;
    this.release(false);
    const judge = zlibCodec.open(this.ctx);
    this.judge = judge;
    for (let skipped = 0; skipped < handedOut; ) {
      const piece = await judge.next(handedOut - skipped);
      if (piece.length === 0) break;
      skipped += piece.length;
    }
    return judge.next(max);
  }

  /** Give back memory and, when still clean, the engine and buffer for the next chunk. */
  private release(clean: boolean): void {
    const z = this.engine;
    if (z) {
      this.engine = undefined;
      if (clean && !z.destroyed && idleEngines.length < POOL) {
        z.reset();
        idleEngines.push(z);
      } else if (!z.destroyed) z.close();
    }
    if (this.out) {
      if (idleBuffers.length < POOL) idleBuffers.push(this.out);
      this.out = undefined;
    }
    this.input?.close();
    this.input = undefined;
    if (this.held) this.ctx.memory.release(this.held);
    this.held = 0;
  }

  close(): void {
    this.judge?.close();
    this.release(this.done);
  }
}

/** True when node:zlib exposes the synchronous handle this codec drives, and it inflates. */
function nativeHandleWorks(): boolean {
  try {
    const z = newEngine();
    if (typeof z._handle?.writeSync !== "function" || !(z._writeState instanceof Uint32Array)) {
      return false;
    }
    const raw = new TextEncoder().encode("native zlib self-test ".repeat(50));
    const packed = deflateSync(raw);
    const out = new Uint8Array(raw.length + 1);
    const r = inflateStep(z, constants.Z_FINISH, packed, 0, packed.length, out, out.length);
    z.close();
    const same = r !== undefined && r[0] === raw.length && r[1] === packed.length;
    // And an error must show as a destroyed engine.
    const bad = newEngine();
    const broken = inflateStep(bad, constants.Z_FINISH, raw, 0, raw.length, out, out.length);
    return same && Buffer.compare(out.subarray(0, raw.length), raw) === 0 && broken === undefined;
  } catch {
    return false;
  }
}

/** True when {@link nativeZlibCodec} can be used on this Node version (checked once). */
export const nativeZlibAvailable: boolean = nativeHandleWorks();

/**
 * The UDZO codec through node:zlib, with pako judging any chunk that is not an honest zlib
 * stream. Register it with `registerCodec` (the Node entry point does) only when
 * {@link nativeZlibAvailable} is true. It offers no index points and cannot resume: a cursor
 * asked to record points (a read that seeks) is pako's, whose inflater state can be saved.
 */
export const nativeZlibCodec: Codec = {
  type: zlibCodec.type,
  name: zlibCodec.name,
  open(ctx: DecodeContext): ChunkCursor {
    return ctx.points ? zlibCodec.open(ctx) : new NativeZlibCursor(ctx);
  },
};

/**
 * Make {@link nativeZlibCodec} the UDZO codec of this thread when node:zlib allows it (else
 * pako stays). Returns whether it did.
 */
export function useNativeZlib(): boolean {
  if (nativeZlibAvailable) registerCodec(nativeZlibCodec);
  return nativeZlibAvailable;
}
