/**
 * Writing a file all at once or not at all: bytes go to a temporary file next to the target,
 * which is renamed over the target only when every byte is written (and, when asked, flushed
 * to disk first).
 */
import { unlinkSync } from "node:fs";
import { type FileHandle, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { DmgError } from "../../core/errors.js";
import type { ByteSink } from "../../write/writer.js";
import { fsReason } from "./file-source.js";

/** Writes are gathered into buffers of this size before they reach the file. */
export const SINK_BUFFER = 1024 * 1024;

/** Temporary files being written right now, so an interrupted process can remove them. */
const pending = new Set<string>();

/**
 * Remove, synchronously, every temporary file a {@link writeFileAtomic} in progress has
 * created. For a signal handler that is about to end the process.
 *
 * @internal
 */
export function removePendingTempFiles(): void {
  for (const p of pending) {
    try {
      unlinkSync(p);
    } catch {
      // Already gone.
    }
  }
  pending.clear();
}

/**
 * A temporary name for `path`: hidden, in the same directory, unique to this process. The tag
 * only has to make clashes rare: the file is created exclusively ("wx"), so a clash, or
 * anything planted at the name, is never opened but answered with another name. (Not
 * node:crypto: loading it costs ~2 MB of resident memory for twelve random digits.)
 */
function tempName(path: string): string {
  const tag = Math.floor(Math.random() * 2 ** 48)
    .toString(16)
    .padStart(12, "0");
  return join(dirname(path), `.${basename(path)}.${process.pid}.${tag}.tmp`);
}

/** Tries at a temporary name before giving up (each clash is one in 2^48). */
const TEMP_TRIES = 8;

/** In a sparse file, aligned blocks of this many zero bytes are left as holes. */
export const HOLE = 4096;
const ZERO_BLOCK = new Uint8Array(HOLE);

/** True when the `HOLE` bytes of `b` at `at` are all zero. */
function zeroBlock(b: Uint8Array, at: number): boolean {
  // Most data blocks are told by their first and last bytes, without a call.
  if (b[at] !== 0 || b[at + HOLE - 1] !== 0) return false;
  return Buffer.compare(b.subarray(at, at + HOLE), ZERO_BLOCK) === 0;
}

/** A sink that gathers writes into one buffer and writes it out whole. */
class BufferedFileSink implements ByteSink {
  private readonly buf = new Uint8Array(SINK_BUFFER);
  private used = 0;
  private position = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly path: string,
    private readonly sparse: boolean,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    if (!(bytes instanceof Uint8Array)) {
      throw new DmgError("INVALID_ARGUMENT", "sink.write needs a Uint8Array");
    }
    let p = 0;
    while (p < bytes.length) {
      // Large writes with an empty buffer skip the copy.
      if (this.used === 0 && bytes.length - p >= this.buf.length) {
        await this.put(bytes.subarray(p));
        return;
      }
      const n = Math.min(this.buf.length - this.used, bytes.length - p);
      this.buf.set(bytes.subarray(p, p + n), this.used);
      this.used += n;
      p += n;
      if (this.used === this.buf.length) await this.flush();
    }
  }

  async flush(): Promise<void> {
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    await this.put(this.buf.subarray(0, n));
  }

  /**
   * Write `bytes` at the current position. A sparse sink skips the aligned zero blocks (the
   * file system reads holes as zeros) and ends the file at its size in {@link finish}.
   */
  private async put(bytes: Uint8Array): Promise<void> {
    if (!this.sparse) return this.putAt(bytes, this.position);
    const base = this.position;
    let run = 0;
    for (let b = (HOLE - (base % HOLE)) % HOLE; b + HOLE <= bytes.length; b += HOLE) {
      if (!zeroBlock(bytes, b)) continue;
      if (b > run) await this.putAt(bytes.subarray(run, b), base + run);
      run = b + HOLE;
    }
    if (run < bytes.length) await this.putAt(bytes.subarray(run), base + run);
    this.position = base + bytes.length;
  }

  /** Write what is buffered and give the file its full size (a sparse one may end in a hole). */
  async finish(): Promise<void> {
    await this.flush();
    if (!this.sparse) return;
    try {
      await this.handle.truncate(this.position);
    } catch (e) {
      throw new DmgError("IO_ERROR", `cannot write ${this.path}: ${fsReason(e)}`, this.position);
    }
  }

  private async putAt(bytes: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      let n: number;
      try {
        ({ bytesWritten: n } = await this.handle.write(
          bytes,
          done,
          bytes.length - done,
          position + done,
        ));
      } catch (e) {
        throw new DmgError(
          "IO_ERROR",
          `cannot write ${this.path}: ${fsReason(e)}`,
          position + done,
        );
      }
      done += n;
    }
    this.position = position + done;
  }
}

