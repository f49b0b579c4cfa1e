/**
 * A cursor made on first use by an asynchronous step: a codec whose decoder, or whose slower
 * half, is a module loaded on need hands this out from the synchronous `open` and `resume`.
 * Errors of the step (a refused point, a budget) surface from the first `next`, as decode
 * errors do.
 */
import type { ChunkCursor } from "./codec.js";

class DeferredCursor implements ChunkCursor {
  private real: ChunkCursor | undefined;
  private making: Promise<ChunkCursor> | undefined;
  private closed = false;

  constructor(
    private readonly make: () => Promise<ChunkCursor>,
    private readonly start: number,
  ) {}

  get position(): number {
    return this.real ? this.real.position : this.start;
  }

  async next(max: number): Promise<Uint8Array> {
    if (!this.real) {
      this.making ??= this.make();
      const real = await this.making;
      this.real = real;
      // Closed while the module loaded: what it made holds memory until closed too.
      if (this.closed) real.close();
    }
    return this.real.next(max);
  }

  close(): void {
    this.closed = true;
    this.real?.close();
  }
}

/** A cursor that `make` builds at the first `next`; `start` is its decoded position until then. */
export function deferredCursor(make: () => Promise<ChunkCursor>, start = 0): ChunkCursor {
  return new DeferredCursor(make, start);
}
