/**
 * The XML property list that carries the partition tables of a UDIF image:
 * `plist > dict > resource-fork > dict > blkx > array of dicts`, each dict with `Attributes`,
 * `CFName`, `Data` (base64 mish block), `ID` and `Name`.
 *
 * Parsing is strict XML (saxes) with no DTD processing: a DOCTYPE with an internal subset is
 * refused outright, and only the five predefined entities and numeric character references
 * are expanded. The value tree is built without recursion, with a depth limit and an element
 * limit, so neither deep nesting nor a flood of tiny elements can exhaust the stack or memory.
 *
 * File offsets: saxes reports positions as indexes into the decoded string. They are turned
 * into exact byte offsets (for pure-ASCII text, which real property lists are, the two are
 * equal; otherwise the UTF-8 lengths of the characters before are summed). The offset of a
 * base64 error inside `<data>` counts from the text after `<data>` and is exact unless the
 * element's text holds CR LF pairs, comments, CDATA sections or character references.
 */
import { SaxesParser } from "saxes";
import type { Budget } from "../budget.js";
import { at, DmgError, type ErrorLocation } from "../errors.js";
import { decodeBase64, encodeBase64 } from "./base64.js";
import { BLKX, type BlkxResource, type ResourceMap } from "./resources.js";

/** Deepest nesting accepted (a UDIF plist nests 6 levels). Attack class B11. */
export const PLIST_MAX_DEPTH = 32;

/** A value of the property list, with the file offset of its element. */
export type PlistValue =
  | { type: "dict"; entries: Map<string, PlistValue>; offset: number }
  | { type: "array"; items: PlistValue[]; offset: number }
  | { type: "string"; value: string; offset: number }
  | { type: "data"; value: Uint8Array; offset: number }
  | { type: "integer"; value: bigint; offset: number }
  | { type: "real"; value: number; offset: number }
  | { type: "boolean"; value: boolean; offset: number }
  | { type: "date"; value: string; offset: number };

/** Element names of the plist vocabulary. */
const CONTAINERS = new Set(["dict", "array"]);
const TEXT_LEAVES = new Set(["key", "string", "data", "integer", "real", "date"]);
const EMPTY_LEAVES = new Set(["true", "false"]);

/** A dict frame's place in the UDIF structure, so blkx entries can be counted as they stream in. */
const ROLE_NONE = 0;
const ROLE_ROOT_DICT = 1;
const ROLE_RESOURCE_FORK = 2;
const ROLE_BLKX = 3;

interface Frame {
  name: string;
  /** Byte offset of the element's `<`. */
  offset: number;
  /** String index just after the start tag's `>`. */
  textStart: number;
  role: number;
  /** Text pieces of a leaf element, joined once at its end. */
  text: string[];
  entries?: Map<string, PlistValue>;
  items?: PlistValue[];
  /** A dict's key waiting for its value. */
  key?: string;
  /** The value held by `<plist>`. */
  value?: PlistValue;
}

/** Most elements accepted: a blkx dict costs about 11, so this scales with the table budget. */
function elementLimit(budget: Budget): number {
  return 64 * budget.maxTables + 65_536;
}

/** String index to exact file offset. Queries are mostly increasing, so the walk is amortized linear. */
class Offsets {
  private ci = 0;
  private bi = 0;
  constructor(
    private readonly text: string,
    private readonly base: number,
    private readonly ascii: boolean,
  ) {}

  at(index: number): number {
    if (index < 0) index = 0;
    if (this.ascii) return this.base + index;
    if (index < this.ci) {
      this.ci = 0;
      this.bi = 0;
    }
    const t = this.text;
    const end = Math.min(index, t.length);
    let ci = this.ci;
    let bi = this.bi;
    while (ci < end) {
      const c = t.charCodeAt(ci);
      if (c < 0x80) bi += 1;
      else if (c < 0x800) bi += 2;
      else if (c >= 0xd800 && c <= 0xdbff) {
        bi += 4; // a surrogate pair: two string indexes, four UTF-8 bytes
        ci++;
      } else bi += 3;
      ci++;
    }
    this.ci = ci;
    this.bi = bi;
    return this.base + bi;
  }
}

