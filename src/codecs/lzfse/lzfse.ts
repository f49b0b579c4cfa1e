/**
 * ULFO chunks: one LZFSE stream per chunk, a run of blocks each opened by a 4-byte magic:
 * `bvx-` (stored bytes), `bvxn` (LZVN), `bvx1` / `bvx2` (LZFSE: FSE-coded literals and
 * L, M, D triples) and `bvx$` (end of stream). Matches reach back across blocks, so the cursor
 * keeps the last 256 KiB of output (more than the largest distance) plus room for output;
 * a compressed block's payload (under 2 MiB, checked) is read whole, a stored block streamed.
 * Headers and stored blocks are handled here; compressed blocks are decoded by the WebAssembly
 * build of the block decoders where it runs (wasm/lzfse-wasm.ts), else by the TypeScript ones
 * below and in lzvn.ts, which the tests and the fuzz target compare it with.
 */

import type { DmgError } from "../../core/errors.js";
import { ULFO } from "../../format/types.js";
import { readExact } from "../../sources/source.js";
import {
  type ChunkCursor,
  type Codec,
  type DecodeContext,
  decodeError,
  guardedNext,
} from "../codec.js";
import { INPUT_PIECE } from "../input.js";
import { jsLzfseEngine, type LzfseEngine, type OutBlock } from "./lzfse-engine.js";
import {
  type BitState,
  backwardBits,
  checkBlockHeader,
  type Fail,
  FSE_DELTA_SHIFT,
  FSE_EXTRA_SHIFT,
  FSE_TOTAL_MASK,
  type FseTables,
  type LzfseBlockHeader,
  lmdBits,
  parseV1Header,
  parseV2Header,
  V1_HEADER_SIZE,
  V2_FIXED_SIZE,
  V2_MAX_HEADER_SIZE,
  v2HeaderSize,
} from "./lzfse-fse.js";
import {
  LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV1_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV2_BLOCK_MAGIC,
  LZFSE_ENDOFSTREAM_BLOCK_MAGIC,
  LZFSE_UNCOMPRESSED_BLOCK_MAGIC,
} from "./lzfse-magic.js";
import { copyBytes, copyMatch, LzBlock } from "./lzvn.js";
import { LZFSE_WASM_ROOM, wasmLzfseEngine } from "./wasm/lzfse-wasm.js";

export {
  LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV1_BLOCK_MAGIC,
  LZFSE_COMPRESSEDV2_BLOCK_MAGIC,
  LZFSE_ENDOFSTREAM_BLOCK_MAGIC,
  LZFSE_UNCOMPRESSED_BLOCK_MAGIC,
};

/** Output kept for matches: at least the largest distance (LZFSE 262139, LZVN 65535). */
const HISTORY = 256 * 1024;
/** Most decoded bytes handed out by one call. */
const OUT_PIECE = 64 * 1024;
/**
 * Room for output after the history: the history slides back once per this many bytes
 * decoded, so moving it costs one byte copied per byte out, not four as with one piece.
 */
const OUT_ROOM = 4 * OUT_PIECE;
/**
 * Compressed bytes read from the source at a time, for reads smaller than this: one spare input
 * buffer of the image's (a buffer per cursor left megabytes of dead ones resident).
 */
const READ_AHEAD = INPUT_PIECE;
/** An LZFSE block's literal buffer and decoding tables, rounded up. */
const LZFSE_STATE = 64 * 1024;
/** The largest literal or L, M, D payload a `bvx2` header's 20-bit fields can declare. */
const MAX_STREAM_PAYLOAD = 2 ** 20 - 1;

const EMPTY = new Uint8Array(0);

