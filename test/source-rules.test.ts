/**
 * Rules of the sources that a linter does not check, enforced by reading them:
 * - no spread of an array into a call's arguments (`push(...list)`, `Math.max(...list)`): every
 *   argument goes on the stack, and a list an attacker sizes (findings of two million chunks,
 *   150,000 operands) overflows it with a RangeError (attack class G35).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..", "src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return p.endsWith(".ts") ? [p] : [];
  });
}

/** `file:line: text` of every spread argument of a call or `new` in `path`. */
function callSpreads(path: string): string[] {
  const text = readFileSync(path, "utf8");
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isCallExpression(node) || ts.isNewExpression(node)) &&
      node.arguments?.some((a) => ts.isSpreadElement(a))
    ) {
      const { line } = file.getLineAndCharacterOfPosition(node.getStart());
      found.push(`${relative(SRC, path)}:${line + 1}: ${node.getText().slice(0, 60)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

describe("source rules", () => {
  it("spreads no array into a call's arguments", () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(50);
    expect(files.flatMap(callSpreads)).toEqual([]);
  });

  it("finds such a spread when there is one (the rule can fail)", () => {
    const probe = join(import.meta.dirname, "fixtures", "call-spread.ts.txt");
    expect(callSpreads(probe)).toHaveLength(2);
  });
});
