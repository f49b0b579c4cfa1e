/**
 * The findings of one report, kept up to a budget. A table of two million chunks that all fail
 * to decode would otherwise keep two million findings (~400 bytes each): the first
 * `maxFindings` of each severity are kept, the rest only counted, and one FINDINGS_DROPPED
 * warning says how many (attack class G35).
 */
import { type Finding, warning } from "./errors.js";

/** Findings of one severity: the first `limit` kept, the others counted. */
export class FindingList {
  readonly kept: Finding[] = [];
  dropped = 0;

  constructor(readonly limit: number) {}

  add(f: Finding): void {
    if (this.kept.length < this.limit) this.kept.push(f);
    else this.dropped++;
  }

  /** Add each of `list` (a loop, never a spread: `list` may hold millions). */
  addAll(list: Iterable<Finding>): void {
    for (const f of list) this.add(f);
  }

  /** Findings seen, kept or not. */
  get total(): number {
    return this.kept.length + this.dropped;
  }
}

/**
 * The warning that reports dropped findings, or undefined when none were dropped. It is
 * added past the cap: a report always says that it is incomplete.
 */
export function droppedWarning(errors: FindingList, warnings: FindingList): Finding | undefined {
  if (errors.dropped === 0 && warnings.dropped === 0) return undefined;
  return warning(
    "FINDINGS_DROPPED",
    `${errors.dropped} more errors and ${warnings.dropped} more warnings were found and not kept (the report keeps ${errors.limit} of each; raise maxFindings)`,
  );
}
