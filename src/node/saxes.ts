/**
 * saxes as Node loads it most cheaply. saxes is a CommonJS package: imported from an ES
 * module, Node first scans its source for export names (cjs-module-lexer), which raises the
 * peak resident memory of a process by about 8 MB (`dmg-validate info`); `require` does not.
 * package.json's `imports` maps "#saxes" here under the "node" condition, and to saxes itself
 * under "development" (tests and dev servers, which run the sources) and everywhere else.
 */
import { createRequire } from "node:module";

type Saxes = typeof import("saxes");

/** saxes' streaming XML parser. */
export const SaxesParser: Saxes["SaxesParser"] = (createRequire(import.meta.url)("saxes") as Saxes)
  .SaxesParser;