/**
 * Write the file at `path` through `fill`, atomically: `fill` gets a {@link ByteSink} over a
 * temporary file in the same directory; when it resolves, the temporary file is renamed over
 * `path`. When `fill` or any write fails, the temporary file is removed and the error rethrown,
 * so `path` is either untouched or complete.
 *
 * With `options.sync`, the data is flushed to disk before the rename and the directory after
 * it, so that the file survives a power cut too. Off by default, as in `qemu-img convert`,
 * `cp` and 7-Zip: on a 1 GiB extract the flush was a third of the time.
 *
 * Writes are buffered (1 MiB) and must be awaited one at a time; the sink is done with what it
 * was given once `write` resolves, so callers may reuse their buffers. When `path` is a
 * symbolic link, the link itself is replaced, not the file it points to.
 *
 * With `options.sparse`, aligned 4 KiB blocks of zeros are not written but left as holes, as
 * `qemu-img convert` and `cp --sparse=auto` do: the file reads back the same, takes no disk
 * space for its empty stretches, and is written faster.
 *
 * @throws DmgError IO_ERROR naming the path when the temporary file cannot be created, written,
 *   flushed or renamed; whatever `fill` throws, unchanged.
 */
export async function writeFileAtomic(
  path: string,
  fill: (sink: ByteSink) => Promise<void>,
  options: { sparse?: boolean; sync?: boolean } = {},
): Promise<void> {
  if (typeof path !== "string" || path.length === 0) {
    throw new DmgError("INVALID_ARGUMENT", "output path must be a non-empty string");
  }
  let temp = "";
  let handle: FileHandle | undefined;
  for (let tries = 1; handle === undefined; tries++) {
    temp = tempName(path);
    try {
      // "wx": never follow or reuse something already at the temporary name.
      handle = await open(temp, "wx", 0o666);
    } catch (e) {
      if ((e as NodeJS.ErrnoException)?.code === "EEXIST" && tries < TEMP_TRIES) continue;
      throw new DmgError("IO_ERROR", `cannot create ${path}: ${fsReason(e)}`);
    }
  }
  pending.add(temp);
  try {
    const sink = new BufferedFileSink(handle, path, options.sparse === true);
    await fill(sink);
    await sink.finish();
    if (options.sync) {
      try {
        await handle.sync();
      } catch (e) {
        throw new DmgError("IO_ERROR", `cannot flush ${path} to disk: ${fsReason(e)}`);
      }
    }
    const h = handle;
    handle = undefined;
    try {
      await h.close();
    } catch (e) {
      throw new DmgError("IO_ERROR", `cannot close ${path}: ${fsReason(e)}`);
    }
    try {
      await rename(temp, path);
    } catch (e) {
      throw new DmgError("IO_ERROR", `cannot replace ${path}: ${fsReason(e)}`);
    }
    pending.delete(temp);
    if (options.sync) await syncDirectory(dirname(path));
  } catch (e) {
    await handle?.close().catch(() => undefined);
    if (pending.delete(temp)) await unlink(temp).catch(() => undefined);
    throw e;
  }
}

/** Make the rename durable where the platform allows it (not on Windows); failures are ignored. */
async function syncDirectory(dir: string): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = await open(dir, "r");
    await h.sync();
  } catch {
    // Best effort only.
  } finally {
    await h?.close().catch(() => undefined);
  }
}