/** Index of the first byte that starts an invalid UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  const cont = (i: number, lo = 0x80, hi = 0xbf): boolean => i < n && b[i] >= lo && b[i] <= hi;
  let i = 0;
  while (i < n) {
    const x = b[i];
    if (x < 0x80) {
      i++;
    } else if (x >= 0xc2 && x <= 0xdf) {
      if (!cont(i + 1)) return i;
      i += 2;
    } else if (x >= 0xe0 && x <= 0xef) {
      const lo = x === 0xe0 ? 0xa0 : 0x80;
      const hi = x === 0xed ? 0x9f : 0xbf;
      if (!cont(i + 1, lo, hi) || !cont(i + 2)) return i;
      i += 3;
    } else if (x >= 0xf0 && x <= 0xf4) {
      const lo = x === 0xf0 ? 0x90 : 0x80;
      const hi = x === 0xf4 ? 0x8f : 0xbf;
      if (!cont(i + 1, lo, hi) || !cont(i + 2) || !cont(i + 3)) return i;
      i += 4;
    } else {
      return i;
    }
  }
  return -1;
}

function isXmlSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return false;
  }
  return true;
}

/** Index of the first `[` outside quoted literals in a DOCTYPE's text, or -1. */
function internalSubsetStart(doctype: string): number {
  let quote = 0;
  for (let i = 0; i < doctype.length; i++) {
    const c = doctype.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) {
      quote = c;
    } else if (c === 0x5b) {
      return i;
    }
  }
  return -1;
}

