/**
 * The WebAssembly build of the ULFO block decoders (lzfse.c) behind the {@link LzfseEngine}
 * interface: LZVN blocks, and the literal and L, M, D decoding of LZFSE blocks. Headers,
 * stored blocks and the stream's framing stay in lzfse.ts.
 *
 * Each engine is one instance with its own linear memory: the C side's state, tables and
 * literal buffer, then the cursor's output buffer, then the current block's payload, for which
 * the memory grows (only while a block starts, inside `next()`, so never while a piece handed
 * out is still valid). The output pieces are views of this memory. A memory never shrinks, so
 * an engine is pooled on release for the next cursor only while its memory is small, and only
 * once its cursor has ended or failed (a cursor closed early may have a piece still in use);
 * others are left to the collector. The cursor acquires the buffers' bytes from the
 * working-memory budget before it asks for an engine or a block, as for the TypeScript one.
 *
 * Where WebAssembly is missing or refused, {@link wasmLzfseEngine} gives none and the
 * TypeScript decoders are used instead.
 */
import { embeddedWasm, enginePool, wasmEnabled } from "../../wasm/embedded.js";
import type { LzfseEngine, OutBlock } from "../lzfse-engine.js";
import {
  backwardBits,
  type Fail,
  FREQ_COUNT,
  type LzfseBlockHeader,
  lmdBits,
} from "../lzfse-fse.js";
import { viewOf } from "../lzvn.js";
import { LZFSE_WASM } from "./lzfse-wasm-bytes.js";

/** Word indexes of the C side's state block (the enum in lzfse.c). */
enum S {
  OUT_SIZE,
  PAYLOAD,
  PAYLOAD_LEN,
  NRAW,
  PRODUCED,
  IP,
  LITERAL,
  MATCH,
  DIST,
  DONE,
  NLITERALS,
  MATCHES,
  L_STATE,
  M_STATE,
  D_STATE,
  ACCUM_LO,
  ACCUM_HI,
  NBITS,
  POS,
  LMD_START,
  LIT_STATE0,
  LIT_STATE1,
  LIT_STATE2,
  LIT_STATE3,
  ERR,
  ERR_A,
  ERR_B,
  ERR_AT,
  WORDS,
}

/** The reasons lzfse.c gives in S.ERR. */
enum E {
  LZVN_NO_EOS = 1,
  LZVN_CUT,
  LZVN_UNDEFINED,
  LZVN_LITERALS_PAST,
  LZVN_PAST_DECLARED,
  LZVN_DISTANCE,
  LZVN_EOS_CUT,
  LZVN_EOS_LEAVES,
  LZVN_EOS_PADDING,
  LZVN_SHORT,
  LZFSE_LITERAL_BITS,
  LZFSE_LMD_BITS,
  LZFSE_LITERALS,
  LZFSE_DISTANCE,
  LZFSE_PAST_DECLARED,
  LZFSE_SHORT,
}

const PAGE = 65536;
/** Bytes after the output buffer and after the payload that 8-byte copies may touch. */
const SLACK = 64;
/** Distances are at most 262139: a larger count of bytes decoded changes no check. */
const BASE_MAX = 2 ** 30;

interface Exports {
  memory: WebAssembly.Memory;
  lzfse_state(): number;
  lzfse_freq(): number;
  lzfse_out(): number;
  lzfse_build(): void;
  lzfse_literals(): number;
  lzfse_decode(at: number, stop: number, base: number): number;
  lzvn_decode(at: number, stop: number, base: number): number;
}

/**
 * Most working memory a reused engine may hold beyond a new one's (the room its largest
 * payloads grew), for a chunk at least this long: the cursor counts it with its buffers, and a
 * bigger engine is not reused (an engine grown by a 1 MiB payload never serves a small chunk
 * off the books).
 */
export const LZFSE_WASM_ROOM = 64 * 1024;

const lzfseWasm = embeddedWasm(LZFSE_WASM);
const pool = enginePool<WasmEngine>(4 * 1024 * 1024);

/**
 * A WebAssembly engine with an output buffer of `bytes` bytes, or undefined where WebAssembly
 * is not used (see embedded.ts) or its memory cannot grow. A reused engine's memory is at most a
 * new one's plus `room` bytes (the caller counts them in its budget).
 */
