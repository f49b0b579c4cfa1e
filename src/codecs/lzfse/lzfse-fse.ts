/**
 * The entropy-coding half of LZFSE: the compressed block headers (`bvx1` with plain frequency
 * tables, `bvx2` with packed fields and coded tables), the finite-state-entropy decoding tables
 * built from their frequencies, and the backward bit stream the literals and the L, M, D
 * values are read from.
 *
 * A block holds four interleaved FSE streams of literal bytes, then one stream of
 * (literal length L, match length M, distance D) triples. L, M and D are each coded as an FSE
 * symbol (a base value) plus raw extra bits. Both streams are read from their last byte
 * backwards, most significant bits first.
 */

/** Raises DECODE_CORRUPT for the chunk at file offset `at` (default: the block's start). */
export type Fail = (message: string, at?: number) => never;

export const LZFSE_ENCODE_L_SYMBOLS = 20;
export const LZFSE_ENCODE_M_SYMBOLS = 20;
export const LZFSE_ENCODE_D_SYMBOLS = 64;
export const LZFSE_ENCODE_LITERAL_SYMBOLS = 256;
export const LZFSE_ENCODE_L_STATES = 64;
export const LZFSE_ENCODE_M_STATES = 64;
export const LZFSE_ENCODE_D_STATES = 256;
export const LZFSE_ENCODE_LITERAL_STATES = 1024;
export const LZFSE_MATCHES_PER_BLOCK = 10000;
export const LZFSE_LITERALS_PER_BLOCK = 4 * LZFSE_MATCHES_PER_BLOCK;

/** Extra-bit counts per symbol; each value base is the previous base plus its range. */
function valueBases(extra: number[]): Int32Array {
  const base = new Int32Array(extra.length);
  for (let i = 1; i < extra.length; i++) base[i] = base[i - 1] + 2 ** extra[i - 1];
  return base;
}

/** One of a block's four FSE-coded streams, and where its frequencies sit in the header. */
interface Stream {
  name: string;
  /** Index of its first frequency: the header lists L, M, D, then literal frequencies. */
  from: number;
  states: number;
  /** Per symbol: extra bits read after it, and the value it stands for without them. */
  extra: number[];
  base: Int32Array;
}

const L_EXTRA_BITS = [...new Array<number>(16).fill(0), 2, 3, 5, 8];
const M_EXTRA_BITS = [...new Array<number>(16).fill(0), 3, 5, 8, 11];
const D_EXTRA_BITS = Array.from({ length: LZFSE_ENCODE_D_SYMBOLS }, (_, i) => i >> 2);
const stream = (name: string, from: number, states: number, extra: number[]): Stream => ({
  name,
  from,
  states,
  extra,
  base: valueBases(extra),
});
const L_STREAM = stream("L", 0, LZFSE_ENCODE_L_STATES, L_EXTRA_BITS);
const M_STREAM = stream("M", LZFSE_ENCODE_L_SYMBOLS, LZFSE_ENCODE_M_STATES, M_EXTRA_BITS);
const D_STREAM = stream(
  "D",
  LZFSE_ENCODE_L_SYMBOLS + LZFSE_ENCODE_M_SYMBOLS,
  LZFSE_ENCODE_D_STATES,
  D_EXTRA_BITS,
);
/** Literal symbols stand for themselves: no extra bits, so each base is the symbol. */
const LITERAL_STREAM = stream(
  "literal",
  D_STREAM.from + LZFSE_ENCODE_D_SYMBOLS,
  LZFSE_ENCODE_LITERAL_STATES,
  new Array<number>(LZFSE_ENCODE_LITERAL_SYMBOLS).fill(0),
);
const STREAMS = [L_STREAM, M_STREAM, D_STREAM, LITERAL_STREAM];
/** L, M, D and literal frequencies: the entries of a header's frequency table. */
export const FREQ_COUNT = LITERAL_STREAM.from + LZFSE_ENCODE_LITERAL_SYMBOLS;

