/**
 * Writing a resource map as an XML property list, laid out like hdiutil's.
 */
import { DmgError } from "../core/errors.js";
import { encodeBase64 } from "./base64.js";
import { K_ATTRIBUTES, K_CFNAME, K_DATA, K_ID, K_NAME } from "./plist-map.js";
import { BLKX, type ResourceMap } from "./resources.js";

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
