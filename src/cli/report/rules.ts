/**
 * One rule per code, for SARIF: every error and warning code with its short description (from
 * the code lists) and its help, read from SECURITY.md's tables, which say what each code means
 * and which attack class or real file it exists for. SECURITY.md ships in the package.
 */
import { readFileSync } from "node:fs";
import type { Rule } from "../../report/outcome.js";
import { rulesWith } from "../../report/sarif.js";
import { packageFile } from "../package-file.js";

export type { Rule } from "../../report/outcome.js";

/** `| \`CODE\` | meaning | exists for |` rows of SECURITY.md, by code. */
function securityRows(): Map<string, string> {
  const rows = new Map<string, string>();
  let text = "";
  try {
    text = readFileSync(packageFile("SECURITY.md"), "utf8");
  } catch {
    return rows; // the short descriptions remain
  }
  for (const line of text.split("\n")) {
    const cells = line.trim().split(" | ");
    if (!line.trim().startsWith("|") || cells.length < 3) continue;
    const clean = (c: string) => c.replace(/^\| ?| ?\|$/g, "").trim();
    // The codes tables: `CODE` | meaning | exists for.
    const code = /^`([A-Z0-9_]+)`$/.exec(clean(cells[0]));
    if (code && cells.length === 3 && !rows.has(code[1])) {
      rows.set(code[1], `${clean(cells[1])} (exists for: ${clean(cells[2])})`);
    }
    // The budgets table: `key` | `flag` | default | `CODE` | rationale.
    const budget = cells.length === 5 ? /^`([A-Z0-9_]+)`$/.exec(clean(cells[3])) : null;
    if (budget) {
      const about = `Budget ${clean(cells[0])} (${clean(cells[1])}, default ${clean(cells[2])}): ${clean(cells[4])}`;
      rows.set(budget[1], rows.has(budget[1]) ? `${rows.get(budget[1])} ${about}` : about);
    }
  }
  return rows;
}

let cached: Rule[] | undefined;

/** Every rule, errors first, each code once, with SECURITY.md's help. */
export function rules(): Rule[] {
  cached ??= rulesWith(securityRows());
  return cached;
}
