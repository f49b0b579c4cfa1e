/**
 * A file's outcome as every report format takes it: the validation report, or the exception
 * that was a bug of this tool. Pure data and functions: the CLI and the web page share them.
 */
import type { Finding } from "../core/errors.js";
import type { ValidationReport } from "../image/validate.js";

/** A file's outcome: its report, or the exception that was a bug. */
export type Outcome = { report: ValidationReport } | { internal: string };

/** What became of a file, as summaries name it. */
export type Verdict = "valid" | "invalid" | "over budget" | "internal error";

/** The verdict of `outcome`. */
export function verdict(outcome: Outcome): Verdict {
  if ("internal" in outcome) return "internal error";
  const r = outcome.report;
  return r.ok ? "valid" : r.overBudget ? "over budget" : "invalid";
}

/** The rule of a code: what SARIF viewers show for it. */
export interface Rule {
  id: string;
  level: "error" | "warning";
  short: string;
  /** What it means and what it exists for (SECURITY.md's words, where they were read). */
  help: string;
}

/** The rule of an exception that is not a DmgError: a bug of this tool. */
export const INTERNAL: Rule = {
  id: "INTERNAL_ERROR",
  level: "error",
  short: "dmg-validate failed with an internal error (a bug: please report it)",
  help: "An exception that is not a DmgError escaped the library: a bug, whatever the input.",
};

/** The finding that stands for a bug of this tool: an INTERNAL_ERROR error with its message. */
export function internalFinding(message: string): Finding {
  return { severity: "error", code: INTERNAL.id as Finding["code"], message, offset: -1 };
}

/** The errors and warnings of `outcome`; a bug is one {@link internalFinding}. */
export function findingsOf(outcome: Outcome): {
  errors: readonly Finding[];
  warnings: readonly Finding[];
} {
  if ("internal" in outcome) return { errors: [internalFinding(outcome.internal)], warnings: [] };
  return outcome.report;
}
