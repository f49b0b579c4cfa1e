/**
 * The WebAssembly build of the LZMA decoder (lzma.c) behind the {@link LzmaEngine} interface.
 *
 * Each engine is one instance with its own linear memory: the C side's state block, model and
 * input area, then the window, for which the memory is grown before first use. A memory never
 * shrinks, so an engine is pooled on release for the next block only while its memory is
 * small; a bigger one is dropped and left to the collector. The caller acquires the window's
 * bytes from the working-memory budget before asking for an engine, as for the TypeScript one.
 *
 * Where WebAssembly is missing or refused (a page whose CSP lacks 'wasm-unsafe-eval', say),
 * {@link lzmaWasmReady} resolves false and the TypeScript decoder is used instead.
 */
import { EmbeddedWasm } from "../../wasm-module.js";
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
/** Engines whose memory is at most this are kept for reuse; at most POOL_MAX of them. */
const POOL_MEMORY_MAX = 4 * 1024 * 1024;
const POOL_MAX = 2;

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

const wasm = new EmbeddedWasm(LZMA_WASM);
/** "auto": WebAssembly where it runs; "js": the TypeScript decoder always (tests, benches). */
let mode: "auto" | "js" = "auto";
const pool: WasmEngine[] = [];

/**
 * Choose the LZMA decoder: "auto" (the default) uses WebAssembly where it runs, "js" always
 * the TypeScript decoder. For differential tests and benchmarks.
 * @internal
 */
export function setLzmaEngineMode(m: "auto" | "js"): void {
  mode = m;
}

/**
 * Compile the module once; true when WebAssembly engines can be made. Never throws: a refusal
 * (no WebAssembly, a CSP without 'wasm-unsafe-eval') leaves the TypeScript decoder in charge.
 */
export function lzmaWasmReady(): Promise<boolean> {
  if (mode === "js") return Promise.resolve(false);
  return wasm.ready();
}

/**
 * A WebAssembly engine with a window of `bytes` bytes (a multiple of 16), or undefined when
 * {@link lzmaWasmReady} has not resolved true or the memory cannot grow.
 */
export function wasmLzmaEngine(bytes: number): LzmaEngine | undefined {
  const { module } = wasm;
  if (mode === "js" || !module) return undefined;
  for (let k = 0; k < pool.length; k++) {
    const e = pool[k];
    if (e.fits(bytes)) {
      pool.splice(k, 1);
      e.use(bytes);
      return e;
    }
  }
  try {
    const instance = new WebAssembly.Instance(module, {});
    const e = new WasmEngine(instance.exports as unknown as Exports);
    if (!e.fits(bytes)) e.grow(bytes);
    e.use(bytes);
    return e;
  } catch {
    // Out of address space for another memory: the TypeScript decoder does the same job.
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
    if (this.x.memory.buffer.byteLength <= POOL_MEMORY_MAX && pool.length < POOL_MAX) {
      pool.push(this);
    }
  }
}
