/**
 * The WebAssembly builds of the decoders' hot loops: each is embedded as base64 (no file to
 * fetch, the same from npm, a bundler or the web page), compiled once on first use, and
 * instantiated asynchronously (browsers refuse synchronous instantiation of modules over 4 KB
 * on a page's main thread). Where WebAssembly is missing or refused (a CSP without
 * 'wasm-unsafe-eval'), nothing throws: the codecs use the TypeScript decoders the C was
 * written from.
 */
import { decodeBase64 } from "../../format/base64.js";

/** "auto": WebAssembly where it runs; "js": the TypeScript decoders always. */
export type WasmMode = "auto" | "js";

let mode: WasmMode = "auto";

/**
 * Choose the decoders for every codec with a WebAssembly build: "auto" (the default) uses
 * WebAssembly where it runs, "js" the TypeScript decoders. For differential tests, fuzz
 * targets and benchmarks.
 * @internal
 */
export function setWasmMode(m: WasmMode): void {
  mode = m;
}

/** False while the TypeScript decoders are asked for: no engine, new or pooled, is handed out. */
export function wasmEnabled(): boolean {
  return mode === "auto";
}

/** An embedded module: instances on demand, none while the mode is "js" or when refused. */
export interface EmbeddedWasm {
  /** True when instances can be made: WebAssembly is to be used, and the module compiled. */
  ready(): Promise<boolean>;
  /** A new instance, or undefined when WebAssembly is not to be used or cannot be. */
  instantiate(): Promise<WebAssembly.Instance | undefined>;
}

/** The module whose bytes are `base64`, compiled on the first {@link EmbeddedWasm.instantiate}. */
export function embeddedWasm(base64: string): EmbeddedWasm {
  let compiled: Promise<WebAssembly.Module | undefined> | undefined;
  const compile = async () => {
    try {
      if (typeof WebAssembly !== "object") return undefined;
      const bytes = decodeBase64(base64, 0, base64.length) as Uint8Array<ArrayBuffer>;
      return await WebAssembly.compile(bytes);
    } catch {
      return undefined;
    }
  };
  return {
    async ready() {
      if (!wasmEnabled()) return false;
      compiled ??= compile();
      return (await compiled) !== undefined;
    },
    async instantiate() {
      if (!wasmEnabled()) return undefined;
      compiled ??= compile();
      const module = await compiled;
      if (!module) return undefined;
      try {
        return await WebAssembly.instantiate(module, {});
      } catch {
        // Out of address space for another memory: the TypeScript decoder does the same job.
        return undefined;
      }
    },
  };
}

/** The idle engines of one module, kept for the next stream (see {@link enginePool}). */
export interface EnginePool<E> {
  /** An idle engine `accept` takes, out of the pool; undefined when none does. */
  take(accept: (e: E) => boolean): E | undefined;
  /** Keep `e`, whose memory is `memoryBytes`, when it is small enough and there is room. */
  give(e: E, memoryBytes: number): void;
}

/**
 * A pool of idle engines: instantiating costs more than a small chunk's decoding, but a
 * WebAssembly memory never shrinks, so only engines whose memory is at most `memoryMax` bytes
 * are kept, at most `max` of them (idle engines are outside every budget). Each codec's `take`
 * accepts only an engine whose memory its caller's budget pays for.
 */
export function enginePool<E>(memoryMax: number, max = 2): EnginePool<E> {
  const idle: E[] = [];
  return {
    take(accept) {
      const k = idle.findIndex(accept);
      return k < 0 ? undefined : idle.splice(k, 1)[0];
    },
    give(e, memoryBytes) {
      if (memoryBytes <= memoryMax && idle.length < max) idle.push(e);
    },
  };
}