export async function wasmLzfseEngine(
  bytes: number,
  room = LZFSE_WASM_ROOM,
): Promise<LzfseEngine | undefined> {
  if (!wasmEnabled()) return undefined;
  try {
    // Only an engine whose memory is a new one's plus at most `room`, which the caller counts.
    let e = pool.take((p) => p.sized(bytes, room));
    if (!e) {
      const instance = await lzfseWasm.instantiate();
      if (!instance) return undefined;
      e = new WasmEngine(instance.exports as unknown as Exports);
    }
    e.use(bytes);
    return e;
  } catch {
    // Out of address space for another memory: the TypeScript decoders do the same job.
    return undefined;
  }
}

class WasmEngine implements LzfseEngine {
  out = new Uint8Array(0);
  view = viewOf(this.out);
  private st = new Int32Array(0);
  private readonly outAt: number;
  /** The memory an instance starts with. */
  private readonly initialBytes: number;
  private payloadAt = 0;
  private bytes = 0;

  constructor(private readonly x: Exports) {
    this.outAt = this.x.lzfse_out();
    this.initialBytes = x.memory.buffer.byteLength;
  }

  /** True when the memory is at most a new engine's for `bytes` plus `room`. */
  sized(bytes: number, room: number): boolean {
    const payloadAt = Math.ceil((this.outAt + bytes + SLACK) / 16) * 16;
    const fresh = Math.ceil((payloadAt + SLACK) / PAGE) * PAGE;
    return this.x.memory.buffer.byteLength <= Math.max(this.initialBytes, fresh) + room;
  }

  /** Take the engine for an output buffer of `bytes`. */
  use(bytes: number): void {
    this.bytes = bytes;
    this.payloadAt = Math.ceil((this.outAt + bytes + SLACK) / 16) * 16;
    this.room(this.payloadAt);
  }

  /** Grow the memory to hold `end` bytes and the slack after them; refresh the views. */
  private room(end: number): void {
    const { memory } = this.x;
    const need = end + SLACK - memory.buffer.byteLength;
    if (need > 0) memory.grow(Math.ceil(need / PAGE));
    this.out = new Uint8Array(memory.buffer, this.outAt, this.bytes);
    this.view = viewOf(this.out);
    this.st = new Int32Array(memory.buffer, this.x.lzfse_state(), S.WORDS);
  }

  /** Copy a block's payload in after the output buffer and reset the block's state. */
  private start(payload: Uint8Array, nRaw: number, distance: number): Int32Array {
    this.room(this.payloadAt + payload.length);
    new Uint8Array(this.x.memory.buffer, this.payloadAt, payload.length).set(payload);
    const { st } = this;
    st.fill(0);
    st[S.OUT_SIZE] = this.bytes;
    st[S.PAYLOAD] = this.payloadAt;
    st[S.PAYLOAD_LEN] = payload.length;
    st[S.NRAW] = nRaw;
    st[S.DIST] = distance;
    return st;
  }

  lzvn(payload: Uint8Array, nRaw: number, fail: Fail, at: number): OutBlock {
    const st = this.start(payload, nRaw, 0);
    const { x } = this;
    return new WasmBlock(st, x.lzvn_decode, () => lzvnError(st, nRaw, fail, at));
  }

  lzfse(h: LzfseBlockHeader, payload: Uint8Array, fail: Fail, at: number): OutBlock {
    const st = this.start(payload, h.n_raw_bytes, -1);
    const { x } = this;
    new Uint16Array(x.memory.buffer, x.lzfse_freq(), FREQ_COUNT).set(h.freq);
    x.lzfse_build();
    const raise = () => lzfseError(st, h, fail, at);
    const litEnd = h.n_literal_payload_bytes;
    const lits = backwardBits(payload, 0, litEnd, h.literal_bits, fail, at);
    // Four interleaved streams; the count is rounded up to whole groups of four.
    st[S.NLITERALS] = (h.n_literals + 3) & ~3;
    setBits(st, lits.accum, lits.nbits, lits.pos);
    for (let i = 0; i < 4; i++) st[S.LIT_STATE0 + i] = h.literal_state[i];
    if (x.lzfse_literals() < 0) raise();
    const lmd = lmdBits(h, payload, fail, at);
    setBits(st, lmd.accum, lmd.nbits, lmd.pos);
    st[S.LMD_START] = litEnd;
    st[S.L_STATE] = h.l_state;
    st[S.M_STATE] = h.m_state;
    st[S.D_STATE] = h.d_state;
    st[S.MATCHES] = h.n_matches;
    return new WasmBlock(st, x.lzfse_decode, raise);
  }

