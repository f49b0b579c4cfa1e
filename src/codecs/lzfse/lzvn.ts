/**
 * LZVN, the byte-oriented LZ77 of LZFSE's `bvxn` blocks, and the literal-and-match output
 * both compressed block kinds share ({@link LzBlock}). An LZVN block is a run of opcodes; most
 * carry up to 3 literal bytes and a match, some only a literal run or only a match at the
 * previous distance:
 *
 * - `LLMMMDDD D8` small distance, `LLMMM111 D16` large distance, `LLMMM110` previous
 *   distance: L = LL literals (0-3) after the opcode, then M = MMM + 3 bytes from D back;
 * - `101LLMMM DDDDDDMM D8` medium distance: M = MMMMM + 3, D = 14 bits;
 * - `1110LLLL` / `11100000 L8` literal only (L, or L8 + 16 bytes follow);
 * - `1111MMMM` / `11110000 M8` match only, at the previous distance (M, or M8 + 16);
 * - `0x06` end of stream (8 bytes), `0x0e` / `0x16` no-ops; all other patterns are undefined.
 *
 * A match reaches back into earlier blocks' output (the cursor keeps that history) and may
 * overlap the bytes it writes.
 */
import type { Fail } from "./lzfse-fse.js";

/** Copies up to this long are done in place: cheaper than a call into the runtime. */
const SHORT_COPY = 32;

/**
 * Copy `n` bytes from `distance` back to `at` in `out` (`view` is the same bytes), with the
 * result of a byte-by-byte copy where the two ranges overlap (a distance-1 match repeats one
 * byte). A short copy may write up to 3 bytes past `at + n` inside `out`: callers keep only
 * bytes before their write position, which the next write overwrites.
 */
export function copyMatch(
  out: Uint8Array,
  view: DataView,
  at: number,
  distance: number,
  n: number,
): void {
  // Whole words read only bytes already written when the distance is 4 or more.
  if (n <= SHORT_COPY && distance >= 4 && at + n + 3 <= out.length) {
    const from = at - distance;
    for (let i = 0; i < n; i += 4) view.setInt32(at + i, view.getInt32(from + i, true), true);
  } else {
    copyMatchLong(out, at, distance, n);
  }
}

/** {@link copyMatch} without words: small enough that the common case above is inlined. */
function copyMatchLong(out: Uint8Array, at: number, distance: number, n: number): void {
  const from = at - distance;
  if (n <= SHORT_COPY) {
    for (let i = 0; i < n; i++) out[at + i] = out[from + i];
  } else if (distance >= n) {
    out.copyWithin(at, from, from + n);
  } else if (distance === 1) {
    out.fill(out[from], at, at + n);
  } else {
    // The output repeats with period `distance`: copy whole periods, doubling each time.
    let done = 0;
    while (done < n) {
      const c = Math.min(done + distance, n - done);
      out.copyWithin(at + done, from, from + c);
      done += c;
    }
  }
}

/**
 * Copy `n` bytes of `src` (`srcView` is the same bytes) from `from` to `out` at `at`; like
 * {@link copyMatch}, a short copy may write up to 3 bytes past its end.
 */
export function copyBytes(
  out: Uint8Array,
  view: DataView,
  at: number,
  src: Uint8Array,
  srcView: DataView,
  from: number,
  n: number,
): void {
  if (n > SHORT_COPY) {
    out.set(src.subarray(from, from + n), at);
  } else if (at + n + 3 <= out.length && from + n + 3 <= src.length) {
    for (let i = 0; i < n; i += 4) view.setInt32(at + i, srcView.getInt32(from + i, true), true);
  } else {
    for (let i = 0; i < n; i++) out[at + i] = src[from + i];
  }
}

/** A DataView of exactly the bytes of `b`. */
export function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

const SML_D = 1;
const MED_D = 2;
const LRG_D = 3;
const PRE_D = 4;
const SML_M = 5;
const LRG_M = 6;
const SML_L = 7;
const LRG_L = 8;
const NOP = 9;
const EOS = 10;
const UDEF = 0;

