/**
 * `dmg-validate extract FILE OUT` and `dmg-validate cat FILE --offset N --length N`: the virtual
 * disk, or a range of it, to a file (written atomically) or to standard output.
 */

import { basename } from "node:path";
import { DmgError } from "../core/errors.js";
import { jsonText, sanitize } from "../core/text.js";
import { Work } from "../core/work.js";
import type { DmgImage } from "../image/image.js";
import { sessionOf } from "../image/image.js";
import { extractDmg } from "../node/extract.js";
import { OverlappedWriter, writeDisk } from "../node/io/write-disk.js";
import { defaultThreads } from "../node/parallel/threads.js";
import type { HttpSource } from "../sources/http.js";
import { type Args, UsageError } from "./args.js";
import { EXIT_OK, exitCodeFor, reportFailure } from "./exit.js";
import { type Io, OutputClosed, type OutStream, streamSink, writeOut } from "./io.js";
import type { RunArgs } from "./main.js";
import { errorJson, humanBytes } from "./output.js";
import { Progress, progressWanted } from "./progress.js";
import { isUrl, openOperand, openRemote, urlName } from "./remote.js";
import { deadline, removingTempFilesOnSignal } from "./signals.js";

/**
 * Report a failure: in JSON mode as an object on `jsonTo` (standard error when standard output
 * carries the data), else as a line on standard error.
 */
async function fail(
  io: Io,
  args: Args,
  file: string,
  e: unknown,
  jsonTo: OutStream,
): Promise<number> {
  if (e instanceof OutputClosed) return EXIT_OK;
  if (args.json && e instanceof DmgError) {
    await writeOut(jsonTo, `${jsonText({ file, ok: false, errors: [errorJson(e)] })}\n`).catch(
      () => undefined,
    );
    return exitCodeFor(e);
  }
  return reportFailure(io, file, e);
}

/** Stream `[offset, offset + length)` of the image (default: all) to standard output. */
async function toStdout(
  image: DmgImage,
  io: Io,
  progress: Progress,
  offset: number | undefined,
  length: number | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const sink = streamSink(io.stdout);
  const start = offset ?? 0;
  const total = length ?? Math.max(0, image.size - start);
  let done = 0;
  for await (const piece of image.stream(start, total, { signal })) {
    await sink.write(piece);
    done += piece.length;
    progress.update(done, total);
  }
}

/** The name reports give operand `path`: a URL without its credentials or query. */
function shownName(args: Args, path: string): string {
  return args.shownAs ?? (isUrl(path) ? urlName(path) : path);
}

/** `extract FILE OUT` (FILE a path or a URL). */
export async function runExtract(args: RunArgs, io: Io): Promise<number> {
  const [path, out] = args.operands;
  const file = shownName(args, path);
  const progress = new Progress(io.stderr, basename(file), progressWanted(io.stderr, args.json));
  if (out === "-") {
    if (io.stdout.isTTY) {
      throw new UsageError(
        "refusing to write a disk image to a terminal; redirect standard output or give a file name",
      );
    }
    try {
      const signal = deadline(args);
      const image = await openOperand(path, args, signal);
      const out = new OverlappedWriter(streamSink(io.stdout));
      try {
        const threads = args.threads ?? defaultThreads();
        const onProgress = (n: number) => progress.update(n, image.size);
        const work = new Work(signal);
        // The command owns its process: it may collect decoders' garbage as it goes.
        await writeDisk(sessionOf(image), out, { threads, onProgress, work, collectGarbage: true });
        await out.end();
      } finally {
        await out.settle();
        await image.close();
      }
      return EXIT_OK;
    } catch (e) {
      progress.clear();
      return fail(io, args, file, e, io.stderr);
    } finally {
      progress.clear();
    }
  }
  let bytes: number;
  const signal = deadline(args);
  // A URL's source is closed with the image, or below when opening it fails.
  let remote: HttpSource | undefined;
  try {
    if (isUrl(path)) remote = await openRemote(path, args.headers, signal);
    ({ bytes } = await removingTempFilesOnSignal(
      () =>
        extractDmg(remote ?? path, out, {
          budget: args.budget,
          password: args.password,
          threads: args.threads,
          sync: args.fsync,
          onProgress: progress.update,
          signal,
        }),
      () => progress.clear(),
    ));
  } catch (e) {
    progress.clear();
    return fail(io, args, file, e, io.stdout);
  } finally {
    await remote?.close();
  }
  progress.clear();
  const text = args.json
    ? jsonText({ file, ok: true, output: out, bytes })
    : `extracted ${sanitize(file)}: ${bytes} bytes (${humanBytes(bytes)}) to ${sanitize(out)}`;
  await writeOut(io.stdout, `${text}\n`);
  return EXIT_OK;
}

/** `cat FILE [--offset N] [--length N]` (FILE a path or a URL). */
export async function runCat(args: Args, io: Io): Promise<number> {
  const path = args.operands[0];
  const file = shownName(args, path);
  const progress = new Progress(io.stderr, basename(file), progressWanted(io.stderr, args.json));
  try {
    const signal = deadline(args);
    const image = await openOperand(path, args, signal);
    try {
      await toStdout(image, io, progress, args.offset ?? 0, args.length, signal);
    } finally {
      await image.close();
    }
    return EXIT_OK;
  } catch (e) {
    progress.clear();
    return fail(io, args, file, e, io.stderr);
  } finally {
    progress.clear();
  }
}
