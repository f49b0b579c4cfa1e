/** Reading the expectations of corpus/real/README.md. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const CORPUS = join(import.meta.dirname, "..", "..", "corpus");
export const REAL = join(CORPUS, "real");

export interface RealExpectation {
  file: string;
  what: string;
  /** Disk size, or undefined when the file must be rejected. */
  size?: number;
  sha256?: string;
}

/** The rows of the table in corpus/real/README.md. */
export function realExpectations(): RealExpectation[] {
  const text = readFileSync(join(REAL, "README.md"), "utf8");
  const rows: RealExpectation[] = [];
  for (const line of text.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 7 || !cells[1].endsWith(".dmg")) continue;
    const [, file, , what, size, sha] = cells;
    rows.push(size === "-" ? { file, what } : { file, what, size: Number(size), sha256: sha });
  }
  return rows;
}
