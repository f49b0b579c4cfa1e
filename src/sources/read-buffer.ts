/** Where a source's read puts its bytes. */

/**
 * Where a read of `length` bytes goes: the caller's spare `into` when it is big enough (see
 * `ByteSource.read`), else a new array. A plain Uint8Array either way, never a Node Buffer,
 * whose `slice` makes views rather than copies.
 */
export function readBuffer(into: Uint8Array | undefined, length: number): Uint8Array {
  return into instanceof Uint8Array && into.length >= length
    ? into.subarray(0, length)
    : new Uint8Array(length);
}
