/**
 * One bzip2 block: its header (CRC, origin pointer, byte map, selectors, Huffman tables), then
 * its symbols into the block array (bzip2-symbols.ts) and the walk that hands the decoded bytes
 * out in bounded pieces (bzip2-bwt.ts). The arrays are made once per stream and reused by each
 * of its blocks.
 */
import { BlockWalk } from "./bzip2-bwt.js";
import {
  type BitReader,
  HuffmanTables,
  MAX_ALPHA,
  MAX_CODE_LEN,
  MAX_GROUPS,
} from "./bzip2-huffman.js";
import { SymbolState } from "./bzip2-symbols.js";

export type { BitReader } from "./bzip2-huffman.js";

/** Working memory of the tables: selectors, code lengths, decoding tables, move-to-front list. */
export const TABLES_BYTES = 128 * 1024;
/** Working memory of the block array per block size step (4 bytes x 100k). */
export const BLOCK_BYTES_PER_LEVEL = 400_000;

/** Decodes the blocks of one stream, one at a time, in a block array sized by its level. */
export class Block {
  /** Set from the header until the walk has handed out every byte. */
  active = false;
  /** The CRC the block header states. */
  storedCrc = 0;
  private tt: Uint32Array;
  private readonly blockMax: number;
  private readonly huff = new HuffmanTables();
  private readonly st = new SymbolState();
  private readonly walk = new BlockWalk();
  private readonly used = new Uint8Array(256);
  private readonly order = new Uint8Array(MAX_GROUPS);
  private readonly byteCount = new Int32Array(256);

  /** A block decoder for block size digit `level` (1-9): 100k x level symbols at most. */
  constructor(readonly level: number) {
    this.blockMax = 100_000 * level;
    this.tt = new Uint32Array(this.blockMax);
  }

  /** Drop the block array (the cursor has released its memory). */
  free(): void {
    this.tt = new Uint32Array(0);
    this.active = false;
  }

  /** Decode one block's header and symbols (after its magic), then prepare the walk. */
  async read(r: BitReader): Promise<void> {
    const { used, order, huff, st } = this;
    const { selectors } = st;
    const { lengths } = huff;
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
      if (!huff.build(g, alpha)) r.fail("DECODE_CORRUPT", "bzip2 Huffman table is oversubscribed");
    }
    st.start(used, nUsed, nSel, this.blockMax);
    const { tt, byteCount } = this;
    byteCount.fill(0);
    while (!st.decode(r, huff, tt, byteCount)) await r.refill();
    const { nblock } = st;
    // E26: an origin pointer past the block's end.
    if (origPtr >= nblock) r.fail("DECODE_CORRUPT", "bzip2 block origin pointer out of range");
    this.walk.start(tt, nblock, byteCount, origPtr);
    this.active = true;
  }

  /** Hand out up to `cap` (>= 1) decoded bytes into `out`; 0 once the block is done. */
  emit(out: Uint8Array, cap: number): number {
    return this.walk.finished ? 0 : this.walk.emit(this.tt, out, cap);
  }

  /** The CRC of the bytes the walk handed out (compare with {@link Block.storedCrc}). */
  get computedCrc(): number {
    return this.walk.computedCrc;
  }
}
