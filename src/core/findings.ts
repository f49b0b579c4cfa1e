/**
 * The findings of one report, kept up to a budget. A table of two million chunks that all fail
 * to decode would otherwise keep two million findings (~400 bytes each): the first
 * `maxFindings` of each severity are kept, the rest only counted, and one FINDINGS_DROPPED
 * warning says how many (attack class G35).
 */
import { type Finding, isBudgetCode, warning } from "./errors.js";

/**
 * Budget findings kept past the cap. A budget (or the deadline) stops the operation, so one
 * arrives at most once per stage; this bounds the list even if a stage is wrong about that.
 */
const MAX_STOPS_PAST_CAP = 8;

/**
 * Findings of one severity: the first `limit` kept, the others counted. A finding that says
 * why the operation stopped (a budget, the deadline) is kept even past the cap: after a flood
 * of failing chunks, a report must still say that it was cut short (G35).
 */
export class FindingList {
  readonly kept: Finding[] = [];
  dropped = 0;
  /** A budget finding was added (kept or not). */
  overBudget = false;
  private stopsPastCap = 0;

  constructor(readonly limit: number) {}

  add(f: Finding): void {
    const budget = isBudgetCode(f.code);
    if (budget) this.overBudget = true;
    if (this.kept.length < this.limit) this.kept.push(f);
    else if (budget && this.stopsPastCap < MAX_STOPS_PAST_CAP) {
      this.stopsPastCap++;
      this.kept.push(f);
    } else this.dropped++;
  }

  /**
   * Add `f` as if it had been added when `kept` held `at` findings: a check that ends after
   * later ones (the data fork's CRC, finished after the chunks) keeps its place in the report.
   */
  insert(at: number, f: Finding): void {
    if (at >= this.kept.length) {
      this.add(f);
      return;
    }
    if (isBudgetCode(f.code)) this.overBudget = true;
    this.kept.splice(at, 0, f);
    // The list was full: the last finding that is not a budget stop is now past the cap.
    if (this.kept.length > this.limit + this.stopsPastCap) {
      let i = this.kept.length - 1;
      while (i > at && isBudgetCode(this.kept[i].code)) i--;
      this.kept.splice(i, 1);
      this.dropped++;
    }
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