  release(reuse: boolean): void {
    this.out = new Uint8Array(0);
    if (reuse) pool.give(this, this.x.memory.buffer.byteLength);
  }
}

function setBits(st: Int32Array, accum: number, nbits: number, pos: number): void {
  st[S.ACCUM_LO] = accum;
  st[S.ACCUM_HI] = 0;
  st[S.NBITS] = nbits;
  st[S.POS] = pos;
}

/**
 * One block decoded by the module: `run` is its decode export, `raise` throws the error its
 * state block holds. The state block's view stays valid: memory grows only when a block starts.
 */
class WasmBlock implements OutBlock {
  done = false;

  constructor(
    private readonly st: Int32Array,
    private readonly run: (at: number, stop: number, base: number) => number,
    private readonly raise: () => never,
  ) {}

  decode(_out: Uint8Array, _view: DataView, at: number, stop: number, base: number): number {
    const p = this.run(at, stop, Math.min(base, BASE_MAX));
    if (p < 0) this.raise();
    this.done = this.st[S.DONE] === 1;
    return p;
  }
}

/** The TypeScript decoder's error for an LZVN block's failed check (see lzvn.ts). */
function lzvnError(st: Int32Array, nRaw: number, fail: Fail, payloadAt: number): never {
  const at = payloadAt + (st[S.ERR_AT] >>> 0);
  const a = st[S.ERR_A] >>> 0;
  switch (st[S.ERR]) {
    case E.LZVN_NO_EOS:
      return fail("LZVN block ends without its end-of-stream opcode", at);
    case E.LZVN_CUT:
      return fail("LZVN opcode runs past the block payload", at);
    case E.LZVN_UNDEFINED:
      return fail(`LZVN opcode 0x${a.toString(16).padStart(2, "0")} is undefined`, at);
    case E.LZVN_LITERALS_PAST:
      return fail("LZVN literal runs past the block payload", at);
    case E.LZVN_PAST_DECLARED:
      return fail(`LZVN block decodes past its declared ${nRaw} bytes`, at);
    case E.LZVN_DISTANCE:
      return fail(`LZVN match reaches ${a} bytes back with ${st[S.ERR_B] >>> 0} bytes decoded`, at);
    case E.LZVN_EOS_CUT:
      return fail("LZVN end-of-stream opcode is cut short by the block payload", at);
    case E.LZVN_EOS_LEAVES:
      return fail(`LZVN end-of-stream opcode leaves ${a} bytes of its block payload`, at);
    case E.LZVN_EOS_PADDING:
      return fail("LZVN end-of-stream padding is not zero", at);
    default:
      return fail(`LZVN block ends after ${a} of its declared ${nRaw} bytes`, at);
  }
}

/** The TypeScript decoder's error for an LZFSE block's failed check (see lzfse.ts). */
function lzfseError(st: Int32Array, h: LzfseBlockHeader, fail: Fail, payloadAt: number): never {
  switch (st[S.ERR]) {
    case E.LZFSE_LITERAL_BITS:
      return fail("LZFSE bit stream runs out of bits", payloadAt);
    case E.LZFSE_LMD_BITS:
      return fail("LZFSE bit stream runs out of bits", payloadAt + h.n_literal_payload_bytes);
    case E.LZFSE_LITERALS:
      return fail(`LZFSE block uses more than its ${h.n_literals} literals`);
    case E.LZFSE_DISTANCE:
      return fail(
        `LZFSE match reaches ${st[S.ERR_A]} bytes back with ${st[S.ERR_B] >>> 0} bytes decoded`,
      );
    case E.LZFSE_PAST_DECLARED:
      return fail(`LZFSE block decodes past its declared ${h.n_raw_bytes} bytes`);
    default:
      return fail(
        `LZFSE block ends after ${st[S.ERR_A] >>> 0} of its declared ${h.n_raw_bytes} bytes`,
      );
  }
}
