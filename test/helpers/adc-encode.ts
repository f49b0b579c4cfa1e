/**
 * A tiny ADC encoder for tests: greedy matching over a hash of 3-byte prefixes. It uses all
 * three opcodes (literal runs, 2-byte and 3-byte matches), which is all the decoder needs to
 * be exercised; it makes no attempt to compress well.
 */

/** A literal run opcode (1-128 bytes). */
export function adcLiteral(bytes: ArrayLike<number>): number[] {
  if (bytes.length < 1 || bytes.length > 128) throw new RangeError("literal run is 1-128 bytes");
  return [0x80 | (bytes.length - 1), ...Array.from(bytes)];
}

/**
 * A match opcode copying `length` bytes from `distance` back: the 2-byte form when it fits
 * (length 3-18, distance 1-1024), else the 3-byte form (length 4-67, distance 1-65536).
 */
export function adcMatch(length: number, distance: number, long = false): number[] {
  if (!long && length >= 3 && length <= 18 && distance >= 1 && distance <= 1024) {
    const d = distance - 1;
    return [((length - 3) << 2) | (d >> 8), d & 0xff];
  }
  if (length < 4 || length > 67 || distance < 1 || distance > 65536) {
    throw new RangeError(`no ADC opcode for length ${length} distance ${distance}`);
  }
  const d = distance - 1;
  return [0x40 | (length - 4), d >> 8, d & 0xff];
}

/** Compress `data` with ADC. */
export function adcEncode(data: Uint8Array): Uint8Array {
  const out: number[] = [];
  const last = new Map<number, number>();
  let literal: number[] = [];
  const flush = () => {
    for (let i = 0; i < literal.length; i += 128)
      out.push(...adcLiteral(literal.slice(i, i + 128)));
    literal = [];
  };
  let i = 0;
  while (i < data.length) {
    let length = 0;
    let distance = 0;
    if (i + 3 <= data.length) {
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      const prev = last.get(key);
      last.set(key, i);
      if (prev !== undefined && i - prev <= 65536) {
        distance = i - prev;
        while (
          length < 67 &&
          i + length < data.length &&
          data[i + length] === data[i + length - distance]
        ) {
          length++;
        }
      }
    }
    const short = length >= 3 && length <= 18 && distance <= 1024;
    if (short || length >= 4) {
      flush();
      out.push(...adcMatch(length, distance));
      i += length;
    } else {
      literal.push(data[i]);
      i++;
    }
  }
  flush();
  return Uint8Array.from(out);
}
