/**
 * The published API as its types describe it (dist/*.d.ts, built with stripInternal): they
 * compile on their own, nothing internal leaks into them, and every type a public declaration
 * mentions is exported from the entry that declares it, so users can name what they are given.
 */
import { existsSync } from "node:fs";
import { join, relative } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const DIST = process.env.DTS_DIR ?? join(import.meta.dirname, "..", "dist");
const ENTRIES = [join(DIST, "index.d.ts"), join(DIST, "node", "index.d.ts")];

function program(): ts.Program {
  return ts.createProgram(ENTRIES, {
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    types: ["node"],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  });
}

/** Names of our own types that declarations exported from `entry` refer to but it does not export. */
function unexported(p: ts.Program, entry: string): string[] {
  const checker = p.getTypeChecker();
  const file = p.getSourceFile(entry);
  if (!file) throw new Error(`no ${entry}`);
  const moduleSymbol = checker.getSymbolAtLocation(file) as ts.Symbol;
  const exported = new Set<ts.Symbol>();
  for (const s of checker.getExportsOfModule(moduleSymbol)) {
    exported.add(s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  }
  const missing = new Set<string>();
  const seen = new Set<ts.Node>();
  const visit = (node: ts.Node): void => {
    if (seen.has(node)) return;
    seen.add(node);
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
      const name = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
      let s = checker.getSymbolAtLocation(name);
      if (s && s.flags & ts.SymbolFlags.Alias) s = checker.getAliasedSymbol(s);
      const decl = s?.declarations?.[0];
      const file = decl?.getSourceFile().fileName ?? "";
      const ours =
        file.startsWith(DIST) && decl !== undefined && !ts.isTypeParameterDeclaration(decl);
      if (s && ours && !exported.has(s)) missing.add(`${s.name} (${relative(DIST, file)})`);
    }
    ts.forEachChild(node, visit);
  };
  for (const s of exported) for (const d of s.declarations ?? []) visit(d);
  return [...missing].sort();
}

describe("the published types", () => {
  it("are built", () => {
    for (const e of ENTRIES) expect(existsSync(e)).toBe(true);
  });

  it("compile on their own", () => {
    const p = program();
    const errors = ts
      .getPreEmitDiagnostics(p)
      .filter((d) => d.file?.fileName.startsWith(DIST))
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(errors).toEqual([]);
  });

  it.each(ENTRIES.map((e) => [relative(DIST, e), e]))(
    "%s exports every type its declarations mention",
    (_, entry) => {
      expect(unexported(program(), entry)).toEqual([]);
    },
  );
});
