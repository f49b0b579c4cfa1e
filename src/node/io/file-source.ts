/**
 * A {@link ByteSource} over a file on disk: positional reads through one file handle, the size
 * taken once from fstat. Only regular files are accepted.
 */
import { constants, read as readFd } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { at, DmgError } from "../../core/errors.js";
import { readAhead } from "../../sources/read-ahead.js";
import { readBuffer } from "../../sources/read-buffer.js";
import { sequentialReadAhead } from "../../sources/sequential.js";
import { type ByteSource, readInRange } from "../../sources/source.js";

/** Short reasons for the errno codes a person is likely to meet. */
const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "is a directory",
  ENOTDIR: "a component of the path is not a directory",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EIO: "input/output error",
  ENXIO: "no such device or address",
  ENOSPC: "no space left on device",
  EFBIG: "file too large (a file size limit, ulimit -f, or the file system's largest file)",
  EROFS: "read-only file system",
  EXDEV: "not on the same file system",
  EEXIST: "file already exists",
};

/** A person-readable reason for a failed fs call: "no such file or directory (ENOENT)". */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (typeof code === "string") return `${REASONS[code] ?? (e as Error).message} (${code})`;
  return (e as Error)?.message ?? String(e);
}

/** What a non-regular file is, for a refusal message: "a FIFO (named pipe)". */
export function kind(s: {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (s.isDirectory()) return "a directory";
  if (s.isFIFO()) return "a FIFO (named pipe)";
  if (s.isSocket()) return "a socket";
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  return "not a regular file";
}

function notRegular(path: string, what: string): DmgError {
  return new DmgError(
    "IO_ERROR",
    `${path}: is ${what}, not a regular file; only regular files can be read (copy the image to a file first)`,
  );
}

/**
 * Open the regular file at `path` as a {@link ByteSource}. Reads are positional, so several
 * may run at once; `close()` closes the file handle and may be called more than once.
 *
 * Directories, FIFOs, sockets and devices are refused before they are read: a FIFO would make
 * the first read wait forever for a writer, and a device has no fixed size.
 *
 * @throws DmgError IO_ERROR naming the path and the reason when the file cannot be opened or is
 *   not a regular file. Reads that fail, or come back short because the file shrank, also raise
 *   IO_ERROR.
 */
export async function fileSource(path: string): Promise<ByteSource> {
  if (typeof path !== "string" || path.length === 0) {
    throw new DmgError("INVALID_ARGUMENT", "file path must be a non-empty string");
  }
  // Attack class F34: a directory, a FIFO or a device given as the image. Look before opening:
  // opening a FIFO for reading blocks until a writer appears, and opening some devices has
  // side effects.
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    throw new DmgError("IO_ERROR", `cannot open ${path}: ${fsReason(e)}`);
  }
  if (!info.isFile()) throw notRegular(path, kind(info));

  // O_NONBLOCK keeps open() from waiting if the path was swapped for a FIFO after the stat;
  // it has no effect on regular files. fstat on the handle is the check that counts.
  const flags = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);
  let handle: FileHandle;
  try {
    handle = await open(path, flags);
  } catch (e) {
    throw new DmgError("IO_ERROR", `cannot open ${path}: ${fsReason(e)}`);
  }
  let size: number;
  try {
    const s = await handle.stat();
    if (!s.isFile()) throw notRegular(path, kind(s));
    size = s.size;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new DmgError("IO_ERROR", `${path}: file size ${size} cannot be used`);
    }
  } catch (e) {
    await handle.close().catch(() => undefined);
    if (e instanceof DmgError) throw e;
    throw new DmgError("IO_ERROR", `cannot read ${path}: ${fsReason(e)}`);
  }
  return makeSource(path, handle, size);
}

/** The descriptor of each source opened by {@link fileSource}, for worker threads. */
const descriptors = new WeakMap<ByteSource, number>();

/**
 * The file descriptor under `source` when {@link fileSource} made it (worker threads of this
 * process read through it), else undefined.
 *
 * @internal
 */
export function fileDescriptor(source: ByteSource): number | undefined {
  return descriptors.get(source);
}

/**
 * A source reading the open file descriptor `fd` of `size` bytes, for a worker thread of the
 * process that opened it. It never closes the descriptor: its opener does, after the worker
 * has stopped.
 *
 * @internal
 */
export function descriptorSource(fd: number, size: number): ByteSource {
  const readAt = (out: Uint8Array, at: number, n: number, position: number) =>
    new Promise<number>((resolve, reject) => {
      readFd(fd, out, at, n, position, (err, bytesRead) =>
        err ? reject(err) : resolve(bytesRead),
      );
    });
  return sequentialReadAhead(
    readAhead(rangedSource(`file descriptor ${fd}`, size, readAt, () => false)),
  );
}

function makeSource(path: string, handle: FileHandle, size: number): ByteSource {
  let closed: Promise<void> | undefined;
  const readAt = async (out: Uint8Array, at: number, n: number, position: number) =>
    (await handle.read(out, at, n, position)).bytesRead;
  const source = rangedSource(path, size, readAt, () => closed !== undefined);
  // Small reads (a chunk of a few bytes) come out of a window read ahead: one system call for
  // many chunks instead of one each. A sequential reader's next range is read while it decodes.
  const reading = sequentialReadAhead(readAhead(source));
  const withClose: ByteSource = {
    size,
    read: reading.read,
    close(): Promise<void> {
      closed ??= (async () => {
        await reading.close?.();
        await handle.close().catch(() => undefined);
      })();
      return closed;
    },
  };
  descriptors.set(withClose, handle.fd);
  return withClose;
}

/**
 * A source of `size` bytes over positional reads `readAt(out, at, n, position)`, with every
 * range checked and short reads turned into IO_ERROR naming `path`.
 */
function rangedSource(
  path: string,
  size: number,
  readAt: (out: Uint8Array, at: number, n: number, position: number) => Promise<number>,
  isClosed: () => boolean,
): ByteSource {
  return {
    size,
    async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
      if (isClosed()) {
        throw new DmgError("IO_ERROR", `${path}: read after the file was closed`, offset);
      }
      if (!readInRange(offset, length, size)) {
        throw new DmgError(
          "IO_ERROR",
          `${path}: read of ${length} bytes at ${at(offset)} is outside the ${size}-byte file`,
          offset,
        );
      }
      const out = readBuffer(into, length);
      let got = 0;
      while (got < length) {
        let n: number;
        try {
          n = await readAt(out, got, length - got, offset + got);
        } catch (e) {
          throw new DmgError(
            "IO_ERROR",
            `${path}: reading ${length} bytes at ${at(offset)} failed: ${fsReason(e)}`,
            offset + got,
          );
        }
        // The file shrank after it was opened (truncated while being read).
        if (n === 0) {
          throw new DmgError(
            "IO_ERROR",
            `${path}: file ended after ${offset + got} bytes while reading ${length} bytes at ${at(offset)} (was it truncated while being read?)`,
            offset + got,
          );
        }
        got += n;
      }
      return out;
    },
  };
}
