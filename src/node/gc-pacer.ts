/**
 * Keeps the garbage of decoders bounded in a long decode of many chunks. The JavaScript
 * decoders (XZ, LZFSE, bzip2, ADC) allocate their windows and dictionaries per chunk; V8 frees
 * such array buffers only when a full collection runs, and it starts one for array buffers only
 * after 64 MiB more of them than at the last. A 256 MiB extract of 1 MiB LZFSE chunks thus held
 * ~68 MiB of dead buffers per thread (129 MiB resident with one thread); collecting once
 * 3 MiB of them have piled up held it to ~70-77 MiB, for a few milliseconds per collection.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** A full collection once the thread's array buffers grow by this much. */
export const GC_SLACK = 3 * 1024 * 1024;

/** The engine's full collection, or null where it cannot be had. */
let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect !== undefined) return collect;
  // A process started with --expose-gc already has one: its flag is left as it is.
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === "function") {
    collect = own as () => void;
    return collect;
  }
  try {
    // The flag only decides whether a new context gets a `gc` function; it is set back at once
    // so that no other context (a caller's vm code) gets one.
    setFlagsFromString("--expose-gc");
    const fn = runInNewContext("gc") as unknown;
    collect = typeof fn === "function" ? (fn as () => void) : null;
  } catch {
    collect = null;
  } finally {
    setFlagsFromString("--no-expose-gc");
  }
  return collect;
}

/** The bytes of the thread's array buffers (the allocator's count, exact after a collection). */
function external(): number {
  return process.memoryUsage().arrayBuffers;
}

/** This thread's pacer (the consumer and a lane in one thread share it). */
let shared: GcPacer | undefined;

/** The pacer of the calling thread. */
export function threadPacer(): GcPacer {
  shared ??= new GcPacer();
  return shared;
}

/**
 * Call {@link GcPacer.check} after each chunk: it runs a full collection of this thread's
 * heap when external memory has grown by more than `slack` bytes since the last one.
 */
export class GcPacer {
  private floor = external();
  /** A collection ran at the last check: its buffers may still be being freed. */
  private settling = false;
  /** Times this pacer was consulted, and collections it ran. */
  checks = 0;
  collections = 0;

  constructor(private readonly slack = GC_SLACK) {}

  /** Collect now if the decoders' garbage has passed the slack; true when it did. */
  check(): boolean {
    this.checks++;
    const now = external();
    if (this.settling) {
      // The engine frees collected buffers in the background: the new floor is taken one
      // chunk later, else buffers still being freed would raise it for good.
      this.settling = false;
      this.floor = now;
      return false;
    }
    if (now - this.floor <= this.slack) return false;
    const gc = collector();
    if (!gc) {
      // No collector: stop looking (the engine's own limit still applies).
      this.floor = Number.POSITIVE_INFINITY;
      return false;
    }
    gc();
    this.collections++;
    this.settling = true;
    return true;
  }
}
