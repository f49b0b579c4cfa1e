/**
 * The resource map of a UDIF image read from its property list's value tree:
 * `plist > dict > resource-fork > dict > <type> > array of dicts`, each dict with `Attributes`,
 * `CFName`, `Data` (base64), `ID` and `Name`.
 */

import { at, DmgError, type ErrorLocation } from "../core/errors.js";
import { type Budget, checkBudget } from "../core/limits.js";
import type { PlistValue } from "./plist.js";
import { structureError } from "./plist-elements.js";
import { BLKX, type BlkxResource, type ResourceMap } from "./resources.js";

/** The keys of a resource dict. */
export const K_ATTRIBUTES = "Attributes";
export const K_CFNAME = "CFName";
export const K_DATA = "Data";
export const K_ID = "ID";
export const K_NAME = "Name";

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
 * The resource map held by a property list's value (see parsePlist for the rules).
 *
 * @param root the value held by `<plist>`
 * @param budget `maxTables` bounds the blkx entries
 * @throws DmgError BUDGET_TABLES, PLIST_STRUCTURE
 */
export function resourceMap(root: PlistValue, budget: Budget): ResourceMap {
  const structure = (msg: string, off: number): never => {
    throw structureError(msg, off);
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
      checkBudget(budget, "maxTables", list.items.length, {
        offset: list.offset,
        subject: "entries of the blkx array",
      });
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
