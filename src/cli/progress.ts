/**
 * A one-line progress bar on standard error, drawn only on a terminal and only for long work
 * (more than 64 MiB, or more than a second), and erased when done.
 */

import { sanitize } from "../core/text.js";
import type { OutStream } from "./io.js";
import { humanBytes } from "./output.js";

/** Work at least this large shows a bar from the start. */
export const BIG_WORK = 64 * 1024 * 1024;
/** Smaller work shows a bar once it has taken this long, in milliseconds. */
export const SLOW_WORK_MS = 1000;
const REDRAW_MS = 100;

/** The bar of one piece of work: feed it {@link Progress.update}, then {@link Progress.clear}. */
export class Progress {
  private readonly start = Date.now();
  private lastDraw = 0;
  private drawn = false;

  /** `enabled` false (JSON mode, not a terminal) makes every method a no-op. */
  private readonly label: string;

  constructor(
    private readonly s: OutStream,
    label: string,
    private readonly enabled: boolean,
  ) {
    this.label = sanitize(label);
  }

  /** Record progress: `done` of `total` bytes. */
  update = (done: number, total: number): void => {
    if (!this.enabled) return;
    const now = Date.now();
    if (total < BIG_WORK && now - this.start < SLOW_WORK_MS) return;
    if (this.drawn && now - this.lastDraw < REDRAW_MS && done < total) return;
    this.lastDraw = now;
    this.drawn = true;
    const cols = Math.max(40, this.s.columns || 80) - 1;
    const frac = total > 0 ? Math.min(1, done / total) : 1;
    const pct = `${Math.floor(frac * 100)}%`.padStart(4);
    const counts = `${humanBytes(done)} / ${humanBytes(total)}`;
    const barWidth = Math.max(10, Math.min(40, cols - counts.length - pct.length - 20));
    const fill = Math.round(frac * barWidth);
    const bar = `[${"#".repeat(fill)}${".".repeat(barWidth - fill)}]`;
    const room = cols - bar.length - pct.length - counts.length - 4;
    const label =
      room < 8 ? "" : this.label.length > room ? `...${this.label.slice(-(room - 3))}` : this.label;
    this.s.write(`\r${label} ${bar} ${pct} ${counts}\x1b[K`, () => undefined);
  };

  /** Erase the bar, if one was drawn. Call before printing anything else. */
  clear(): void {
    if (!this.drawn) return;
    this.drawn = false;
    this.s.write("\r\x1b[K", () => undefined);
  }
}

/** True when a progress bar may be drawn on `s`. */
export function progressWanted(s: OutStream, json: boolean): boolean {
  return !json && s.isTTY === true;
}
