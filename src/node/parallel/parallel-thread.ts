/**
 * The entry point of a decoding thread: it reads the image file through the descriptor the
 * consumer's thread opened (threads share the process's descriptors; the path is never opened
 * again, so a file renamed over it meanwhile is never read) and runs the tasks it is sent
 * through a {@link Lane}. Kept apart from the lane so that the consumer's thread never loads
 * node:worker_threads unless it starts a thread.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { InputBuffers } from "../../codecs/input.js";
import { loadCodecs } from "../../codecs/registry.js";
import { MemoryMeter } from "../../core/limits.js";
import { NODE_CIPHERS } from "../ciphers.js";
import { descriptorSource } from "../io/file-source.js";
import { NODE_CODECS } from "../zlib/native-zlib-codec.js";
import { Lane, type LaneStart, type Task } from "./parallel-worker.js";

/** The worker side: read through the consumer's descriptor, serve tasks. */
async function serve(start: LaneStart): Promise<void> {
  const port = parentPort!;
  // This thread has none of the decoders the consumer's open loaded; tasks may need any.
  const codecs = await loadCodecs(NODE_CODECS);
  const file = descriptorSource(start.fd, start.size);
  // An encrypted image: this thread decrypts the blocks it reads, with the keys it was sent.
  const d = start.decrypt;
  const source = d
    ? await (await import("../../containers/encrypted/block-source.js")).decryptingSource(
        file,
        d.layout,
        d,
        NODE_CIPHERS,
      )
    : file;
  const memory = new MemoryMeter(start.config.memory);
  const buffers = new InputBuffers();
  const lane = new Lane({ source, memory, codecs, buffers }, start.config, (batch) =>
    port.postMessage(batch, batch.slab ? [batch.slab.buffer as ArrayBuffer] : []),
  );
  let queue = Promise.resolve();
  port.on("message", (m: { task?: Task; slab?: Uint8Array }) => {
    if (m.slab) lane.giveBack(new Uint8Array(m.slab.buffer));
    if (m.task) {
      const task = m.task;
      queue = queue
        .then(() => lane.run(task))
        .catch((e: unknown) => port.postMessage({ fatal: String(e) }));
    }
  });
}

if (!isMainThread && (workerData as LaneStart | undefined)?.lane === "dmg-validate") {
  void serve(workerData as LaneStart);
}