/** The opcode kind of each first byte. */
const KIND = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const ll = b >> 6;
  const mmm = (b >> 3) & 7;
  let kind: number;
  if (b >= 0xf0) kind = b === 0xf0 ? LRG_M : SML_M;
  else if (b >= 0xe0) kind = b === 0xe0 ? LRG_L : SML_L;
  else if (b >= 0xa0 && b < 0xc0) kind = MED_D;
  // The L/M fields leave room for the other kinds: with LL = 1 or 3 the top M values are unused.
  else if ((ll === 1 && mmm > 5) || (ll === 3 && mmm > 1)) kind = UDEF;
  else if ((b & 7) === 7) kind = LRG_D;
  else if ((b & 7) !== 6) kind = SML_D;
  else if (ll > 0) kind = PRE_D;
  else kind = b === 0x06 ? EOS : b === 0x0e || b === 0x16 ? NOP : UDEF;
  KIND[b] = kind;
}

/** Bytes the end-of-stream opcode takes (the opcode and 7 bytes of padding). */
const EOS_SIZE = 8;

/**
 * What the LZVN and LZFSE block decoders share: the current literal run (bytes of `input` from
 * `ip`) and match. Each decoder writes whole commands straight to the output while they fit
 * and leaves the one that does not pending here, to be written out piece by piece.
 */
export abstract class LzBlock {
  /** Bytes the commands decoded so far account for (written or pending). */
  produced = 0;
  /** Set once the block has ended at its declared size. */
  done = false;
  /** The next literal byte in `input`. */
  protected ip = 0;
  /** What is left of the pending command's literal run and match. */
  protected literal = 0;
  protected match = 0;
  /** The match distance, kept for the commands that repeat it. */
  protected distance = 0;

  protected readonly inputView: DataView;

  constructor(protected readonly input: Uint8Array) {
    this.inputView = viewOf(input);
  }

  /**
   * Decode into `out` (`view` is the same bytes) from `at`, stopping at `stop` or at the block's end. `base + i` is the
   * number of bytes the chunk has decoded when `out[i]` is written. Returns the new position:
   * `stop`, or less once the block is done.
   */
  abstract decode(out: Uint8Array, view: DataView, at: number, stop: number, base: number): number;

  /** Write out as much of the pending command as fits before `stop`; the new position. */
  protected drain(out: Uint8Array, view: DataView, at: number, stop: number): number {
    let p = at;
    if (this.literal > 0) {
      const n = Math.min(this.literal, stop - p);
      copyBytes(out, view, p, this.input, this.inputView, this.ip, n);
      this.ip += n;
      this.literal -= n;
      p += n;
      if (this.literal > 0) return p;
    }
    if (this.match > 0) {
      const n = Math.min(this.match, stop - p);
      copyMatch(out, view, p, this.distance, n);
      this.match -= n;
      p += n;
    }
    return p;
  }

  /** Whether a command is still pending (it did not fit before the last `stop`). */
  protected get pending(): boolean {
    return this.literal > 0 || this.match > 0;
  }
}

/** One `bvxn` block being decoded, its whole payload (`input`) in memory. */
export class LzvnBlock extends LzBlock {
  /**
   * @param payload the block's n_payload_bytes.
   * @param nRaw the block's declared n_raw_bytes.
   * @param fileOffset where the payload starts in the file, for errors.
   */
  constructor(
    payload: Uint8Array,
    private readonly nRaw: number,
    private readonly fail: Fail,
    private readonly fileOffset: number,
  ) {
    super(payload);
  }