/** `bvx1` header size: 7 u32 counts, the final stream states, 360 u16 frequencies, 2 pad bytes. */
export const V1_HEADER_SIZE = 772;
/** `bvx2` header: magic, n_raw_bytes and three packed u64 words, then the coded frequencies. */
export const V2_FIXED_SIZE = 32;
/** The coded frequencies take at most 14 bits each, so no honest `bvx2` header is larger. */
export const V2_MAX_HEADER_SIZE = V2_FIXED_SIZE + Math.ceil((FREQ_COUNT * 14) / 8);

/** One LZFSE block header, `bvx1` or `bvx2`, in the `bvx1` field names. */
export interface LzfseBlockHeader {
  /** Bytes the header takes in the stream, magic included. */
  headerSize: number;
  n_raw_bytes: number;
  n_literals: number;
  n_matches: number;
  n_literal_payload_bytes: number;
  n_lmd_payload_bytes: number;
  /** Bits of the literal stream's last byte that are padding, negated: -8..0. */
  literal_bits: number;
  literal_state: number[];
  lmd_bits: number;
  l_state: number;
  m_state: number;
  d_state: number;
  /** L, M, D and literal frequencies, in that order. */
  freq: Uint16Array;
}

/** `n` (< 31) bits at bit `offset` of the little-endian u64 at `at`. */
function field(b: DataView, at: number, offset: number, n: number): number {
  const lo = b.getUint32(at, true);
  const hi = b.getUint32(at + 4, true);
  let x: number;
  if (offset >= 32) x = hi >>> (offset - 32);
  else if (offset === 0) x = lo;
  else x = (lo >>> offset) | (hi << (32 - offset));
  return x & ((1 << n) - 1);
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Parse a `bvx1` header: `bytes` holds its {@link V1_HEADER_SIZE} bytes, magic included. */
export function parseV1Header(bytes: Uint8Array): LzfseBlockHeader {
  const v = view(bytes);
  const freq = new Uint16Array(FREQ_COUNT);
  for (let i = 0; i < FREQ_COUNT; i++) freq[i] = v.getUint16(50 + 2 * i, true);
  return {
    headerSize: V1_HEADER_SIZE,
    n_raw_bytes: v.getUint32(4, true),
    n_literals: v.getUint32(12, true),
    n_matches: v.getUint32(16, true),
    n_literal_payload_bytes: v.getUint32(20, true),
    n_lmd_payload_bytes: v.getUint32(24, true),
    literal_bits: v.getInt32(28, true),
    literal_state: [0, 1, 2, 3].map((i) => v.getUint16(32 + 2 * i, true)),
    lmd_bits: v.getInt32(40, true),
    l_state: v.getUint16(44, true),
    m_state: v.getUint16(46, true),
    d_state: v.getUint16(48, true),
    freq,
  };
}

/** The total size a `bvx2` header declares, from its first {@link V2_FIXED_SIZE} bytes. */
export function v2HeaderSize(fixed: Uint8Array): number {
  return view(fixed).getUint32(24, true);
}

/** The frequency code at the bottom of `accum`: its length in bits << 16 | its value. */
function freqCode(accum: number): number {
  if ((accum & 1) === 0) return (2 << 16) | ((accum >>> 1) & 1);
  if ((accum & 3) === 1) return (3 << 16) | (2 + ((accum >>> 2) & 1));
  if ((accum & 7) === 3) return (5 << 16) | (4 + ((accum >>> 3) & 3));
  if ((accum & 15) === 7) return (8 << 16) | (8 + ((accum >>> 4) & 15));
  return (14 << 16) | (24 + ((accum >>> 4) & 1023));
}

/**
 * Parse a `bvx2` header: `bytes` holds all of it (see {@link v2HeaderSize}). The frequencies
 * follow the fixed part as a little-endian bit stream of prefix codes: `..00` 0, `..10` 1,
 * `.001` 2, `.101` 3, `00011`..`11011` 4..7, then 4-bit and 10-bit escapes for 8..23 and
 * 24..1047. The codes must use the header's bytes exactly (less than one byte left over).
 */
export function parseV2Header(bytes: Uint8Array, fail: Fail): LzfseBlockHeader {
  const v = view(bytes);
  const freq = new Uint16Array(FREQ_COUNT);
  let accum = 0;
  let nbits = 0;
  let at = V2_FIXED_SIZE;
  // E28: a header too short for its tables (the reference decoder reads "no tables" as all
  // zero, which the sum check below then refuses).
  for (let i = 0; i < FREQ_COUNT; i++) {
    while (nbits <= 24 && at < bytes.length) {
      accum |= bytes[at++] << nbits;
      nbits += 8;
    }
    const code = freqCode(accum);
    const n = code >>> 16;
    if (n > nbits) fail("LZFSE block header ends inside its frequency tables");
    freq[i] = code & 0xffff;
    accum >>>= n;
    nbits -= n;
  }
  if (nbits >= 8 || at !== bytes.length) {
    fail("LZFSE block header is longer than its frequency tables");
  }
  return {
    headerSize: bytes.length,
    n_raw_bytes: v.getUint32(4, true),
    n_literals: field(v, 8, 0, 20),
    n_literal_payload_bytes: field(v, 8, 20, 20),
    n_matches: field(v, 8, 40, 20),
    literal_bits: field(v, 8, 60, 3) - 7,
    literal_state: [0, 1, 2, 3].map((i) => field(v, 16, 10 * i, 10)),
    n_lmd_payload_bytes: field(v, 16, 40, 20),
    lmd_bits: field(v, 16, 60, 3) - 7,
    l_state: field(v, 24, 32, 10),
    m_state: field(v, 24, 42, 10),
    d_state: field(v, 24, 52, 10),
    freq,
  };
}

/**
 * The checks a header must pass before its tables are built (E28): counts within one block's
 * limits, initial states inside their tables, bit counts in range, and every frequency table
 * summing exactly to its state count, so that every state decodes to a symbol.
 */
export function checkBlockHeader(h: LzfseBlockHeader, fail: Fail): void {
  if (h.n_literals > LZFSE_LITERALS_PER_BLOCK || h.n_matches > LZFSE_MATCHES_PER_BLOCK) {
    fail(
      `LZFSE block declares ${h.n_literals} literals and ${h.n_matches} matches, over the block limits`,
    );
  }
  if (h.literal_bits < -8 || h.literal_bits > 0 || h.lmd_bits < -8 || h.lmd_bits > 0) {
    fail(`LZFSE block has bit counts ${h.literal_bits} and ${h.lmd_bits} outside -8..0`);
  }
  const states = [
    ...h.literal_state.map((s) => [s, LZFSE_ENCODE_LITERAL_STATES]),
    [h.l_state, LZFSE_ENCODE_L_STATES],
    [h.m_state, LZFSE_ENCODE_M_STATES],
    [h.d_state, LZFSE_ENCODE_D_STATES],
  ];
  for (const [s, n] of states) {
    if (s >= n) fail(`LZFSE block starts in state ${s} of a ${n}-state table`);
  }
  for (const { name, from, states: nstates, extra } of STREAMS) {
    let sum = 0;
    for (let i = from; i < from + extra.length; i++) sum += h.freq[i];
    if (sum !== nstates) {
      fail(`LZFSE ${name} frequencies sum to ${sum}, not the table's ${nstates} states`);
    }
  }
}

/**
 * An FSE decoding table, two typed arrays indexed by state. `code` packs the next state's base
 * (bits 16-25), the symbol's extra bits (8-11) and the bits to read (0-4: the state's own,
 * then the extra bits); `base` is the symbol's value without its extra bits. Literal symbols
 * have no extra bits: their code holds the byte itself in bits 8-15 instead, so that a
 * literal takes one table load.
 */
export interface FseTable {
  code: Int32Array;
  base: Int32Array;
}

/** The bits to read for a state: low bits of its {@link FseTable} code. */
export const FSE_TOTAL_MASK = 0xff;
/** Shift of the extra-bit count (the byte, for literals) in a state's code. */
export const FSE_EXTRA_SHIFT = 8;
/** Shift of the next state's base in a state's code. */
export const FSE_DELTA_SHIFT = 16;

function fseTable(n: number): FseTable {
  return { code: new Int32Array(n), base: new Int32Array(n) };
}

/**
 * Spread a stream's symbols over its states (the frequencies sum to the state count, checked),
 * into `t`: symbol s takes freq[s] consecutive states. A state of a symbol of frequency f reads
 * k or k - 1 bits of the next state, k the shift that puts f << k in [states, 2 * states).
 */
function buildTable(t: FseTable, stream: Stream, freq: Uint16Array): void {
  const n = stream.states;
  const { code, base } = t;
  let state = 0;
  for (let s = 0; s < stream.extra.length; s++) {
    const f = freq[stream.from + s];
    if (f === 0) continue;
    const k = Math.clz32(f) - Math.clz32(n);
    const j0 = ((2 * n) >> k) - f;
    const extra = stream.extra[s];
    const field = stream === LITERAL_STREAM ? s : extra;
    for (let j = 0; j < f; j++, state++) {
      const total = (j < j0 ? k : k - 1) + extra;
      const delta = j < j0 ? ((f + j) << k) - n : (j - j0) << (k - 1);
      code[state] = (delta << FSE_DELTA_SHIFT) | (field << FSE_EXTRA_SHIFT) | total;
      base[state] = stream.base[s];
    }
  }
}

/**
 * The four decoding tables of a block, allocated once per stream decoder and rebuilt for each
 * block whose header passed {@link checkBlockHeader} (which leaves no state unset).
 */
export class FseTables {
  readonly literal = fseTable(LZFSE_ENCODE_LITERAL_STATES);
  readonly l = fseTable(LZFSE_ENCODE_L_STATES);
  readonly m = fseTable(LZFSE_ENCODE_M_STATES);
  readonly d = fseTable(LZFSE_ENCODE_D_STATES);

  build(h: LzfseBlockHeader): this {
    buildTable(this.literal, LITERAL_STREAM, h.freq);
    buildTable(this.l, L_STREAM, h.freq);
    buildTable(this.m, M_STREAM, h.freq);
    buildTable(this.d, D_STREAM, h.freq);
    return this;
  }
}

/**
 * Where a backward bit stream stands: bits come out most significant first from `accum`
 * (`nbits` of them, the rest zero), refilled a byte at a time from `buf[--pos]`. The decoders
 * copy these into locals for their loops and back after.
 */
export interface BitState {
  accum: number;
  nbits: number;
  pos: number;
}

/**
 * Start a bit stream read backwards from the end of `buf[start, end)`: its first bit is
 * `-bits` bits below the top of the last byte (those padding bits must be zero). Reading
 * before `start` is an error (E28: the stream's bits run out), raised by the readers.
 */
export function backwardBits(
  buf: Uint8Array,
  start: number,
  end: number,
  bits: number,
  fail: Fail,
  fileOffset: number,
): BitState {
  const s: BitState = { accum: 0, nbits: 0, pos: end };
  if (bits < 0) {
    if (end === start) fail("LZFSE bit stream is empty but declares padding bits", fileOffset);
    const last = buf[--s.pos];
    s.nbits = 8 + bits;
    // The reference decoder refuses a stream whose padding bits are not zero.
    if (last >> s.nbits !== 0)
      fail("LZFSE bit stream has non-zero padding bits", fileOffset + s.pos);
    s.accum = last;
  }
  return s;
}

/**
 * Start a block's L, M, D stream, which follows its `litEnd` bytes of literal stream in
 * `payload`: the reference decoder loads 8 bytes (7 with no padding bits) to start it, so a
 * shorter stream is refused (E28).
 */
export function lmdBits(
  h: LzfseBlockHeader,
  payload: Uint8Array,
  fail: Fail,
  payloadAt: number,
): BitState {
  const litEnd = h.n_literal_payload_bytes;
  if (payload.length - litEnd < (h.lmd_bits < 0 ? 8 : 7)) {
    fail("LZFSE L, M, D payload is shorter than its stream header", payloadAt + litEnd);
  }
  return backwardBits(payload, litEnd, payload.length, h.lmd_bits, fail, payloadAt);
}