function preview(s: string): string {
  const t = s.length > 40 ? `${s.slice(0, 40)}...` : s;
  return JSON.stringify(t);
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
 * Parse an XML property list into its value tree.
 *
 * @param xml the property list bytes (UTF-8)
 * @param fileOffset file offset of `xml[0]`, for element offsets and error offsets
 * @param budget `maxPlistBytes` bounds the input; `maxTables` bounds the blkx entries and,
 *   scaled, the number of elements
 * @returns the value held by `<plist>`
 * @throws DmgError BUDGET_PLIST_BYTES, BUDGET_TABLES, PLIST_MALFORMED, PLIST_DOCTYPE,
 *   PLIST_STRUCTURE, PLIST_BASE64
 */
export function parsePlistValue(xml: Uint8Array, fileOffset: number, budget: Budget): PlistValue {
  // Attack class A5 / B11: the plist is held whole, so its size is bounded before anything else.
  if (xml.length > budget.maxPlistBytes) {
    throw new DmgError(
      "BUDGET_PLIST_BYTES",
      `XML property list is ${xml.length} bytes, over the ${budget.maxPlistBytes}-byte budget (raise maxPlistBytes)`,
      fileOffset,
    );
  }
  // Attack class B14: a NUL byte is never XML; saying so here gives its exact offset.
  const nul = xml.indexOf(0);
  if (nul >= 0) {
    throw new DmgError(
      "PLIST_MALFORMED",
      `XML property list holds a NUL byte at ${at(fileOffset + nul)}`,
      fileOffset + nul,
    );
  }
  let text: string;
  try {
    // ignoreBOM keeps a leading BOM in the string, so string indexes and bytes stay aligned
    // (saxes skips it).
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(xml);
  } catch (e) {
    // Attack class B14: invalid UTF-8. A string too long for the engine also lands here.
    if (e instanceof RangeError) {
      throw new DmgError(
        "BUDGET_PLIST_BYTES",
        `XML property list of ${xml.length} bytes is too large to decode as a string`,
        fileOffset,
      );
    }
    const bad = Math.max(0, firstInvalidUtf8(xml));
    throw new DmgError(
      "PLIST_MALFORMED",
      `XML property list is not valid UTF-8 at ${at(fileOffset + bad)}`,
      fileOffset + bad,
    );
  }
  return buildTree(text, new Offsets(text, fileOffset, text.length === xml.length), budget);
}

function buildTree(text: string, offsets: Offsets, budget: Budget): PlistValue {
  const parser = new SaxesParser({ position: true });
  // Only the five predefined entities, in an object without a prototype: saxes looks entity
  // names up by property, and "&constructor;" must not find Object's.
  const entities: Record<string, string> = Object.create(null);
  entities.amp = "&";
  entities.lt = "<";
  entities.gt = ">";
  entities.quot = '"';
  entities.apos = "'";
  parser.ENTITIES = entities;

  const here = (): number => offsets.at(parser.position);
  const malformed = (msg: string, off = here()): DmgError =>
    new DmgError(
      "PLIST_MALFORMED",
      `XML property list is not well-formed at ${at(off)}: ${msg}`,
      off,
    );
  const structure = (msg: string, off: number): DmgError =>
    new DmgError("PLIST_STRUCTURE", `property list at ${at(off)}: ${msg}`, off);

  const maxElements = elementLimit(budget);
  let elements = 0;
  const stack: Frame[] = [];
  let root: PlistValue | undefined;

  // Few handlers on purpose: saxes stores each as a new property of the parser, and past
  // about eight V8 moves the parser to slow properties, which made a 60 MB plist parse 7 times
  // slower. Errors are left to saxes' default (it throws), the XML declaration is checked
  // when the prolog ends, and a tag's start is found from its end.
  let declChecked = false;
  const checkDecl = (): void => {
    if (declChecked) return;
    declChecked = true;
    // The bytes are decoded as UTF-8 whatever the declaration says; another declared encoding
    // means another reader would see other text.
    const decl = parser.xmlDecl;
    if (decl.version !== undefined && decl.version !== "1.0") {
      throw malformed(`XML version ${decl.version}, only 1.0 is read`, offsets.at(0));
    }
    const enc = decl.encoding?.toLowerCase();
    if (enc !== undefined && enc !== "utf-8" && enc !== "utf8" && enc !== "us-ascii") {
      throw malformed(`declared encoding ${decl.encoding}, only UTF-8 is read`, offsets.at(0));
    }
  };
  parser.on("doctype", (doctype: string) => {
    checkDecl();
    // Attack class B10 (billion laughs; ClamAV CVE-2023-20052 read a SYSTEM entity): entity
    // declarations live only in an internal subset, so any internal subset is refused. An
    // external DTD identifier alone (Apple's) is harmless: it is never fetched.
    const bracket = internalSubsetStart(doctype);
    if (bracket >= 0) {
      const start = Math.max(0, text.lastIndexOf("<!DOCTYPE", parser.position));
      const off = offsets.at(start);
      throw new DmgError(
        "PLIST_DOCTYPE",
        `XML property list at ${at(off)} has a DOCTYPE with an internal subset (entity declarations are refused)`,
        off,
      );
    }
  });
  parser.on("opentag", (tag) => {
    checkDecl();
    const name = tag.name;
    // saxes is just past the tag's '>'; XML allows no '<' inside a tag, so the last '<' before
    // is the tag's start.
    const offset = offsets.at(text.lastIndexOf("<", parser.position - 1));
    // Attack class B11: a flood of elements would build a huge tree.
    if (++elements > maxElements) {
      throw structure(
        `more than ${maxElements} elements (raise maxTables if this is honest)`,
        offset,
      );
    }
    // Attack class B11: nesting far deeper than a plist needs.
    if (stack.length >= PLIST_MAX_DEPTH) {
      throw structure(`elements nest deeper than ${PLIST_MAX_DEPTH} levels`, offset);
    }
    const parent = stack.length > 0 ? stack[stack.length - 1] : undefined;
    if (parent === undefined) {
      if (name !== "plist") throw structure(`root element is <${name}>, not <plist>`, offset);
    } else {
      if (
        name === "plist" ||
        (!CONTAINERS.has(name) && !TEXT_LEAVES.has(name) && !EMPTY_LEAVES.has(name))
      ) {
        throw structure(`unexpected element <${name}> inside <${parent.name}>`, offset);
      }
      if (parent.name === "plist") {
        if (parent.value !== undefined || name === "key") {
          throw structure(`<plist> holds more than one value, or a <key>`, offset);
        }
      } else if (parent.name === "dict") {
        if (name === "key" && parent.key !== undefined) {
          throw structure(
            `<key> ${preview(parent.key)} has no value before the next <key>`,
            offset,
          );
        }
        if (name !== "key" && parent.key === undefined) {
          throw structure(`<${name}> inside <dict> without a <key> before it`, offset);
        }
      } else if (parent.name === "array") {
        if (name === "key") throw structure("<key> inside <array>", offset);
      } else {
        throw structure(`element <${name}> inside <${parent.name}>`, offset);
      }
    }
    let role = ROLE_NONE;
    if (parent !== undefined) {
      if (name === "dict" && parent.name === "plist") role = ROLE_ROOT_DICT;
      else if (name === "dict" && parent.role === ROLE_ROOT_DICT && parent.key === "resource-fork")
        role = ROLE_RESOURCE_FORK;
      else if (name === "array" && parent.role === ROLE_RESOURCE_FORK && parent.key === BLKX)
        role = ROLE_BLKX;
    }
    const f: Frame = { name, offset, textStart: parser.position, role, text: [] };
    if (name === "dict") f.entries = new Map();
    else if (name === "array") f.items = [];
    stack.push(f);
  });
  const onText = (t: string): void => {
    const f = stack[stack.length - 1];
    if (f === undefined) return; // outside the root: saxes refuses anything but spaces
    if (TEXT_LEAVES.has(f.name)) {
      f.text.push(t);
    } else if (!isXmlSpace(t)) {
      throw structure(`text ${preview(t)} inside <${f.name}>`, here());
    }
  };
  parser.on("text", onText);
  parser.on("cdata", onText);
  parser.on("closetag", () => {
    const f = stack.pop() as Frame;
    const v = finish(f);
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      root = v;
      return;
    }
    if (f.name === "key") {
      const key = (v as { value: string }).value;
      // Two readers picking different duplicates would see different images.
      if (parent.entries?.has(key)) {
        throw structure(`duplicate key ${preview(key)} in <dict>`, f.offset);
      }
      parent.key = key;
      return;
    }
    if (v === undefined) return;
    if (parent.name === "dict") {
      parent.entries?.set(parent.key as string, v);
      parent.key = undefined;
    } else if (parent.name === "array") {
      const items = parent.items as PlistValue[];
      items.push(v);
      // Attack class B11: a million blkx entries, refused as they stream in.
      if (parent.role === ROLE_BLKX && items.length > budget.maxTables) {
        throw new DmgError(
          "BUDGET_TABLES",
          `blkx array has more than ${budget.maxTables} entries (raise maxTables)`,
          f.offset,
        );
      }
    } else {
      parent.value = v;
    }
  });

  const finish = (f: Frame): PlistValue | undefined => {
    const offset = f.offset;
    switch (f.name) {
      case "plist":
        if (f.value === undefined) throw structure("<plist> holds no value", offset);
        return f.value;
      case "dict":
        if (f.key !== undefined) {
          throw structure(`<key> ${preview(f.key)} has no value before </dict>`, offset);
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
      case "data":
        return {
          type: "data",
          value: decodeBase64(s, offsets.at(f.textStart), budget.maxPlistBytes),
          offset,
        };
      case "integer": {
        const t = s.trim();
        if (t.length > MAX_NUMBER_TEXT || !INTEGER_RE.test(t)) {
          throw structure(`<integer> ${preview(s)} is not an integer`, offset);
        }
        const neg = t.startsWith("-");
        const digits = t.replace(/^[+-]/, "");
        const n = BigInt(digits);
        return { type: "integer", value: neg ? -n : n, offset };
      }
      case "real": {
        const t = s.trim();
        const word = REAL_WORDS[t.toLowerCase()];
        if (Object.hasOwn(REAL_WORDS, t.toLowerCase()))
          return { type: "real", value: word, offset };
        if (t.length > MAX_NUMBER_TEXT || !REAL_RE.test(t)) {
          throw structure(`<real> ${preview(s)} is not a number`, offset);
        }
        return { type: "real", value: Number(t), offset };
      }
      default:
        return { type: "date", value: s.trim(), offset };
    }
  };

  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof DmgError) throw e;
    // saxes' own internal errors (and an engine limit such as a string too long).
    throw malformed(e instanceof Error ? e.message : String(e));
  }
  if (root === undefined) throw malformed("no <plist> element");
  return root;
}

