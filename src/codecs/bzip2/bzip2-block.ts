/**
 * One bzip2 block: its header (CRC, origin pointer, byte map, selectors, Huffman tables), then
 * its symbols into the block array and the walk that hands the decoded bytes out in bounded
 * pieces, both done by an engine (bzip2-engine.ts: WebAssembly where it runs, else the
 * TypeScript stages of bzip2-symbols.ts and bzip2-bwt.ts). The engine is taken once per stream
 * and reused by each of its blocks.
 */
import { type Bzip2Engine, jsBzip2Engine } from "./bzip2-engine.js";
import { type BitReader, MAX_ALPHA, MAX_CODE_LEN, MAX_GROUPS } from "./bzip2-huffman.js";
import { wasmBzip2Engine } from "./wasm/bzip2-wasm.js";

export type { BitReader } from "./bzip2-huffman.js";

/** Working memory of the tables: selectors, code lengths, decoding tables, move-to-front list. */
export const TABLES_BYTES = 128 * 1024;
/**
 * Working memory of the block array per block size step: 4 bytes x 100k, and 1 byte x 100k for
 * the text the WebAssembly walk unscrambles (acquired for either engine, so a budget decides
 * alike for both).
 */
export const BLOCK_BYTES_PER_LEVEL = 500_000;

/** Decodes the blocks of one stream, one at a time, in a block array sized by its level. */
export class Block {
  /** Set from the header until the walk has handed out every byte. */
  active = false;
  /** The CRC the block header states. */
  storedCrc = 0;
  private readonly used = new Uint8Array(256);
  private readonly order = new Uint8Array(MAX_GROUPS);

  private constructor(
    readonly level: number,
    private readonly engine: Bzip2Engine,
  ) {}

  /**
   * A block decoder for block size digit `level` (1-9): 100k x level symbols at most. The
   * caller has acquired the block array's memory.
   */
  static async make(level: number): Promise<Block> {
    const blockMax = 100_000 * level;
    const engine = (await wasmBzip2Engine(blockMax)) ?? jsBzip2Engine(blockMax);
    return new Block(level, engine);
  }

  /** Give the engine back (the cursor has released its memory). */
  free(): void {
    this.engine.release();
    this.active = false;
  }

  /** Decode one block's header and symbols (after its magic), then prepare the walk. */
  async read(r: BitReader): Promise<void> {
    const { used, order, engine } = this;
    const { selectors, lengths } = engine;
    this.storedCrc = ((r.bits(16) << 16) | r.bits(16)) >>> 0;
    if (r.bits(1))
      r.fail("DECODE_CORRUPT", "randomised bzip2 blocks (pre-0.9.5) are not supported");
    const origPtr = r.bits(24);
    const map = r.bits(16);
    let nUsed = 0;
    for (let i = 0; i < 16; i++) {
      if (!(map & (0x8000 >>> i))) continue;
      const m = r.bits(16);
      for (let j = 0; j < 16; j++) if (m & (0x8000 >>> j)) used[nUsed++] = i * 16 + j;
    }
    if (nUsed === 0) r.fail("DECODE_CORRUPT", "bzip2 block uses no byte values");
    const alpha = nUsed + 2;
    const nGroups = r.bits(3);
    if (nGroups < 2 || nGroups > MAX_GROUPS) r.fail("DECODE_CORRUPT", "bad bzip2 table count");
    // E26: a selector count of 0 is corrupt; up to 2^15-1 are read (bzip2 writes <= 18002).
    const nSel = r.bits(15);
    if (nSel === 0) r.fail("DECODE_CORRUPT", "bzip2 block has no selectors");
    for (let g = 0; g < MAX_GROUPS; g++) order[g] = g;
    for (let s = 0; s < nSel; s++) {
      let j = 0;
      // E26: a selector naming a table past the block's table count.
      while (r.bits(1)) if (++j >= nGroups) r.fail("DECODE_CORRUPT", "bad bzip2 selector");
      const g = order[j];
      for (; j > 0; j--) order[j] = order[j - 1];
      order[0] = g;
      selectors[s] = g;
    }
    for (let g = 0; g < nGroups; g++) {
      let len = r.bits(5);
      for (let s = 0; s < alpha; s++) {
        for (;;) {
          // E26: code lengths outside 1-20.
          if (len < 1 || len > MAX_CODE_LEN) r.fail("DECODE_CORRUPT", "bad bzip2 code length");
          if (r.pos > r.refillAt) await r.refill();
          if (!r.bits(1)) break;
          len += r.bits(1) ? -1 : 1;
        }
        lengths[g * MAX_ALPHA + s] = len;
      }
      // E26: more codes than a length allows; no encoder writes such a table.
      if (!engine.build(g, alpha))
        r.fail("DECODE_CORRUPT", "bzip2 Huffman table is oversubscribed");
    }
    engine.start(used, nUsed, nSel);
    while (!engine.decode(r)) await r.refill();
    // E26: an origin pointer past the block's end.
    if (origPtr >= engine.nblock) {
      r.fail("DECODE_CORRUPT", "bzip2 block origin pointer out of range");
    }
    engine.link(origPtr);
    this.active = true;
  }

  /**
   * Hand out up to `cap` (1 to 64 KiB) decoded bytes: a piece of `out` or of the engine's
   * memory, valid until the next call; empty once the block is done.
   */
  emit(out: Uint8Array, cap: number): Uint8Array {
    return this.engine.emit(out, cap);
  }

  /** The CRC of the bytes the walk handed out (compare with {@link Block.storedCrc}). */
  get computedCrc(): number {
    return this.engine.computedCrc;
  }
}
