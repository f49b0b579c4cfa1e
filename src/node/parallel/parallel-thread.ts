/**
 * The entry point of a decoding thread: it opens the image file itself, checks that it is the
 * file the consumer opened, and runs the tasks it is sent through a {@link Lane}. Kept apart
 * from the lane so that the consumer's thread never loads node:worker_threads unless it starts
 * a thread.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { loadCodecs } from "../../codecs/registry.js";
import type { ByteSource } from "../../sources/source.js";
import { fileSource } from "../io/file-source.js";
import { useNativeZlib } from "../zlib/native-zlib-codec.js";
import { Lane, type LaneFatal, type LaneStart, type Task } from "./parallel-worker.js";

/** The worker side: open the image file, check it is the one the consumer opened, serve tasks. */
async function serve(start: LaneStart): Promise<void> {
  const port = parentPort!;
  useNativeZlib();
  // This thread has none of the decoders the consumer's open loaded; tasks may need any.
  await loadCodecs();
  let source: ByteSource;
  try {
    source = await fileSource(start.path);
  } catch (e) {
    port.postMessage({ fatal: (e as Error).message } satisfies LaneFatal);
    return;
  }
  // The path may name another file by now: the consumer then decodes on its own.
  if (source.size !== start.size) {
    await source.close?.();
    port.postMessage({ fatal: `${start.path} changed size while being read` } satisfies LaneFatal);
    return;
  }
  const lane = new Lane(source, start.config, (batch) =>
    port.postMessage(batch, batch.slab ? [batch.slab.buffer as ArrayBuffer] : []),
  );
  let queue = Promise.resolve();
  port.on("message", (m: { task?: Task; slab?: Uint8Array }) => {
    if (m.slab) lane.giveBack(new Uint8Array(m.slab.buffer));
    if (m.task) {
      const task = m.task;
      queue = queue
        .then(() => lane.run(task))
        .catch((e: unknown) => port.postMessage({ fatal: String(e) } satisfies LaneFatal));
    }
  });
}

if (!isMainThread && (workerData as LaneStart | undefined)?.lane === "dmg-validate") {
  void serve(workerData as LaneStart);
}
