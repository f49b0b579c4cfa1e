/**
 * What a bzip2 block needs once its header is read: the symbol stage (Huffman codes, run
 * lengths, move-to-front list, into the block array) and the walk that hands the decoded bytes
 * out. The TypeScript stages here ({@link jsBzip2Engine}), or the WebAssembly build of the same
 * stages (wasm/bzip2-wasm.ts), which is used wherever WebAssembly may run.
 */
import { BlockWalk } from "./bzip2-bwt.js";
import { type BitReader, HuffmanTables } from "./bzip2-huffman.js";
import { SymbolState } from "./bzip2-symbols.js";

/** The symbol and output stages of one stream's blocks, for a block array of a fixed size. */
export interface Bzip2Engine {
  /** Table number of each group of 50 symbols, as the block header states them. */
  readonly selectors: Uint8Array;
  /** Code length of each symbol, per group (MAX_ALPHA entries each), from the block header. */
  readonly lengths: Uint8Array;
  /** Build group `g`'s code tables from its `alpha` lengths; false when oversubscribed. */
  build(g: number, alpha: number): boolean;
  /** Start a block whose used byte values, in order, are `used[0..nUsed)`. */
  start(used: Uint8Array, nUsed: number, nSel: number): void;
  /**
   * Decode symbols from `r` into the block array. Returns true at the end-of-block symbol,
   * false when the input window needs a refill; raises the block's decode errors through `r`.
   */
  decode(r: BitReader): boolean;
  /** Entries of the block array the symbols filled. */
  readonly nblock: number;
  /** Link the block array and start the walk at entry `origPtr` (< nblock). */
  link(origPtr: number): void;
  /**
   * Hand out up to `cap` (1 to 64 KiB) decoded bytes: a piece of `out`, or a view of the
   * engine's own memory, valid until the next call. Empty once the block is done.
   */
  emit(out: Uint8Array, cap: number): Uint8Array;
  /** The CRC of the bytes handed out (the block CRC once the block is done). */
  readonly computedCrc: number;
  /** Give the engine back: it may be reused by the next stream that needs one. */
  release(): void;
}

const EMPTY = new Uint8Array(0);

/** The TypeScript stages, for blocks of up to `blockMax` entries. */
export function jsBzip2Engine(blockMax: number): Bzip2Engine {
  const huff = new HuffmanTables();
  const st = new SymbolState();
  const walk = new BlockWalk();
  const byteCount = new Int32Array(256);
  let tt = new Uint32Array(blockMax);
  return {
    selectors: st.selectors,
    lengths: huff.lengths,
    build: (g, alpha) => huff.build(g, alpha),
    start(used, nUsed, nSel) {
      st.start(used, nUsed, nSel, blockMax);
      byteCount.fill(0);
    },
    decode: (r) => st.decode(r, huff, tt, byteCount),
    get nblock() {
      return st.nblock;
    },
    link: (origPtr) => walk.start(tt, st.nblock, byteCount, origPtr),
    emit(out, cap) {
      return walk.finished ? EMPTY : out.subarray(0, walk.emit(tt, out, cap));
    },
    get computedCrc() {
      return walk.computedCrc;
    },
    release() {
      tt = new Uint32Array(0);
    },
  };
}
