/**
 * A WebAssembly module embedded as base64 (scripts/build-wasm.mjs), compiled once, on first
 * need, for the codecs that decode with one.
 */
import { decodeBase64 } from "../format/base64.js";

export class EmbeddedWasm {
  private compiled: Promise<WebAssembly.Module | undefined> | undefined;
  /** The compiled module, once {@link EmbeddedWasm.ready} has resolved true. */
  module: WebAssembly.Module | undefined;

  constructor(private readonly base64: string) {}

  /**
   * Compile the module once; true when instances can be made. Never throws: a refusal (no
   * WebAssembly, a CSP without 'wasm-unsafe-eval') resolves false, leaving the codec's
   * TypeScript decoder in charge.
   */
  ready(): Promise<boolean> {
    if (!this.compiled) {
      this.compiled = (async () => {
        try {
          if (typeof WebAssembly !== "object") return undefined;
          const bytes = decodeBase64(this.base64, 0, this.base64.length);
          this.module = await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
          return this.module;
        } catch {
          return undefined;
        }
      })();
    }
    return this.compiled.then((m) => m !== undefined);
  }
}
