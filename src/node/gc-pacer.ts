/**
 * Keeps the garbage of decoders bounded in a long decode of many chunks. The JavaScript
 * decoders (XZ, LZFSE, bzip2, ADC) allocate their windows and dictionaries per chunk; V8 frees
 * such array buffers only when a full collection runs, and it starts one for array buffers only
 * after 64 MiB more of them than at the last. A 256 MiB extract of 1 MiB LZFSE chunks thus held
 * ~68 MiB of dead buffers per thread (129 MiB resident with one thread); collecting once
 * 3 MiB of them have piled up held it to ~70-77 MiB, for a few milliseconds per collection.
 */
/** A full collection once the thread's array buffers grow by this much. */
export const GC_SLACK = 3 * 1024 * 1024;

/** The collector given by {@link useCollector}. */
let installed: (() => void) | undefined;

/**
 * Give the pacers the engine's full collection. The CLI gets one at start-up, while its
 * process has one thread: getting it means setting a V8 flag for a moment, and V8's flags are
 * the process's, so setting one while worker isolates run crashed the process (a native
 * assertion in the platform's task runner) about one run in three. Nothing here sets flags.
 */
export function useCollector(fn: () => void): void {
  installed = fn;
}

/** The collection to run: the one given, else a process's own `gc` (--expose-gc), else none. */
function collector(): (() => void) | undefined {
  if (installed) return installed;
  const own = (globalThis as { gc?: unknown }).gc;
  return typeof own === "function" ? (own as () => void) : undefined;
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

  /** `collect`: the collection to run (default: the one given to {@link useCollector}). */
  constructor(
    private readonly slack = GC_SLACK,
    private readonly collect?: () => void,
  ) {}

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
    const gc = this.collect ?? collector();
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
