/**
 * The WebAssembly build of the bzip2 block stages (bzip2.c) behind the {@link Bzip2Engine}
 * interface.
 *
 * Each engine is one instance with its own linear memory: the C side's state block, tables,
 * input slice and output piece, then the block array, for which the memory is grown once, when
 * the engine is made or taken for a stream; it never grows while the engine is in use, so the
 * output pieces it hands out (views of its memory) stay valid until the next call. A memory
 * never shrinks, so an engine is pooled on release for the next stream only while its memory
 * is small; a bigger one is dropped and left to the collector. The caller acquires the block
 * array's bytes from the working-memory budget before asking for an engine, as for the
 * TypeScript one.
 *
 * Where WebAssembly is missing or refused (a page whose CSP lacks 'wasm-unsafe-eval', say),
 * {@link bzip2WasmReady} resolves false and the TypeScript stages are used instead.
 */
import { embeddedWasm, enginePool, wasmEnabled } from "../../wasm/embedded.js";
import type { Bzip2Engine } from "../bzip2-engine.js";
import type { BitReader } from "../bzip2-huffman.js";
import { FAILURES } from "../bzip2-symbols.js";
import { BZIP2_WASM } from "./bzip2-wasm-bytes.js";

/** Word indexes of the C side's state block (the enum in bzip2.c). */
const S_POS = 0;
const S_END = 1;
const S_STOP = 2;
const S_ACC = 3;
const S_NBITS = 4;
const S_NBLOCK = 5;
const S_LEFT = 15;
const S_COPIES = 18;
const S_CRC = 19;
const S_WORDS = 22;
/** bz_decode's results past the failures' (FAILURES in bzip2-symbols.ts, plus one). */
const MORE_INPUT = 0;
const END_OF_BLOCK = 1;
/** A symbol reads at most this many bytes past the position it may stop at. */
const SLICE_SLACK = 4;
const PAGE = 65536;
const EMPTY = new Uint8Array(0);

interface Exports {
  memory: WebAssembly.Memory;
  bz_state(): number;
  bz_selectors(): number;
  bz_lengths(): number;
  bz_used(): number;
  bz_input(): number;
  bz_input_bytes(): number;
  bz_out(): number;
  bz_out_bytes(): number;
  bz_block(): number;
  bz_block_bytes(blockMax: number): number;
  bz_build(g: number, alpha: number): number;
  bz_start(nUsed: number, nSel: number, blockMax: number): number;
  bz_decode(): number;
  bz_link(origPtr: number): number;
  bz_emit(cap: number): number;
}

const bzip2Wasm = embeddedWasm(BZIP2_WASM);
/** Engines of at most 6 MiB (level 9: about 4.9 MB) are kept for reuse. */
const pool = enginePool<WasmEngine>(6 * 1024 * 1024);

/** True when WebAssembly engines can be made (see embedded.ts). */
export function bzip2WasmReady(): Promise<boolean> {
  return bzip2Wasm.ready();
}

/**
 * A WebAssembly engine for blocks of `blockMax` entries, or undefined where WebAssembly is not
 * used (see embedded.ts) or its memory cannot grow.
 */
export async function wasmBzip2Engine(blockMax: number): Promise<Bzip2Engine | undefined> {
  if (!wasmEnabled()) return undefined;
  const idle = pool.take((e) => e.fits(blockMax) && e.sized(blockMax));
  if (idle) {
    idle.use(blockMax);
    return idle;
  }
  const instance = await bzip2Wasm.instantiate();
  if (!instance) return undefined;
  try {
    const e = new WasmEngine(instance.exports as unknown as Exports);
    if (!e.fits(blockMax)) e.grow(blockMax);
    e.use(blockMax);
    return e;
  } catch {
    // Out of address space for another memory: the TypeScript stages do the same job.
    return undefined;
  }
}

class WasmEngine implements Bzip2Engine {
  selectors = EMPTY;
  lengths = EMPTY;
  private st = new Int32Array(0);
  private used = EMPTY;
  private input = EMPTY;
  private out = EMPTY;
  private blockMax = 0;
  private readonly blockAt: number;
  private readonly inputBytes: number;
  /** The memory an instance starts with. */
  private readonly initialBytes: number;

  constructor(private readonly x: Exports) {
    this.blockAt = x.bz_block();
    this.inputBytes = x.bz_input_bytes();
    this.initialBytes = x.memory.buffer.byteLength;
  }