  /**
   * Read opcodes and write their output until `stop` or the end-of-stream opcode. Every
   * opcode is checked (E28) before anything of it is written.
   */
  decode(out: Uint8Array, view: DataView, at: number, stop: number, base: number): number {
    let p = at;
    if (this.pending) {
      p = this.drain(out, view, p, stop);
      if (this.pending) return p;
    }
    if (this.done) return p;
    const { input: payload, fail, nRaw } = this;
    const end = payload.length;
    let ip = this.ip;
    let d = this.distance;
    let produced = this.produced;
    for (;;) {
      // E28: a block must end with its end-of-stream opcode inside its payload.
      if (ip >= end) fail("LZVN block ends without its end-of-stream opcode", this.fileOffset + ip);
      const op = payload[ip];
      let size = 1;
      let l = 0;
      let m = 0;
      switch (KIND[op]) {
        case SML_D:
          size = 2;
          if (ip + 2 > end) this.cutShort(ip);
          l = op >> 6;
          m = ((op >> 3) & 7) + 3;
          d = ((op & 7) << 8) | payload[ip + 1];
          break;
        case MED_D: {
          size = 3;
          if (ip + 3 > end) this.cutShort(ip);
          const w = payload[ip + 1] | (payload[ip + 2] << 8);
          l = (op >> 3) & 3;
          m = (((op & 7) << 2) | (w & 3)) + 3;
          d = w >> 2;
          break;
        }
        case LRG_D:
          size = 3;
          if (ip + 3 > end) this.cutShort(ip);
          l = op >> 6;
          m = ((op >> 3) & 7) + 3;
          d = payload[ip + 1] | (payload[ip + 2] << 8);
          break;
        case PRE_D:
          l = op >> 6;
          m = ((op >> 3) & 7) + 3;
          break;
        case SML_M:
          m = op & 15;
          break;
        case LRG_M:
          size = 2;
          if (ip + 2 > end) this.cutShort(ip);
          m = payload[ip + 1] + 16;
          break;
        case SML_L:
          l = op & 15;
          break;
        case LRG_L:
          size = 2;
          if (ip + 2 > end) this.cutShort(ip);
          l = payload[ip + 1] + 16;
          break;
        case NOP:
          break;
        case EOS:
          this.ip = ip;
          this.produced = produced;
          this.end();
          return p;
        default:
          fail(
            `LZVN opcode 0x${op.toString(16).padStart(2, "0")} is undefined`,
            this.fileOffset + ip,
          );
      }
      if (ip + size + l > end)
        fail("LZVN literal runs past the block payload", this.fileOffset + ip);
      if (produced + l + m > nRaw) {
        fail(`LZVN block decodes past its declared ${nRaw} bytes`, this.fileOffset + ip);
      }
      // E28: a match before the start of the chunk's output, or with distance 0 (the reference
      // decoder copies uninitialised bytes for a match-only opcode before any distance).
      if (m > 0 && (d === 0 || d > base + p + l)) {
        fail(
          `LZVN match reaches ${d} bytes back with ${base + p + l} bytes decoded`,
          this.fileOffset + ip,
        );
      }
      ip += size;
      produced += l + m;
      if (p + l + m > stop) {
        // Does not fit: leave it pending and write what fits.
        this.ip = ip;
        this.literal = l;
        this.match = m;
        this.distance = d;
        this.produced = produced;
        return this.drain(out, view, p, stop);
      }
      if (l > 0) {
        copyBytes(out, view, p, payload, this.inputView, ip, l);
        ip += l;
        p += l;
      }
      if (m > 0) {
        copyMatch(out, view, p, d, m);
        p += m;
      }
    }
  }

  /** An opcode whose operand bytes run past the payload (E28). */
  private cutShort(ip: number): never {
    return this.fail("LZVN opcode runs past the block payload", this.fileOffset + ip);
  }

  /** The end-of-stream opcode: it must end the payload exactly, at the declared size. */
  private end(): void {
    const at = this.fileOffset + this.ip;
    const left = this.input.length - this.ip - EOS_SIZE;
    if (left < 0) this.fail("LZVN end-of-stream opcode is cut short by the block payload", at);
    if (left > 0)
      this.fail(`LZVN end-of-stream opcode leaves ${left} bytes of its block payload`, at);
    // Encoders pad the opcode with zeros; 7-Zip refuses other padding, and so does this reader.
    if (this.input.subarray(this.ip + 1).some((b) => b !== 0)) {
      this.fail("LZVN end-of-stream padding is not zero", at);
    }
    if (this.produced !== this.nRaw) {
      this.fail(`LZVN block ends after ${this.produced} of its declared ${this.nRaw} bytes`, at);
    }
    this.ip = this.input.length;
    this.done = true;
  }
}
