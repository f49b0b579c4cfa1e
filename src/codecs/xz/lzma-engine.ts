/**
 * What the LZMA2 layer needs from an LZMA decoder and its window: the TypeScript decoder here
 * ({@link jsLzmaEngine}), or the WebAssembly build of the same decoder (lzma-wasm.ts), which
 * is about twice as fast and is used wherever WebAssembly may run.
 */
import { Dictionary, LzmaDecoder } from "./lzma-decoder.js";

/** The sliding window as the LZMA2 layer sees it. */
export interface LzmaWindow {
  /** The window's bytes: where decoded output is read from and stored chunks copied to. */
  readonly buf: Uint8Array;
  /** Where the next byte goes. */
  pos: number;
  /** Forget all history (a dictionary reset); matches may reach `dictSize` back. */
  reset(dictSize: number): void;
  /** Account `n` bytes just written at `pos` by the caller (a stored chunk). */
  grew(n: number): void;
}

/** An LZMA decoder bound to its window, reusable across the LZMA2 chunks of one block. */
export interface LzmaEngine {
  readonly window: LzmaWindow;
  /** Set lc, lp and pb from an LZMA2 properties byte; false when invalid. */
  setProperties(props: number): boolean;
  /** Every probability to one half, state and distances to zero. */
  resetState(): void;
  /** Start the range coder on `input[start, end)` (at most 64 KiB); false when invalid. */
  start(input: Uint8Array, start: number, end: number): boolean;
  /** Decode until the window position reaches `limit`; false with {@link error} on corruption. */
  decode(limit: number): boolean;
  /** True when the chunk's compressed bytes were used exactly and nothing is left running. */
  finished(): boolean;
  /** Why {@link decode} last failed. */
  readonly error: string | undefined;
  /** Give the engine back: it may be reused by the next decoder that needs one. */
  release(): void;
}

/** The TypeScript decoder over a window of `bytes` bytes. */
export function jsLzmaEngine(bytes: number): LzmaEngine {
  const window = new Dictionary(new Uint8Array(bytes));
  const lzma = new LzmaDecoder();
  return {
    window,
    setProperties: (props) => lzma.setProperties(props),
    resetState: () => lzma.resetState(),
    start: (input, start, end) => lzma.rc.start(input, start, end),
    decode: (limit) => lzma.decode(window, limit),
    finished: () => lzma.finished(),
    get error() {
      return lzma.error;
    },
    release: () => {},
  };
}