/** The keys of a resource dict. */
const K_ATTRIBUTES = "Attributes";
const K_CFNAME = "CFName";
const K_DATA = "Data";
const K_ID = "ID";
const K_NAME = "Name";

function typeName(v: PlistValue): string {
  return v.type === "boolean" ? (v.value ? "<true/>" : "<false/>") : `<${v.type}>`;
}

interface ParsedResource {
  id: number;
  name: string;
  cfName?: string;
  attributes: number;
  data: Uint8Array;
  dataOffset: number;
}

/**
 * One resource dict. Strict on `Data` (required, a `<data>` element); lenient with defaults on
 * the rest, which no reader needs: `ID` defaults to the entry's index, `Attributes` to 0,
 * `Name` to "", `CFName` to absent. When present, each must have its proper type and syntax.
 */
function parseResource(
  v: PlistValue,
  type: string,
  index: number,
  where: ErrorLocation,
): ParsedResource {
  const structure = (msg: string, off: number): never => {
    throw new DmgError(
      "PLIST_STRUCTURE",
      `property list '${type}' entry ${index} at ${at(off)}: ${msg}`,
      off,
      where,
    );
  };
  if (v.type !== "dict") return structure(`is ${typeName(v)}, not <dict>`, v.offset);
  const e = v.entries;
  const str = (key: string): { value: string; offset: number } | undefined => {
    const x = e.get(key);
    if (x === undefined) return undefined;
    if (x.type !== "string") return structure(`'${key}' is ${typeName(x)}, not <string>`, x.offset);
    return x;
  };
  // Attack class B12: dmg2img dereferenced a missing Data; <string> where <data> belongs.
  const data = e.get(K_DATA);
  if (data === undefined) return structure(`has no '${K_DATA}' key`, v.offset);
  if (data.type !== "data") {
    return structure(`'${K_DATA}' is ${typeName(data)}, not <data>`, data.offset);
  }
  let id = index;
  const idv = e.get(K_ID);
  if (idv !== undefined) {
    let n: number | undefined;
    if (idv.type === "string" && /^\s*[+-]?[0-9]{1,10}\s*$/.test(idv.value)) {
      n = Number(idv.value.trim());
    } else if (idv.type === "integer") {
      n = Number(idv.value);
    }
    if (n === undefined || !Number.isSafeInteger(n) || n < -0x8000_0000 || n > 0x7fff_ffff) {
      return structure(`'${K_ID}' is not a 32-bit integer`, idv.offset);
    }
    id = n;
  }
  let attributes = 0;
  const av = e.get(K_ATTRIBUTES);
  if (av !== undefined) {
    let n: number | undefined;
    if (av.type === "string") {
      const t = av.value.trim();
      if (/^0[xX][0-9a-fA-F]{1,8}$/.test(t)) n = Number.parseInt(t.slice(2), 16);
      else if (/^[0-9]{1,10}$/.test(t)) n = Number(t);
    } else if (av.type === "integer") {
      n = Number(av.value);
    }
    if (n === undefined || n < 0 || n > 0xffff_ffff) {
      return structure(`'${K_ATTRIBUTES}' is not a hex or decimal 32-bit number`, av.offset);
    }
    attributes = n;
  }
  const r: ParsedResource = {
    id,
    name: str(K_NAME)?.value ?? "",
    attributes,
    data: data.value,
    dataOffset: data.offset,
  };
  const cf = str(K_CFNAME);
  if (cf !== undefined) r.cfName = cf.value;
  return r;
}

