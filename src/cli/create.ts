/** `dmg-validate create RAW OUT [options]`: a UDIF image of a raw disk file. */

import { basename } from "node:path";
import { DmgError } from "../core/errors.js";
import { jsonText, sanitize } from "../core/text.js";
import { createDmg, fileSource, nodeDeflate } from "../node/index.js";
import { type WriteSummary, writeDmg } from "../write/writer.js";
import { type Args, UsageError } from "./args.js";
import { EXIT_OK, exitCodeFor, reportFailure } from "./exit.js";
import { type Io, OutputClosed, streamSink, writeOut } from "./io.js";
import { errorJson, humanBytes, plural } from "./output.js";
import { Progress, progressWanted } from "./progress.js";
import { removingTempFilesOnSignal } from "./signals.js";

/** Write the image to standard output (OUT "-"). */
async function toStdout(
  raw: string,
  args: Args,
  io: Io,
  progress: Progress,
): Promise<WriteSummary> {
  const src = await fileSource(raw);
  let closed = false;
  const sink = streamSink(io.stdout);
  try {
    return await writeDmg(
      src,
      {
        write: (b) =>
          sink.write(b).catch((e) => {
            closed ||= e instanceof OutputClosed;
            throw e;
          }),
      },
      { ...args.write, deflate: nodeDeflate, onProgress: progress.update },
    );
  } catch (e) {
    // The writer reports a failing sink as IO_ERROR; a reader that went away is no error.
    if (closed) throw new OutputClosed("standard output closed");
    throw e;
  } finally {
    await src.close?.();
  }
}

/** `create RAW OUT`. */
export async function runCreate(args: Args, io: Io): Promise<number> {
  const [raw, out] = args.operands;
  const toStd = out === "-";
  if (toStd && io.stdout.isTTY) {
    throw new UsageError(
      "refusing to write a disk image to a terminal; redirect standard output or give a file name",
    );
  }
  const progress = new Progress(io.stderr, basename(raw), progressWanted(io.stderr, args.json));
  let summary: WriteSummary;
  try {
    summary = toStd
      ? await toStdout(raw, args, io, progress)
      : await removingTempFilesOnSignal(
          () =>
            createDmg(raw, out, { ...args.write, sync: args.fsync, onProgress: progress.update }),
          () => progress.clear(),
        );
  } catch (e) {
    progress.clear();
    if (e instanceof OutputClosed) return EXIT_OK;
    if (args.json && e instanceof DmgError) {
      const line = `${jsonText({ file: raw, ok: false, errors: [errorJson(e)] })}\n`;
      await writeOut(toStd ? io.stderr : io.stdout, line).catch(() => undefined);
      return exitCodeFor(e);
    }
    return reportFailure(io, raw, e);
  }
  progress.clear();
  // Data on standard output: the summary goes to standard error, and only in JSON mode.
  if (toStd && !args.json) return EXIT_OK;
  const text = args.json
    ? jsonText({ file: raw, ok: true, output: out, ...summary })
    : `created ${sanitize(out)} from ${sanitize(raw)}: ${humanBytes(summary.fileSize)}, ${summary.sectors} sectors, ${plural(summary.tables, "table")}, ${plural(summary.chunks, "chunk")}`;
  await writeOut(toStd ? io.stderr : io.stdout, `${text}\n`);
  return EXIT_OK;
}
