/**
 * LZMA2: the chunked wrapper around LZMA that an XZ block's filter decodes. Each LZMA2 chunk
 * is a control byte and sizes, then either up to 64 KiB stored bytes or up to 64 KiB of LZMA
 * data decoding to at most 2 MiB; a zero control byte ends the stream.
 *
 * The dictionary is the only allocation sized by the file: it is acquired from the
 * working-memory budget before it is allocated (E29), and never larger than the chunk's
 * declared size plus one byte, since no match can reach further back than that.
 */
import { type DecodeContext, decodeError } from "../codec.js";
import { jsLzmaEngine, type LzmaEngine, type LzmaWindow } from "./lzma-engine.js";
import { LZMA_WASM_FIXED, wasmLzmaEngine } from "./wasm/lzma-wasm.js";
import type { XzInput } from "./xz-input.js";

/** Control byte values and bits. */
const CONTROL_END = 0x00;
const CONTROL_COPY_RESET_DICT = 0x01;
const CONTROL_COPY = 0x02;
const CONTROL_LZMA = 0x80;
const LZMA_RESET_STATE = 0xa0;
const LZMA_NEW_PROPS = 0xc0;
const LZMA_RESET_DICT = 0xe0;
/** Smallest dictionary buffer, so output pieces stay large even for tiny dictionaries. */
const MIN_BUFFER = 64 * 1024;

enum Phase {
  Control,
  Copy,
  Lzma,
  End,
}

export class Lzma2Decoder {
  private lzma: LzmaEngine | undefined;
  /** Working memory held by the dictionary buffer. */
  private held = 0;
  private dictSize = 0;
  private phase = Phase.End;
  /** Decoded bytes left in the current LZMA2 chunk. */
  private unpacked = 0;
  /** Window index where the current LZMA chunk's compressed bytes end. */
  private packedEnd = 0;
  private needDictReset = true;
  private needProps = true;
  /** Where in `buffer` the bytes of the last {@link read} start. */
  start = 0;

  constructor(
    private readonly ctx: DecodeContext,
    private readonly input: XzInput,
  ) {}

  /** The dictionary buffer the bytes of each {@link read} are in. */
  get buffer(): Uint8Array {
    return this.lzma?.window.buf ?? new Uint8Array(0);
  }

  /**
   * Start a new LZMA2 stream (one XZ block) with a dictionary of `dictSize` bytes, for a
   * chunk declaring `outputSize` bytes. Acquires the window from the budget before
   * allocating it (BUDGET_WORKING_MEMORY when over), or reuses one big enough.
   */
  async begin(dictSize: number, outputSize: number): Promise<void> {
    const wanted = Math.min(Math.max(dictSize, MIN_BUFFER), outputSize + 1);
    // A multiple of 16, so buffer positions keep the stream position's low bits (pb, lp <= 4).
    const bytes = Math.ceil(wanted / 16) * 16;
    if (!this.lzma || this.lzma.window.buf.length < bytes) {
      this.release();
      // Counted as the WebAssembly engine's cost (the larger), before either is made.
      const cost = bytes + LZMA_WASM_FIXED;
      this.ctx.memory.acquire(cost, `LZMA2 dictionary (${dictSize} bytes declared)`);
      this.held = cost;
      this.lzma = (await wasmLzmaEngine(bytes)) ?? jsLzmaEngine(bytes);
    }
    this.dictSize = dictSize;
    this.phase = Phase.Control;
    this.unpacked = 0;
    this.needDictReset = true;
    this.needProps = true;
  }

  /** Return the window's working memory, and the engine for reuse. */
  release(): void {
    if (this.held > 0) this.ctx.memory.release(this.held);
    this.held = 0;
    this.lzma?.release();
    this.lzma = undefined;
  }

  /**
   * Decode up to `cap` (>= 1) bytes into `buffer` from `start`; returns how many, 0 once the
   * LZMA2 stream has ended. Each call decodes at most one LZMA2 chunk's worth.
   */
  async read(cap: number): Promise<number> {
    const lzma = this.lzma;
    if (!lzma) return 0;
    const dict = lzma.window;
    while (this.unpacked === 0) {
      if (this.phase === Phase.End) return 0;
      await this.chunkHeader(lzma);
    }
    if (dict.pos === dict.buf.length) dict.pos = 0;
    const start = dict.pos;
    const limit = Math.min(start + cap, dict.buf.length, start + this.unpacked);
    const { input } = this;
    if (this.phase === Phase.Copy) {
      await input.need(1, "LZMA2 stored chunk");
      const n = Math.min(limit - start, input.end - input.pos);
      dict.buf.set(input.buf.subarray(input.pos, input.pos + n), start);
      input.pos += n;
      dict.pos = start + n;
      dict.grew(n);
    } else if (!lzma.decode(limit)) {
      this.corrupt(lzma.error ?? "LZMA data is corrupt");
    }
    const n = dict.pos - start;
    this.unpacked -= n;
    if (this.unpacked === 0 && this.phase === Phase.Lzma) {
      // The chunk's compressed size must be used exactly, ending on a flushed range coder,
      // with no match running on into the next chunk.
      if (!lzma.finished()) this.corrupt("LZMA2 chunk does not end where its sizes say");
      input.pos = this.packedEnd;
    }
    if (this.unpacked === 0) this.phase = Phase.Control;
    this.start = start;
    return n;
  }

  /** Read a control byte and what follows it, up to the start of the chunk's data. */
  private async chunkHeader(lzma: LzmaEngine): Promise<void> {
    const { input } = this;
    const dict: LzmaWindow = lzma.window;
    await input.need(1, "LZMA2 chunk header");
    const control = input.byte();
    if (control === CONTROL_END) {
      this.phase = Phase.End;
      return;
    }
    if (control >= LZMA_RESET_DICT || control === CONTROL_COPY_RESET_DICT) {
      dict.reset(this.dictSize);
      this.needDictReset = false;
      this.needProps = true;
    } else if (this.needDictReset) {
      this.corrupt("first LZMA2 chunk does not reset the dictionary");
    }
    if (control < CONTROL_LZMA) {
      if (control > CONTROL_COPY)
        this.corrupt(`invalid LZMA2 control byte 0x${control.toString(16)}`);
      await input.need(2, "LZMA2 chunk header");
      this.unpacked = ((input.byte() << 8) | input.byte()) + 1;
      this.phase = Phase.Copy;
      return;
    }
    const hasProps = control >= LZMA_NEW_PROPS;
    await input.need(hasProps ? 5 : 4, "LZMA2 chunk header");
    const unpacked = (control & 0x1f) * 65536 + ((input.byte() << 8) | input.byte()) + 1;
    const packed = ((input.byte() << 8) | input.byte()) + 1;
    if (hasProps) {
      if (!lzma.setProperties(input.byte())) this.corrupt("invalid LZMA properties in LZMA2 chunk");
      this.needProps = false;
    } else if (this.needProps) {
      this.corrupt("LZMA2 chunk lacks the properties it needs after a dictionary reset");
    }
    if (control >= LZMA_RESET_STATE) lzma.resetState();
    await input.need(packed, "LZMA2 chunk data");
    if (!lzma.start(input.buf, input.pos, input.pos + packed)) {
      this.corrupt("LZMA2 chunk has an invalid range coder header");
    }
    this.packedEnd = input.pos + packed;
    this.unpacked = unpacked;
    this.phase = Phase.Lzma;
  }

  private corrupt(message: string): never {
    return decodeError(this.ctx, "DECODE_CORRUPT", message, this.input.fileOffset);
  }
}