/**
 * Parse the XML property list of a UDIF image into its resource map.
 *
 * `resource-fork` (a dict) and its `blkx` (an array of dicts) are required; each blkx dict
 * needs a `Data` element; `ID` defaults to the entry's index, `Attributes` to 0, `Name` to "",
 * `CFName` to absent. Other resource types (plst, cSum, nsiz, size, ...) must have the same
 * shape and are kept in `other`. Other top-level keys are ignored.
 *
 * @param xml the property list bytes (UTF-8)
 * @param fileOffset file offset of `xml[0]`; each blkx `fileOffset` is the offset of its `<data>` element
 * @param budget `maxPlistBytes` and `maxTables` apply
 * @throws DmgError BUDGET_PLIST_BYTES, BUDGET_TABLES, PLIST_MALFORMED, PLIST_DOCTYPE,
 *   PLIST_STRUCTURE, PLIST_BASE64
 */
export function parsePlist(xml: Uint8Array, fileOffset: number, budget: Budget): ResourceMap {
  const root = parsePlistValue(xml, fileOffset, budget);
  const structure = (msg: string, off: number): never => {
    throw new DmgError("PLIST_STRUCTURE", `property list at ${at(off)}: ${msg}`, off);
  };
  // Attack class B12: resource-fork or blkx missing, or of the wrong type.
  if (root.type !== "dict")
    return structure(`top-level value is ${typeName(root)}, not <dict>`, root.offset);
  const rf = root.entries.get("resource-fork");
  if (rf === undefined) {
    return structure(
      "no 'resource-fork' key: the property list describes no partition tables",
      root.offset,
    );
  }
  if (rf.type !== "dict")
    return structure(`'resource-fork' is ${typeName(rf)}, not <dict>`, rf.offset);
  const blkx = rf.entries.get(BLKX);
  if (blkx === undefined) {
    return structure(
      "'resource-fork' has no 'blkx' key: the image has no partition tables",
      rf.offset,
    );
  }
  const out: ResourceMap = { blkx: [], other: [] };
  for (const [type, list] of rf.entries) {
    if (list.type !== "array") {
      return structure(`resource type '${type}' is ${typeName(list)}, not <array>`, list.offset);
    }
    if (type === BLKX) {
      // Also enforced while streaming; kept here so the rule does not depend on that path.
      if (list.items.length > budget.maxTables) {
        throw new DmgError(
          "BUDGET_TABLES",
          `blkx array has ${list.items.length} entries, over the budget of ${budget.maxTables} tables (raise maxTables)`,
          list.offset,
        );
      }
      list.items.forEach((item, i) => {
        const r = parseResource(item, type, i, { table: i });
        const b: BlkxResource = {
          id: r.id,
          name: r.name,
          attributes: r.attributes,
          data: r.data,
          fileOffset: r.dataOffset,
        };
        if (r.cfName !== undefined) b.cfName = r.cfName;
        out.blkx.push(b);
      });
    } else {
      list.items.forEach((item, i) => {
        const r = parseResource(item, type, i, {});
        out.other.push({ type, id: r.id, name: r.name, attributes: r.attributes, data: r.data });
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

const XML_HEADER =
  '<?xml version="1.0" encoding="UTF-8"?>\n' +
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n' +
  '<plist version="1.0">\n';

/** Characters per base64 line, as in the real images this was checked against. */
const BASE64_LINE = 44;

/**
 * Escape a string for XML character data. `&`, `<`, `>` become entities and CR a character
 * reference (a raw CR would be read back as LF); characters XML 1.0 cannot carry at all are
 * refused.
 */
function escapeXml(s: string, what: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    if (c === 0x26) rep = "&amp;";
    else if (c === 0x3c) rep = "&lt;";
    else if (c === 0x3e) rep = "&gt;";
    else if (c === 0x0d) rep = "&#13;";
    else if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0xfffe || c === 0xffff) {
      throw new DmgError(
        "INVALID_ARGUMENT",
        `cannot write property list: ${what} ${JSON.stringify(s)} holds U+${c.toString(16).padStart(4, "0")}, which XML cannot carry`,
      );
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const pair =
        c <= 0xdbff &&
        i + 1 < s.length &&
        s.charCodeAt(i + 1) >= 0xdc00 &&
        s.charCodeAt(i + 1) <= 0xdfff;
      if (!pair) {
        throw new DmgError(
          "INVALID_ARGUMENT",
          `cannot write property list: ${what} ${JSON.stringify(s)} holds an unpaired surrogate`,
        );
      }
      i++;
    }
    if (rep !== undefined) {
      out += s.slice(from, i) + rep;
      from = i + 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

function hex4(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) {
    throw new DmgError(
      "INVALID_ARGUMENT",
      `cannot write property list: attributes ${n} out of range`,
    );
  }
  return `0x${n.toString(16).toUpperCase().padStart(4, "0")}`;
}

function writeResource(
  parts: string[],
  r: { id: number; name: string; cfName?: string; attributes: number; data: Uint8Array },
): void {
  if (!Number.isSafeInteger(r.id)) {
    throw new DmgError(
      "INVALID_ARGUMENT",
      `cannot write property list: ID ${r.id} is not an integer`,
    );
  }
  parts.push("\t\t\t<dict>\n");
  parts.push(
    `\t\t\t\t<key>${K_ATTRIBUTES}</key>\n\t\t\t\t<string>${hex4(r.attributes)}</string>\n`,
  );
  if (r.cfName !== undefined) {
    parts.push(
      `\t\t\t\t<key>${K_CFNAME}</key>\n\t\t\t\t<string>${escapeXml(r.cfName, "CFName")}</string>\n`,
    );
  }
  parts.push(`\t\t\t\t<key>${K_DATA}</key>\n\t\t\t\t<data>\n`);
  parts.push(encodeBase64(r.data, BASE64_LINE, "\t\t\t\t"));
  parts.push("\n\t\t\t\t</data>\n");
  parts.push(`\t\t\t\t<key>${K_ID}</key>\n\t\t\t\t<string>${r.id}</string>\n`);
  parts.push(
    `\t\t\t\t<key>${K_NAME}</key>\n\t\t\t\t<string>${escapeXml(r.name, "Name")}</string>\n`,
  );
  parts.push("\t\t\t</dict>\n");
}

/**
 * Serialize a resource map as an XML property list laid out like hdiutil's: the XML
 * declaration, Apple's DOCTYPE, `resource-fork` with `blkx` first, then the other resource
 * types grouped in order of first appearance. `fileOffset` of the blkx entries is not stored.
 *
 * @throws DmgError INVALID_ARGUMENT when a string holds a character XML cannot carry
 */
export function serializePlist(map: ResourceMap): Uint8Array {
  const parts: string[] = [XML_HEADER, "<dict>\n\t<key>resource-fork</key>\n\t<dict>\n"];
  parts.push(`\t\t<key>${BLKX}</key>\n\t\t<array>\n`);
  for (const b of map.blkx) writeResource(parts, b);
  parts.push("\t\t</array>\n");
  const groups = new Map<string, ResourceMap["other"]>();
  for (const o of map.other) {
    if (o.type === BLKX) {
      throw new DmgError(
        "INVALID_ARGUMENT",
        "cannot write property list: a resource of type 'blkx' is listed among the other resources",
      );
    }
    const g = groups.get(o.type);
    if (g) g.push(o);
    else groups.set(o.type, [o]);
  }
  for (const [type, list] of groups) {
    parts.push(`\t\t<key>${escapeXml(type, "resource type")}</key>\n\t\t<array>\n`);
    for (const o of list) writeResource(parts, o);
    parts.push("\t\t</array>\n");
  }
  parts.push("\t</dict>\n</dict>\n</plist>\n");
  return new TextEncoder().encode(parts.join(""));
}
