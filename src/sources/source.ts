/**
 * The random-access source every reader works over: a size known up front and reads of any
 * range inside it. Files (src/node), Blobs and in-memory arrays all become one.
 */
import { at, DmgError } from "../core/errors.js";
import { readAhead } from "./read-ahead.js";
import { sequentialReadAhead } from "./sequential.js";

/** A random-access source of bytes of known size. */
export interface ByteSource {
  /** Size in bytes. */
  readonly size: number;
  /**
   * Read `length` bytes at `offset`. Must return exactly that many bytes; callers only ask for
   * ranges inside `[0, size)`.
   *
   * `into`, when given, is a buffer of at least `length` bytes the caller no longer needs: a
   * source may fill it and return a view of it instead of allocating (a file source does, so a
   * long decode reuses one buffer rather than leaving a trail of garbage). A source is free to
   * ignore it; callers always use the array returned.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /** Release what the source holds (a file handle). Optional. */
  close?(): Promise<void>;
}

/**
 * True when a read of `length` bytes at `offset` lies inside a source of `size` bytes, with
 * both numbers safe integers: what a source checks before it reads, whoever calls it.
 */
export function readInRange(offset: number, length: number, size: number): boolean {
  return (
    Number.isSafeInteger(offset) &&
    Number.isSafeInteger(length) &&
    offset >= 0 &&
    length >= 0 &&
    offset + length <= size
  );
}

/** Anything {@link toSource} accepts. */
export type SourceLike = ByteSource | Uint8Array | ArrayBuffer | Blob;

/** A source over bytes already in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
  };
}

/**
 * A source over a Blob or File (browsers, workers, Node 20). Small reads come out of a window
 * read ahead (each Blob read is a trip through the platform's I/O), and a sequential reader's
 * next range is read while it decodes.
 */
export function blobSource(blob: Blob): ByteSource {
  return sequentialReadAhead(
    readAhead({
      size: blob.size,
      read: async (offset, length) =>
        new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
    }),
  );
}

function isByteSource(x: unknown): x is ByteSource {
  return (
    typeof x === "object" &&
    x !== null &&
    typeof (x as ByteSource).read === "function" &&
    typeof (x as ByteSource).size === "number"
  );
}

/** Turn a Uint8Array, ArrayBuffer, Blob or source object into a checked {@link ByteSource}. */
export function toSource(x: SourceLike): ByteSource {
  if (x instanceof Uint8Array) return bytesSource(x);
  if (x instanceof ArrayBuffer) return bytesSource(new Uint8Array(x));
  if (typeof Blob !== "undefined" && x instanceof Blob) return blobSource(x);
  if (isByteSource(x)) {
    if (!Number.isSafeInteger(x.size) || x.size < 0) {
      throw new DmgError("INVALID_ARGUMENT", `source size ${x.size} is not a non-negative integer`);
    }
    return x;
  }
  throw new DmgError(
    "INVALID_ARGUMENT",
    "source must be a Uint8Array, ArrayBuffer, Blob or { size, read(offset, length) } object",
  );
}

/**
 * Read exactly `length` bytes at `offset`, turning a source's own failure or short read into
 * an IO_ERROR. The range must already have been checked against the source size. `into` is
 * passed on to the source (see {@link ByteSource.read}).
 */
export async function readExact(
  src: ByteSource,
  offset: number,
  length: number,
  what: string,
  into?: Uint8Array,
): Promise<Uint8Array> {
  if (offset < 0 || length < 0 || offset + length > src.size) {
    throw new DmgError(
      "TRUNCATED",
      `${what}: ${length} bytes at ${at(offset)} run past the end of the ${src.size}-byte file`,
      offset,
    );
  }
  if (length === 0) return new Uint8Array(0);
  let got: Uint8Array;
  try {
    got = await (into ? src.read(offset, length, into) : src.read(offset, length));
  } catch (e) {
    if (e instanceof DmgError) throw e;
    throw new DmgError(
      "IO_ERROR",
      `reading ${what} (${length} bytes at ${at(offset)}) failed: ${(e as Error)?.message ?? e}`,
      offset,
    );
  }
  if (!(got instanceof Uint8Array) || got.length !== length) {
    throw new DmgError(
      "IO_ERROR",
      `reading ${what} at ${at(offset)} returned ${got?.length ?? "no"} bytes instead of ${length}`,
      offset,
    );
  }
  return got;
}
