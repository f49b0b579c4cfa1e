/**
 * Extracting an image's virtual disk to a file on Node (written atomically, in worker-thread
 * lanes where they pay).
 */
import { optionsObject, progressOption, readOption } from "../core/options.js";
import { checkSignal, Work } from "../core/work.js";
import { sessionOf } from "../image/image.js";
import type { OpenOptions } from "../image/open.js";
import type { SourceLike } from "../sources/source.js";
import { writeFileAtomic } from "./io/file-sink.js";
import { OverlappedWriter, writeDisk } from "./io/write-disk.js";
import { openDmg, type ThreadOptions, threadCount } from "./open.js";

/** Options for {@link extractDmg}. */
export interface ExtractOptions extends OpenOptions, ThreadOptions {
  /**
   * Whether worker threads start: "auto" (default) where they pay, judged by the image's codecs
   * and the thread count (bzip2, ADC, LZFSE and XZ chunks: yes; zlib chunks on node:zlib with
   * two threads: no, writing keeps the second core busy); "always" whenever `threads` allows.
   */
  threadStart?: "auto" | "always";
  /** Called as bytes are written, with virtual bytes done and the disk size. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Leave zero chunks, and runs of at least 64 KiB of aligned zero blocks, as holes in the
   * output file (default true), as `qemu-img convert` does: the same bytes when read, less
   * disk space, faster. False writes every byte.
   */
  sparse?: boolean;
  /**
   * Flush the output to disk before renaming it into place (default false), so that it also
   * survives a power cut; the rename alone already guarantees all or nothing on any failure
   * of the extraction itself.
   */
  sync?: boolean;
}

/**
 * Write the whole virtual disk of an image to the file `outPath`. The bytes go to a temporary
 * file in the same directory that is renamed over `outPath` only when complete, so a failure
 * (a corrupt chunk, a full disk) leaves no partial output.
 *
 * @returns the number of bytes written (the virtual disk size).
 * @throws DmgError for a malformed or over-budget image, IO_ERROR when the image cannot be read
 *   or the output cannot be written.
 */
export async function extractDmg(
  source: string | SourceLike,
  outPath: string,
  options: ExtractOptions = {},
): Promise<{ bytes: number }> {
  const threads = threadCount(options);
  const o = optionsObject(options);
  const onProgressOption = progressOption(o, "onProgress");
  const sparse = readOption(o, "sparse") !== false;
  const sync = readOption(o, "sync") === true;
  const start = readOption(o, "threadStart") as ExtractOptions["threadStart"];
  const signal = checkSignal(readOption(o, "signal"));
  const image = await openDmg(source, options);
  try {
    const s = sessionOf(image);
    let done = 0;
    await writeFileAtomic(
      outPath,
      async (sink) => {
        const out = new OverlappedWriter(sink);
        const onProgress = (n: number) => {
          done = n;
          onProgressOption?.(n, s.size);
        };
        try {
          await writeDisk(s, out, { threads, start, onProgress, work: new Work(signal) });
          await out.end();
        } finally {
          await out.settle();
        }
      },
      { sparse, sync, input: typeof source === "string" ? source : undefined },
    );
    return { bytes: done };
  } finally {
    await image.close();
  }
}
