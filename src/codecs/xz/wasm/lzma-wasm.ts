/**
 * The WebAssembly build of the LZMA decoder (lzma.c) behind the {@link LzmaEngine} interface.
 *
 * Each engine is one instance with its own linear memory: the C side's state block, model and
 * input area, then the window, for which the memory is grown before first use. A memory never
 * shrinks, so an engine is pooled on release for the next block only while its memory is
 * small; a bigger one is dropped and left to the collector. The caller acquires the window's
 * bytes from the working-memory budget before asking for an engine, as for the TypeScript one.
 * Where WebAssembly is missing or refused, {@link wasmLzmaEngine} gives none and the
 * TypeScript decoder is used instead.
 */
import { embeddedWasm, enginePool, wasmEnabled } from "../../wasm/embedded.js";
import type { LzmaEngine, LzmaWindow } from "../lzma-engine.js";
import { LZMA_WASM } from "./lzma-wasm-bytes.js";

/** Word indexes of the C side's state block (the enum in lzma.c). */
const S_POS = 0;
const S_FULL = 1;
const S_REACH = 2;
const S_SIZE = 3;
const S_WORDS = 17;
/** lzma_decode's results. */
const ERRORS = [
  undefined,
  "LZMA2 chunk's compressed data ends early",
  "LZMA2 data holds an end-of-stream marker",
  "LZMA2 match distance is beyond the dictionary",
];
const PAGE = 65536;
/**
 * Working memory an engine takes besides its window: the C side's statics and stack below the
 * window (~109 KiB) and the rounding of its memory up to whole 64 KiB pages. Counted in the
 * budget with the window; a test checks the module stays within it.
 */
export const LZMA_WASM_FIXED = 192 * 1024;

interface Exports {
  memory: WebAssembly.Memory;
  lzma_state(): number;
  lzma_input(): number;
  lzma_input_bytes(): number;
  lzma_dict(): number;
  lzma_props(props: number): number;
  lzma_reset_state(): void;
  lzma_rc_start(len: number): number;
  lzma_decode(limit: number): number;
  lzma_finished(): number;
}

const lzmaWasm = embeddedWasm(LZMA_WASM);
const pool = enginePool<WasmEngine>(4 * 1024 * 1024);

/**
 * A WebAssembly engine with a window of `bytes` bytes (a multiple of 16), or undefined where
 * WebAssembly is not used (see embedded.ts) or its memory cannot grow.
 */
export async function wasmLzmaEngine(bytes: number): Promise<LzmaEngine | undefined> {
  if (!wasmEnabled()) return undefined;
  // Only an engine whose whole memory the budget pays for: window plus the fixed cost.
  const idle = pool.take((e) => e.fits(bytes) && e.memoryBytes <= bytes + LZMA_WASM_FIXED);
  if (idle) {
    idle.use(bytes);
    return idle;
  }
  const instance = await lzmaWasm.instantiate();
  if (!instance) return undefined;
  try {
    const e = new WasmEngine(instance.exports as unknown as Exports);
    if (!e.fits(bytes)) e.grow(bytes);
    e.use(bytes);
    return e;
  } catch {
    // The memory cannot grow (address space): the TypeScript decoder does the same job.
    return undefined;
  }
}

class WasmEngine implements LzmaEngine, LzmaWindow {
  buf = new Uint8Array(0);
  error: string | undefined;
  private st = new Int32Array(0);
  private input = new Uint8Array(0);
  private readonly dictAt: number;
  private readonly inputBytes: number;

  constructor(private readonly x: Exports) {
    this.dictAt = x.lzma_dict();
    this.inputBytes = x.lzma_input_bytes() - 64;
  }

  get window(): LzmaWindow {
    return this;
  }

  get memoryBytes(): number {
    return this.x.memory.buffer.byteLength;
  }

  fits(bytes: number): boolean {
    return this.dictAt + bytes <= this.x.memory.buffer.byteLength;
  }

  grow(bytes: number): void {
    const need = this.dictAt + bytes - this.x.memory.buffer.byteLength;
    this.x.memory.grow(Math.ceil(need / PAGE));
  }

  /** Take the engine for a window of `bytes`: views over the (possibly grown) memory. */
  use(bytes: number): void {
    const { buffer } = this.x.memory;
    this.buf = new Uint8Array(buffer, this.dictAt, bytes);
    this.st = new Int32Array(buffer, this.x.lzma_state(), S_WORDS);
    this.input = new Uint8Array(buffer, this.x.lzma_input(), this.inputBytes);
    this.st[S_SIZE] = bytes;
    this.st[S_POS] = 0;
    this.st[S_FULL] = 0;
    this.st[S_REACH] = 0;
    this.error = undefined;
  }

  get pos(): number {
    return this.st[S_POS];
  }

  set pos(v: number) {
    this.st[S_POS] = v;
  }

  reset(dictSize: number): void {
    const { st } = this;
    st[S_POS] = 0;
    st[S_FULL] = 0;
    st[S_REACH] = Math.min(dictSize, this.buf.length);
  }

  grew(n: number): void {
    const { st } = this;
    st[S_FULL] = Math.min(st[S_FULL] + n, st[S_REACH]);
  }

  setProperties(props: number): boolean {
    return this.x.lzma_props(props) === 1;
  }

  resetState(): void {
    this.x.lzma_reset_state();
  }

  start(input: Uint8Array, start: number, end: number): boolean {
    if (end - start > this.inputBytes) return false;
    this.input.set(input.subarray(start, end));
    return this.x.lzma_rc_start(end - start) === 1;
  }

  decode(limit: number): boolean {
    const r = this.x.lzma_decode(limit);
    if (r === 0) return true;
    this.error = ERRORS[r] ?? "LZMA data is corrupt";
    return false;
  }

  finished(): boolean {
    return this.x.lzma_finished() === 1;
  }

  release(): void {
    this.buf = new Uint8Array(0);
    pool.give(this, this.memoryBytes);
  }
}
