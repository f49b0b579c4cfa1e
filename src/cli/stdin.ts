/**
 * Standard input as a command-line operand (`-`): copied to a private temporary file under the
 * `--max-stdin-bytes` cap and the `--timeout` deadline, so that the image can be read at random
 * like any file; the copy is removed on every way out, a signal included.
 */
import { type FileHandle, open, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { DmgError } from "../core/errors.js";
import { trackTempFile, untrackTempFile } from "../node/io/file-sink.js";
import { fsReason } from "../node/io/file-source.js";
import { UsageError } from "./args.js";
import type { StdIn } from "./io.js";

/** Tries at a temporary name before giving up (each clash is one in 2^48). */
const TEMP_TRIES = 8;

/**
 * Copy standard input to a new private temporary file, refusing more than `max` bytes and
 * stopping at `signal`; returns its path (tracked, so that a signal removes it). On failure
 * nothing is left behind.
 */
export async function spool(
  stdin: StdIn | undefined,
  max: number,
  signal: AbortSignal | undefined,
): Promise<string> {
  if (!stdin) throw new DmgError("IO_ERROR", "standard input cannot be read here");
  // `dmg-validate check -` typed at a prompt would wait for an image typed by hand.
  if (stdin.isTTY) {
    throw new UsageError(
      "standard input is a terminal; pipe an image into it (dmg-validate check - < image.dmg) or name the file",
    );
  }
  const { path, handle } = await createTemp();
  try {
    await pipeline(stdin, capped(max), fileWriter(handle, path), { signal });
    await handle.close();
    return path;
  } catch (e) {
    await handle.close().catch(() => undefined);
    await removeTemp(path);
    if (e instanceof DmgError) throw e;
    // A writer that never closes its end of the pipe must not hold the run past --timeout.
    if (signal?.aborted) {
      throw new DmgError(
        "BUDGET_TIME",
        "standard input did not end before the --timeout deadline (pipe a complete image, or raise --timeout)",
      );
    }
    throw new DmgError("IO_ERROR", `cannot read standard input: ${fsReason(e)}`);
  }
}

/**
 * A stream writing to `handle` (the file at `path`), every byte of each chunk before the next.
 * A failed write becomes IO_ERROR: a full disk (ENOSPC), or a file size limit (EFBIG, `ulimit
 * -f`) in the temporary directory.
 */
function fileWriter(handle: FileHandle, path: string): Writable {
  const writeAll = async (chunk: Buffer) => {
    for (let at = 0; at < chunk.length; ) {
      const { bytesWritten } = await handle.write(chunk, at, chunk.length - at);
      // A write that takes nothing would loop forever.
      if (bytesWritten === 0) {
        throw Object.assign(new Error("write took no bytes"), { code: "EIO" });
      }
      at += bytesWritten;
    }
  };
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      writeAll(chunk).then(
        () => done(),
        (e) =>
          done(
            new DmgError(
              "IO_ERROR",
              `cannot write the copy of standard input to ${path}: ${fsReason(e)} (set TMPDIR to a directory with room, or give a file)`,
            ),
          ),
      );
    },
  });
}

/** A stream that passes at most `max` bytes through and fails with BUDGET_STDIN_BYTES after. */
function capped(max: number): Transform {
  let total = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      total += chunk.length;
      // An endless writer (`yes | dmg-validate check -`) must not fill the disk.
      if (total > max) {
        done(
          new DmgError(
            "BUDGET_STDIN_BYTES",
            `standard input is more than ${max} bytes (raise --max-stdin-bytes, or give a file)`,
          ),
        );
      } else done(null, chunk);
    },
  });
}

/**
 * A new file for the copy of standard input: in the temporary directory, readable by its owner
 * only, at a random name created exclusively, so that anything planted at the name (a link to
 * another file) is never opened but answered with another name. Tracked until removed.
 */
async function createTemp(): Promise<{ path: string; handle: FileHandle }> {
  const dir = tmpdir();
  for (let tries = 1; ; tries++) {
    const tag = Math.floor(Math.random() * 2 ** 48)
      .toString(16)
      .padStart(12, "0");
    const path = join(dir, `dmg-validate-stdin-${process.pid}-${tag}.dmg`);
    try {
      const handle = await open(path, "wx", 0o600);
      trackTempFile(path);
      return { path, handle };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST" && tries < TEMP_TRIES) continue;
      // TMPDIR naming a missing or read-only directory is the user's to fix.
      throw new DmgError(
        "IO_ERROR",
        `cannot create a temporary copy of standard input in ${dir}: ${fsReason(e)} (set TMPDIR to a writable directory, or give a file)`,
      );
    }
  }
}

/** Remove a temporary file made here, and stop tracking it. */
export async function removeTemp(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
  untrackTempFile(path);
}
