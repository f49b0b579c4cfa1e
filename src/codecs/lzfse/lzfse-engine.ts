/**
 * What the ULFO cursor needs from its block decoders: the output buffer (history and room)
 * and, per compressed block, a decoder writing into it. The TypeScript decoders
 * ({@link jsLzfseEngine}), or the WebAssembly build of the same decoders (wasm/lzfse-wasm.ts),
 * used wherever WebAssembly may run.
 */
import {
  type Fail,
  FseTables,
  LZFSE_LITERALS_PER_BLOCK,
  type LzfseBlockHeader,
} from "./lzfse-fse.js";
import { LzvnBlock, viewOf } from "./lzvn.js";

/** One compressed block being written out (see LzBlock in lzvn.ts). */
export interface OutBlock {
  /** Set once the block has ended at its declared size. */
  readonly done: boolean;
  /**
   * Decode into `out` (`view` is the same bytes) from `at`, stopping at `stop` or at the
   * block's end. `base + i` is the number of bytes the chunk has decoded when `out[i]` is
   * written. Returns the new position.
   */
  decode(out: Uint8Array, view: DataView, at: number, stop: number, base: number): number;
}

/** Makes an LZFSE block decoder; the TypeScript one is LzfseBlock in lzfse.ts. */
export type LzfseBlockMaker = (
  h: LzfseBlockHeader,
  payload: Uint8Array,
  literals: Uint8Array,
  tables: FseTables,
  fail: Fail,
  payloadAt: number,
) => OutBlock;

export interface LzfseEngine {
  /**
   * The output buffer. Starting a block may replace it (its bytes kept), so the cursor reads
   * it again after each block start; between two starts it stays the same.
   */
  readonly out: Uint8Array;
  readonly view: DataView;
  /** A `bvxn` block of `payload` declaring `nRaw` bytes; `at` is its payload's file offset. */
  lzvn(payload: Uint8Array, nRaw: number, fail: Fail, at: number): OutBlock;
  /** A `bvx1` / `bvx2` block whose header passed checkBlockHeader. */
  lzfse(h: LzfseBlockHeader, payload: Uint8Array, fail: Fail, at: number): OutBlock;
  /**
   * Give the engine back. `reuse`: no view of its output is in use any more (the cursor has
   * ended or failed), so another cursor may take it.
   */
  release(reuse: boolean): void;
}

/** The TypeScript decoders over an output buffer of `bytes` bytes. */
export function jsLzfseEngine(bytes: number, makeLzfse: LzfseBlockMaker): LzfseEngine {
  const out = new Uint8Array(bytes);
  let literals: Uint8Array | undefined;
  let tables: FseTables | undefined;
  return {
    out,
    view: viewOf(out),
    lzvn: (payload, nRaw, fail, at) => new LzvnBlock(payload, nRaw, fail, at),
    lzfse: (h, payload, fail, at) => {
      // Made at the first LZFSE block, whose memory the cursor has acquired.
      literals ??= new Uint8Array(LZFSE_LITERALS_PER_BLOCK);
      tables ??= new FseTables();
      return makeLzfse(h, payload, literals, tables, fail, at);
    },
    release: () => {},
  };
}