const u32 = (b: Uint8Array, at = 0) =>
  (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

/**
 * One `bvx1` / `bvx2` block: its literals decoded up front into `input`, then its L, M, D
 * triples decoded and written out as output is asked for.
 *
 * The bit readers are inlined (the state in locals, refilled to at least 24 bits, the most one
 * value takes, while bytes last): a read of `n` bits with fewer left fails (E28).
 */
export class LzfseBlock extends LzBlock {
  private readonly nLiterals: number;
  private matches: number;
  /** L, M, D decoder states and the L, M, D stream's bit reader. */
  private lState: number;
  private mState: number;
  private dState: number;
  private readonly bits: BitState;
  private readonly lmdStart: number;

  constructor(
    private readonly h: LzfseBlockHeader,
    private readonly payload: Uint8Array,
    literals: Uint8Array,
    private readonly tables: FseTables,
    private readonly fail: Fail,
    private readonly payloadAt: number,
  ) {
    super(literals);
    // No distance yet: a first D of 0 ("the previous one") is refused.
    this.distance = -1;
    tables.build(h);
    const litEnd = h.n_literal_payload_bytes;
    const lits = backwardBits(payload, 0, litEnd, h.literal_bits, fail, payloadAt);
    // Four interleaved streams; the count is rounded up to whole groups of four.
    this.nLiterals = (h.n_literals + 3) & ~3;
    this.decodeLiterals(literals, lits);
    this.lmdStart = litEnd;
    this.bits = lmdBits(h, payload, fail, payloadAt);
    this.lState = h.l_state;
    this.mState = h.m_state;
    this.dState = h.d_state;
    this.matches = h.n_matches;
  }

  /**
   * The literal streams, in turn: streams 0-3 give literals 0-3, 4-7, ... Two literals at a
   * time: a literal reads at most 10 bits, so one top-up to 24 bits (while bytes last) serves
   * both, and a read that finds too few bits has no bytes left to read (E28).
   */
  private decodeLiterals(literals: Uint8Array, bits: BitState): void {
    const { code } = this.tables.literal;
    const { payload, nLiterals } = this;
    let { accum, nbits, pos } = bits;
    // s0, s1 are the states of the streams the next two literals come from; s2, s3 the others.
    let [s0, s1, s2, s3] = this.h.literal_state;
    // A Uint8Array store keeps the low 8 bits of the code shifted down: the literal byte.
    for (let i = 0; i < nLiterals; i += 2) {
      if (nbits < 20) {
        while (nbits < 24 && pos > 0) {
          accum = (accum << 8) | payload[--pos];
          nbits += 8;
        }
      }
      const e0 = code[s0];
      const n0 = e0 & FSE_TOTAL_MASK;
      if (nbits < n0) this.fail("LZFSE bit stream runs out of bits", this.payloadAt);
      literals[i] = e0 >>> FSE_EXTRA_SHIFT;
      nbits -= n0;
      const next0 = (e0 >>> FSE_DELTA_SHIFT) + (accum >>> nbits);
      accum &= (1 << nbits) - 1;
      const e1 = code[s1];
      const n1 = e1 & FSE_TOTAL_MASK;
      if (nbits < n1) this.fail("LZFSE bit stream runs out of bits", this.payloadAt);
      literals[i + 1] = e1 >>> FSE_EXTRA_SHIFT;
      nbits -= n1;
      const next1 = (e1 >>> FSE_DELTA_SHIFT) + (accum >>> nbits);
      accum &= (1 << nbits) - 1;
      s0 = s2;
      s1 = s3;
      s2 = next0;
      s3 = next1;
    }
  }

  /**
   * Decode L, M, D triples, check each (E28) and write it out while it fits before `stop`;
   * at the last one's end, check the block's size.
   */
  decode(out: Uint8Array, view: DataView, at: number, stop: number, base: number): number {
    let p = at;
    if (this.pending) {
      p = this.drain(out, view, p, stop);
      if (this.pending) return p;
    }
    if (this.done) return p;
    const { tables, payload, fail, h, input: literals, nLiterals, lmdStart } = this;
    const { code: lCode, base: lBase } = tables.l;
    const { code: mCode, base: mBase } = tables.m;
    const { code: dCode, base: dBase } = tables.d;
    const nRaw = h.n_raw_bytes;
    let { accum, nbits, pos } = this.bits;
    let ls = this.lState;
    let ms = this.mState;
    let ds = this.dState;
    let ip = this.ip;
    let d = this.distance;
    let produced = this.produced;
    let matches = this.matches;
    while (matches > 0) {
      // L, M, then D, each read by the same lines, written out three times on purpose: a
      // shared helper would have to hand back the reader's three locals on every value.
      const le = lCode[ls];
      let n = le & FSE_TOTAL_MASK;
      if (nbits < n) {
        while (nbits < 24 && pos > lmdStart) {
          accum = (accum << 8) | payload[--pos];
          nbits += 8;
        }
        if (nbits < n) this.outOfBits();
      }
      nbits -= n;
      let v = accum >>> nbits;
      accum &= (1 << nbits) - 1;
      let extra = (le >>> FSE_EXTRA_SHIFT) & FSE_TOTAL_MASK;
      const l = lBase[ls] + (v & ((1 << extra) - 1));
      ls = (le >>> FSE_DELTA_SHIFT) + (v >>> extra);

      const me = mCode[ms];
      n = me & FSE_TOTAL_MASK;
      if (nbits < n) {
        while (nbits < 24 && pos > lmdStart) {
          accum = (accum << 8) | payload[--pos];
          nbits += 8;
        }
        if (nbits < n) this.outOfBits();
      }
      nbits -= n;
      v = accum >>> nbits;
      accum &= (1 << nbits) - 1;
      extra = (me >>> FSE_EXTRA_SHIFT) & FSE_TOTAL_MASK;
      const m = mBase[ms] + (v & ((1 << extra) - 1));
      ms = (me >>> FSE_DELTA_SHIFT) + (v >>> extra);

      const de = dCode[ds];
      n = de & FSE_TOTAL_MASK;
      if (nbits < n) {
        while (nbits < 24 && pos > lmdStart) {
          accum = (accum << 8) | payload[--pos];
          nbits += 8;
        }
        if (nbits < n) this.outOfBits();
      }
      nbits -= n;
      v = accum >>> nbits;
      accum &= (1 << nbits) - 1;
      extra = (de >>> FSE_EXTRA_SHIFT) & FSE_TOTAL_MASK;
      // D = 0: the previous distance.
      d = dBase[ds] + (v & ((1 << extra) - 1)) || d;
      ds = (de >>> FSE_DELTA_SHIFT) + (v >>> extra);
      matches--;

      // The literal runs so far have been copied out: `ip` counts the literals used.
      if (ip + l > nLiterals) {
        fail(`LZFSE block uses more than its ${h.n_literals} literals`);
      }
      // Checked even when M = 0, as the reference decoder does.
      if (d < 0 || d > base + p + l) {
        fail(`LZFSE match reaches ${d} bytes back with ${base + p + l} bytes decoded`);
      }
      if (produced + l + m > nRaw) {
        fail(`LZFSE block decodes past its declared ${nRaw} bytes`);
      }
      produced += l + m;
      if (p + l + m > stop) {
        // Does not fit: leave it pending and write what fits.
        this.literal = l;
        this.match = m;
        break;
      }
      copyBytes(out, view, p, literals, this.inputView, ip, l);
      ip += l;
      p += l;
      copyMatch(out, view, p, d, m);
      p += m;
    }
    this.bits.accum = accum;
    this.bits.nbits = nbits;
    this.bits.pos = pos;
    this.lState = ls;
    this.mState = ms;
    this.dState = ds;
    this.ip = ip;
    this.distance = d;
    this.produced = produced;
    this.matches = matches;
    if (this.pending) return this.drain(out, view, p, stop);
    if (produced !== nRaw) {
      fail(`LZFSE block ends after ${produced} of its declared ${nRaw} bytes`);
    }
    this.done = true;
    return p;
  }

  private outOfBits(): never {
    return this.fail("LZFSE bit stream runs out of bits", this.payloadAt + this.lmdStart);
  }
}

class LzfseCursor implements ChunkCursor {
  position = 0;
  held = 0;
  done = false;
  failure: DmgError | undefined;
  /**
   * The block decoders and their buffer: history (up to HISTORY bytes) then room for a few
   * output pieces. Made at the first step, once it is known whether WebAssembly runs.
   */
  private engine: LzfseEngine | undefined;
  private readonly history: number;
  private readonly bufBytes: number;
  private wpos = 0;
  /** Bytes decoded so far, including the piece being built. */
  private total = 0;
  /** Compressed bytes read so far. */
  private consumed = 0;
  /** File offset of the current block's magic, for errors. */
  private blockAt: number;
  /** Bytes of a stored block still to copy. */
  private rawLeft = 0;
  private block: OutBlock | null = null;
  private payloadHeld = 0;
  private lzfseHeld = false;
  private ended = false;
  private readonly fail: Fail;
  /** Compressed bytes read ahead, starting at chunk offset `aheadAt`. */
  private ahead: Uint8Array = EMPTY;
  private aheadAt = 0;
  private aheadBuf: Uint8Array | undefined;
  private readonly aheadBytes: number;
  private readonly engineRoom: number;

  constructor(readonly ctx: DecodeContext) {
    this.history = Math.min(HISTORY, ctx.outputSize);
    const piece = Math.min(OUT_PIECE, ctx.outputSize);
    const room = Math.min(OUT_ROOM, ctx.outputSize);
    // The window, a stored block's input piece, one block header and the bytes read ahead.
    this.aheadBytes = Math.min(READ_AHEAD, ctx.length);
    // And what a reused WebAssembly engine may hold beyond a new one (see lzfse-wasm.ts).
    this.engineRoom = Math.min(LZFSE_WASM_ROOM, ctx.length);
    const need = this.history + room + piece + V1_HEADER_SIZE + this.aheadBytes + this.engineRoom;
    ctx.memory.acquire(need, "LZFSE history, output and input buffers");
    this.held = need;
    this.bufBytes = this.history + room;
    this.blockAt = ctx.offset;
    this.fail = (message, at = this.blockAt) => decodeError(ctx, "DECODE_CORRUPT", message, at);
  }

  next(max: number): Promise<Uint8Array> {
    return guardedNext(this, "LZFSE", max, (n) => this.step(n));
  }

  private async step(max: number): Promise<Uint8Array> {
    this.engine ??= await lzfseEngine(this.bufBytes, this.engineRoom);
    const { engine } = this;
    let buf = engine.out;
    const want = Math.min(max, OUT_PIECE, this.ctx.outputSize - this.position);
    if (this.wpos + want > buf.length) {
      // Slide: keep only the history a match can still reach.
      buf.copyWithin(0, this.wpos - this.history, this.wpos);
      this.wpos = this.history;
    }
    const start = this.wpos;
    const stop = start + want;
    for (;;) {
      const from = this.wpos;
      if (this.rawLeft > 0) {
        if (from === stop) break;
        const n = Math.min(this.rawLeft, stop - from);
        buf.set(await this.read(n, "LZFSE stored block"), from);
        this.rawLeft -= n;
        this.wpos += n;
        this.total += n;
      } else if (this.block !== null) {
        this.wpos = this.block.decode(buf, engine.view, from, stop, this.total - from);
        this.total += this.wpos - from;
        if (this.block.done) this.endBlock();
        else if (this.wpos === stop) break;
      } else if (this.ended || (await this.header(engine))) {
        break;
      } else {
        // Starting a block may have moved the buffer (a WebAssembly memory grown).
        buf = engine.out;
      }
    }
    const produced = this.wpos - start;
    if (produced === 0) return this.finish();
    this.position += produced;
    return buf.subarray(start, this.wpos);
  }

  /** Read the next block header; true at the end-of-stream block. */
  private async header(engine: LzfseEngine): Promise<boolean> {
    const { ctx } = this;
    this.blockAt = ctx.offset + this.consumed;
    if (this.consumed === ctx.length) {
      this.short(
        `LZFSE stream ends after ${this.total} bytes without its bvx$ end-of-stream block`,
      );
    }
    const magic = u32(await this.read(4, "LZFSE block magic"));
    if (magic === LZFSE_ENDOFSTREAM_BLOCK_MAGIC) {
      this.ended = true;
      return true;
    }
    if (magic === LZFSE_UNCOMPRESSED_BLOCK_MAGIC) {
      this.rawLeft = this.declare(u32(await this.read(4, "LZFSE stored block header")));
      if (this.rawLeft > ctx.length - this.consumed) {
        this.short(`LZFSE stored block of ${this.rawLeft} bytes runs past the chunk`);
      }
    } else if (magic === LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC) {
      const h = await this.read(8, "LZVN block header");
      const nRaw = this.declare(u32(h));
      const at = ctx.offset + this.consumed;
      this.block = engine.lzvn(await this.payload(u32(h, 4)), nRaw, this.fail, at);
    } else if (magic === LZFSE_COMPRESSEDV1_BLOCK_MAGIC) {
      const rest = await this.read(V1_HEADER_SIZE - 4, "LZFSE bvx1 block header");
      await this.lzfseBlock(engine, parseV1Header(withMagic(magic, rest)));
    } else if (magic === LZFSE_COMPRESSEDV2_BLOCK_MAGIC) {
      const fixed = withMagic(magic, await this.read(V2_FIXED_SIZE - 4, "LZFSE bvx2 block header"));
      const size = v2HeaderSize(fixed);
      if (size < V2_FIXED_SIZE || size > V2_MAX_HEADER_SIZE) {
        this.fail(
          `LZFSE bvx2 header size ${size} is outside ${V2_FIXED_SIZE}..${V2_MAX_HEADER_SIZE}`,
        );
      }
      const all = new Uint8Array(size);
      all.set(fixed);
      all.set(await this.read(size - V2_FIXED_SIZE, "LZFSE bvx2 frequency tables"), V2_FIXED_SIZE);
      await this.lzfseBlock(engine, parseV2Header(all, this.fail));
    } else {
      // E28: anything else is not an LZFSE block.
      this.fail(
        `LZFSE block magic 0x${magic.toString(16).padStart(8, "0")} is not bvx-, bvxn, bvx1, bvx2 or bvx$`,
      );
    }
    return false;
  }

  private async lzfseBlock(engine: LzfseEngine, h: LzfseBlockHeader): Promise<void> {
    this.declare(h.n_raw_bytes);
    checkBlockHeader(h, this.fail);
    const lit = h.n_literal_payload_bytes;
    const lmd = h.n_lmd_payload_bytes;
    // A bvx1 header holds u32 sizes; no honest block needs more than bvx2 can declare.
    if (lit > MAX_STREAM_PAYLOAD || lmd > MAX_STREAM_PAYLOAD) {
      this.fail(
        `LZFSE block declares payloads of ${lit} and ${lmd} bytes, over ${MAX_STREAM_PAYLOAD}`,
      );
    }
    if (!this.lzfseHeld) {
      this.ctx.memory.acquire(LZFSE_STATE, "LZFSE literal buffer and tables");
      this.held += LZFSE_STATE;
      this.lzfseHeld = true;
    }
    const at = this.ctx.offset + this.consumed;
    this.block = engine.lzfse(h, await this.payload(lit + lmd), this.fail, at);
  }

  /** Check a block's n_raw_bytes against the chunk's declared size still to decode (E25, E28). */
  private declare(nRaw: number): number {
    const left = this.ctx.outputSize - this.total;
    if (nRaw > left) {
      decodeError(
        this.ctx,
        "DECODE_OVERRUN",
        `LZFSE block declares ${nRaw} bytes but only ${left} of the chunk's declared ${this.ctx.outputSize} remain`,
        this.blockAt,
      );
    }
    return nRaw;
  }

  /** Read a compressed block's payload whole: checked against the input left, then accounted. */
  private async payload(n: number): Promise<Uint8Array> {
    const left = this.ctx.length - this.consumed;
    if (n > left) this.short(`LZFSE block payload of ${n} bytes runs past the ${left} bytes left`);
    this.ctx.memory.acquire(n, "LZFSE block payload");
    this.held += n;
    this.payloadHeld = n;
    return this.read(n, "LZFSE block payload");
  }

  private endBlock(): void {
    this.block = null;
    this.ctx.memory.release(this.payloadHeld);
    this.held -= this.payloadHeld;
    this.payloadHeld = 0;
  }

  private async read(n: number, what: string): Promise<Uint8Array> {
    const { ctx } = this;
    if (n > ctx.length - this.consumed) {
      this.short(
        `LZFSE stream is truncated: ${what} needs ${n} bytes, ${ctx.length - this.consumed} are left`,
      );
    }
    // Small reads (block headers, small payloads, pieces of stored blocks) come from bytes read
    // ahead: a file read each made the kernel's work more than the decoding (10,845 reads of
    // ~10 KB for 110 MB of LZVN chunks: 0.74 s of system time against 7-Zip's 0.07). They are
    // views, valid until the next read: headers and stored pieces are used at once, and a
    // block's payload lasts the block, during which nothing more is read.
    //
    // Each read starts where the one before ended, the bytes not yet used carried over, so the
    // file is read front to back without a byte read twice: what a source reads ahead of a
    // sequential reader (sources/sequential.ts) is then what comes next.
    let bytes: Uint8Array;
    const off = this.consumed - this.aheadAt;
    const kept = this.ahead.length - off;
    const from = ctx.offset + this.consumed + kept;
    if (off + n <= this.ahead.length) {
      bytes = this.ahead.subarray(off, off + n);
    } else if (n >= READ_AHEAD) {
      bytes = new Uint8Array(n);
      bytes.set(this.ahead.subarray(off));
      bytes.set(await readExact(ctx.source, from, n - kept, what), kept);
      this.ahead = EMPTY;
      this.aheadAt = this.consumed + n;
    } else {
      const len = Math.min(this.aheadBytes, ctx.length - this.consumed) - kept;
      // One buffer, read into again and again, taken from the image's spares and given back
      // at close. What was read ahead is always its front (or nothing).
      this.aheadBuf ??=
        (this.aheadBytes === READ_AHEAD ? ctx.buffers?.take() : undefined) ??
        new Uint8Array(this.aheadBytes);
      const buf = this.aheadBuf;
      buf.copyWithin(0, off, off + kept);
      const into = buf.subarray(kept, kept + len);
      const got = await readExact(ctx.source, from, len, what, into);
      // A source may return its own array rather than fill the one offered.
      if (got.buffer !== into.buffer || got.byteOffset !== into.byteOffset) into.set(got);
      this.ahead = buf.subarray(0, kept + len);
      this.aheadAt = this.consumed;
      bytes = this.ahead.subarray(0, n);
    }
    this.consumed += n;
    return bytes;
  }

  private short(message: string): never {
    return decodeError(this.ctx, "DECODE_SHORT", message, this.ctx.offset + this.consumed);
  }

  /** After bvx$: the output must have reached the declared size, with no input left (E25). */
  private finish(): Uint8Array {
    const { ctx } = this;
    if (this.position !== ctx.outputSize) {
      this.short(
        `LZFSE stream ends after ${this.position} of the declared ${ctx.outputSize} bytes`,
      );
    }
    const left = ctx.length - this.consumed;
    if (left > 0) {
      decodeError(
        ctx,
        "DECODE_TRAILING",
        `${left} bytes of compressed data follow the LZFSE end-of-stream block`,
        ctx.offset + this.consumed,
      );
    }
    this.done = true;
    this.close();
    return EMPTY;
  }

  close(): void {
    if (this.held === 0) return;
    this.ctx.memory.release(this.held);
    this.held = 0;
    if (this.aheadBuf) this.ctx.buffers?.give(this.aheadBuf);
    this.aheadBuf = undefined;
    this.ahead = EMPTY;
    this.block = null;
    // Reused only once no piece it handed out can be in use: after the end or a failure.
    this.engine?.release(this.done || this.failure !== undefined);
    this.engine = undefined;
  }
}

/** The WebAssembly block decoders where they run, else the TypeScript ones. */
async function lzfseEngine(bytes: number, room: number): Promise<LzfseEngine> {
  return (
    (await wasmLzfseEngine(bytes, room)) ??
    jsLzfseEngine(
      bytes,
      (h, payload, literals, tables, fail, at) =>
        new LzfseBlock(h, payload, literals, tables, fail, at),
    )
  );
}

/** `rest` of a header read after its 4-byte `magic`, with the magic put back in front. */
function withMagic(magic: number, rest: Uint8Array): Uint8Array {
  const all = new Uint8Array(4 + rest.length);
  new DataView(all.buffer).setUint32(0, magic, true);
  all.set(rest, 4);
  return all;
}

/** The ULFO codec: LZFSE (with LZVN and stored blocks). */
export const lzfseCodec: Codec = {
  type: ULFO,
  name: "lzfse",
  open(ctx: DecodeContext): ChunkCursor {
    return new LzfseCursor(ctx);
  },
};