  fits(blockMax: number): boolean {
    return this.blockAt + this.x.bz_block_bytes(blockMax) <= this.x.memory.buffer.byteLength;
  }

  /**
   * True when the memory is no bigger than a new engine's for `blockMax` would be: what the
   * budget pays for. An engine grown for level 9 never serves a level 1 stream off the books.
   */
  sized(blockMax: number): boolean {
    const fresh = Math.ceil((this.blockAt + this.x.bz_block_bytes(blockMax)) / PAGE) * PAGE;
    return this.x.memory.buffer.byteLength <= Math.max(this.initialBytes, fresh);
  }

  grow(blockMax: number): void {
    const need = this.blockAt + this.x.bz_block_bytes(blockMax) - this.x.memory.buffer.byteLength;
    this.x.memory.grow(Math.ceil(need / PAGE));
  }

  /** Take the engine for blocks of `blockMax` entries: views over the (grown) memory. */
  use(blockMax: number): void {
    const { x } = this;
    const { buffer } = x.memory;
    this.blockMax = blockMax;
    this.st = new Int32Array(buffer, x.bz_state(), S_WORDS);
    this.selectors = new Uint8Array(buffer, x.bz_selectors(), 32768);
    this.lengths = new Uint8Array(buffer, x.bz_lengths(), 6 * 258);
    this.used = new Uint8Array(buffer, x.bz_used(), 256);
    this.input = new Uint8Array(buffer, x.bz_input(), this.inputBytes);
    this.out = new Uint8Array(buffer, x.bz_out(), x.bz_out_bytes());
    this.st[S_LEFT] = 0;
    this.st[S_COPIES] = 0;
  }

  build(g: number, alpha: number): boolean {
    return this.x.bz_build(g, alpha) === 1;
  }

  start(used: Uint8Array, nUsed: number, nSel: number): void {
    this.used.set(used.subarray(0, nUsed));
    if (this.x.bz_start(nUsed, nSel, this.blockMax) !== 1) {
      throw new Error(`bzip2 engine refused a block of ${nUsed} byte values, ${nSel} selectors`);
    }
  }

  /**
   * As SymbolState.decode, over slices of the window copied into the instance: a slice that
   * does not reach the end of the window stops a few bytes early, where no symbol can read
   * past it, and the next slice goes on from there.
   */
  decode(r: BitReader): boolean {
    const { st, input, x } = this;
    const lastWindow = r.refillAt === Number.POSITIVE_INFINITY;
    // A valid stream has its 80-bit end marker after any symbol, so running into the last two
    // bytes of the input here means it is cut short.
    const stop = lastWindow ? r.end - 2 : r.refillAt;
    st[S_ACC] = r.acc;
    st[S_NBITS] = r.nbits;
    let result: number;
    for (;;) {
      const pos = r.pos;
      const avail = r.end - pos;
      const len = Math.min(avail, this.inputBytes);
      input.set(r.win.subarray(pos, pos + len));
      st[S_POS] = 0;
      st[S_END] = avail;
      st[S_STOP] = len === avail ? stop - pos : Math.min(stop - pos, len - SLICE_SLACK);
      result = x.bz_decode();
      r.pos = pos + st[S_POS];
      if (result !== MORE_INPUT || len === avail || r.pos > stop) break;
    }
    r.acc = st[S_ACC];
    r.nbits = st[S_NBITS];
    if (result > END_OF_BLOCK) r.fail("DECODE_CORRUPT", FAILURES[result - 1]);
    if (result !== END_OF_BLOCK && lastWindow) r.fail("DECODE_SHORT", "bzip2 data is truncated");
    return result === END_OF_BLOCK;
  }

  get nblock(): number {
    return this.st[S_NBLOCK];
  }

  link(origPtr: number): void {
    if (this.x.bz_link(origPtr) !== 1) throw new Error("bzip2 origin pointer past the block");
  }

  emit(_out: Uint8Array, cap: number): Uint8Array {
    const { st } = this;
    if (st[S_LEFT] === 0 && st[S_COPIES] === 0) return EMPTY;
    return this.out.subarray(0, this.x.bz_emit(Math.min(cap, this.out.length)));
  }

  get computedCrc(): number {
    return ~this.st[S_CRC] >>> 0;
  }

  release(): void {
    this.st[S_LEFT] = 0;
    this.st[S_COPIES] = 0;
    pool.give(this, this.x.memory.buffer.byteLength);
  }
}
