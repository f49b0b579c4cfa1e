/**
 * The vocabulary of the property list as the tree builder sees it: which element may stand
 * where, the frame an open element is read into, and the value a closed element makes
 * (all but `<data>`, whose text the builder decodes from the plist's bytes).
 */

import { at, DmgError } from "../core/errors.js";
import type { Budget } from "../core/limits.js";
import type { PlistValue } from "./plist.js";
import { BLKX } from "./resources.js";

/** Deepest nesting accepted (a UDIF plist nests 6 levels). Attack class B11. */
export const PLIST_MAX_DEPTH = 32;

/** Most attributes of one start tag (a plist element has at most one). Attack class G37. */
export const PLIST_MAX_ATTRIBUTES = 8;

/** Most elements accepted: a blkx dict costs about 11, so this scales with the table budget. */
export function elementLimit(budget: Budget): number {
  return 64 * budget.maxTables + 65_536;
}

/** Element names of the plist vocabulary. */
const CONTAINERS = new Set(["dict", "array"]);
export const TEXT_LEAVES = new Set(["key", "string", "data", "integer", "real", "date"]);
const EMPTY_LEAVES = new Set(["true", "false"]);

/** A dict frame's place in the UDIF structure, so blkx entries can be counted as they stream in. */
const ROLE_NONE = 0;
const ROLE_ROOT_DICT = 1;
const ROLE_RESOURCE_FORK = 2;
export const ROLE_BLKX = 3;

/** An open element. */
export interface Frame {
  name: string;
  /** Byte offset of the element's `<`. */
  offset: number;
  /** Index in the plist's bytes just after the start tag's `>`. */
  textByte: number;
  /** A `<data>` element: where its base64-only text ends (-1: it is not base64 only). */
  rawEnd?: number;
  /** A skipped `<data>` element's bytes, decoded between pieces before its end tag is read. */
  decoded?: Uint8Array;
  role: number;
  /** Text pieces of a leaf element, joined once at its end. */
  text: string[];
  /** Characters of `text` so far (names are bounded by maxNameBytes). */
  textLength?: number;
  entries?: Map<string, PlistValue>;
  items?: PlistValue[];
  /** A dict's key waiting for its value. */
  key?: string;
  /** The value held by `<plist>`. */
  value?: PlistValue;
}

/** A PLIST_STRUCTURE error: the XML is well-formed but not a property list as read here. */
export function structureError(msg: string, off: number): DmgError {
  return new DmgError("PLIST_STRUCTURE", `property list at ${at(off)}: ${msg}`, off);
}

/** A string quoted for a message, cut to 40 characters. */
export function preview(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return JSON.stringify(t);
}

/**
 * Check that element `name`, starting at file offset `offset`, may open inside `parent`
 * (undefined: it is the root).
 *
 * @throws DmgError PLIST_STRUCTURE
 */
export function checkPlacement(parent: Frame | undefined, name: string, offset: number): void {
  if (parent === undefined) {
    if (name !== "plist") throw structureError(`root element is <${name}>, not <plist>`, offset);
    return;
  }
  if (
    name === "plist" ||
    (!CONTAINERS.has(name) && !TEXT_LEAVES.has(name) && !EMPTY_LEAVES.has(name))
  ) {
    throw structureError(`unexpected element <${name}> inside <${parent.name}>`, offset);
  }
  if (parent.name === "plist") {
    if (parent.value !== undefined || name === "key") {
      throw structureError(`<plist> holds more than one value, or a <key>`, offset);
    }
  } else if (parent.name === "dict") {
    if (name === "key" && parent.key !== undefined) {
      throw structureError(
        `<key> ${preview(parent.key)} has no value before the next <key>`,
        offset,
      );
    }
    if (name !== "key" && parent.key === undefined) {
      throw structureError(`<${name}> inside <dict> without a <key> before it`, offset);
    }
  } else if (parent.name === "array") {
    if (name === "key") throw structureError("<key> inside <array>", offset);
  } else {
    throw structureError(`element <${name}> inside <${parent.name}>`, offset);
  }
}

/** The role of element `name` opening inside `parent`: where it stands in the UDIF structure. */
export function roleOf(parent: Frame | undefined, name: string): number {
  if (parent === undefined) return ROLE_NONE;
  if (name === "dict" && parent.name === "plist") return ROLE_ROOT_DICT;
  if (name === "dict" && parent.role === ROLE_ROOT_DICT && parent.key === "resource-fork")
    return ROLE_RESOURCE_FORK;
  if (name === "array" && parent.role === ROLE_RESOURCE_FORK && parent.key === BLKX)
    return ROLE_BLKX;
  return ROLE_NONE;
}

const INTEGER_RE = /^[+-]?(?:[0-9]+|0[xX][0-9a-fA-F]+)$/;
const REAL_RE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const REAL_WORDS: Record<string, number> = {
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  "+inf": Number.POSITIVE_INFINITY,
  "-inf": Number.NEGATIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  "+infinity": Number.POSITIVE_INFINITY,
  "-infinity": Number.NEGATIVE_INFINITY,
};
/** Longest integer or real text parsed: bigint parsing of huge digit strings is superlinear. */
const MAX_NUMBER_TEXT = 128;

/**
 * The value of a closed element other than `<data>`; a `<key>` gives a string value.
 *
 * @throws DmgError PLIST_STRUCTURE
 */
export function frameValue(f: Frame): PlistValue | undefined {
  const offset = f.offset;
  switch (f.name) {
    case "plist":
      if (f.value === undefined) throw structureError("<plist> holds no value", offset);
      return f.value;
    case "dict":
      if (f.key !== undefined) {
        throw structureError(`<key> ${preview(f.key)} has no value before </dict>`, offset);
      }
      return { type: "dict", entries: f.entries as Map<string, PlistValue>, offset };
    case "array":
      return { type: "array", items: f.items as PlistValue[], offset };
    case "true":
    case "false":
      return { type: "boolean", value: f.name === "true", offset };
    default:
      break;
  }
  const s = f.text.length === 1 ? f.text[0] : f.text.join("");
  f.text.length = 0;
  switch (f.name) {
    case "key":
    case "string":
      return { type: "string", value: s, offset };
    case "integer": {
      const t = s.trim();
      if (t.length > MAX_NUMBER_TEXT || !INTEGER_RE.test(t)) {
        throw structureError(`<integer> ${preview(s)} is not an integer`, offset);
      }
      const neg = t.startsWith("-");
      const digits = t.replace(/^[+-]/, "");
      const n = BigInt(digits);
      return { type: "integer", value: neg ? -n : n, offset };
    }
    case "real": {
      const t = s.trim();
      const word = REAL_WORDS[t.toLowerCase()];
      if (Object.hasOwn(REAL_WORDS, t.toLowerCase())) return { type: "real", value: word, offset };
      if (t.length > MAX_NUMBER_TEXT || !REAL_RE.test(t)) {
        throw structureError(`<real> ${preview(s)} is not a number`, offset);
      }
      return { type: "real", value: Number(t), offset };
    }
    default:
      return { type: "date", value: s.trim(), offset };
  }
}
