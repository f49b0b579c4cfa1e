/**
 * Reading the partition map: the XML property list and/or the legacy resource fork, with the
 * honest quirks of real files tolerated and reported.
 */

import { DmgError, type Finding, warning } from "../core/errors.js";
import type { Budget } from "../core/limits.js";
import { type Koly, XML_LENGTH_SLACK } from "../format/koly.js";
import { parsePlist } from "../format/plist.js";
import type { ResourceMap } from "../format/resources.js";
import { parseResourceFork } from "../format/rsrc.js";
import { type ByteSource, readExact } from "../sources/source.js";

/** Which structures described the tables. */
export type MapLayout = "xml" | "rsrc" | "both";

const PLIST_END = new TextEncoder().encode("</plist>");
/** How far a declared XML length may be off and still be read (real files are 1-2 bytes off). */
const XML_SLACK = XML_LENGTH_SLACK;

/**
 * Read the map the trailer points at. Apple's own tools read the XML property list and only
 * fall back to the resource fork when there is none; 7-Zip does the same, while QEMU prefers the
 * resource fork. We follow Apple: XML first, the resource fork cross-checked when both exist.
 */
export async function readMap(
  src: ByteSource,
  koly: Koly,
  budget: Budget,
  warnings: Finding[],
): Promise<{ map: ResourceMap; layout: MapLayout }> {
  const hasXml = koly.xmlLength > 0;
  const hasRsrc = koly.rsrcForkLength > 0;
  // Attack class A5: nothing describes the tables.
  if (!hasXml && !hasRsrc) {
    throw new DmgError(
      "NO_PARTITION_MAP",
      "the trailer points at neither an XML property list nor a resource fork (both lengths are 0)",
      koly.fileOffset + 216,
    );
  }
  const rsrc = hasRsrc ? await readRsrc(src, koly, budget) : undefined;
  if (!hasXml) return { map: rsrc!, layout: "rsrc" };
  const xml = await readXml(src, koly, budget, warnings);
  if (rsrc && !sameTables(xml, rsrc)) {
    warnings.push(
      warning(
        "RSRC_XML_DISAGREE",
        "the resource fork and the XML property list describe different tables; the XML is used, as Apple's tools do",
        koly.rsrcForkOffset,
      ),
    );
  }
  return { map: xml, layout: rsrc ? "both" : "xml" };
}

async function readRsrc(src: ByteSource, koly: Koly, budget: Budget): Promise<ResourceMap> {
  // Check the budget before reading: the length is a field of the file.
  if (koly.rsrcForkLength > budget.maxRsrcBytes) {
    throw new DmgError(
      "BUDGET_RSRC_BYTES",
      `resource fork is ${koly.rsrcForkLength} bytes; the budget allows ${budget.maxRsrcBytes} (raise maxRsrcBytes)`,
      koly.rsrcForkOffset,
    );
  }
  const bytes = await readExact(src, koly.rsrcForkOffset, koly.rsrcForkLength, "resource fork");
  return parseResourceFork(bytes, koly.rsrcForkOffset, budget);
}

async function readXml(
  src: ByteSource,
  koly: Koly,
  budget: Budget,
  warnings: Finding[],
): Promise<ResourceMap> {
  const off = koly.xmlOffset;
  const len = koly.xmlLength;
  if (len > budget.maxPlistBytes) {
    throw new DmgError(
      "BUDGET_PLIST_BYTES",
      `XML property list is ${len} bytes; the budget allows ${budget.maxPlistBytes} (raise maxPlistBytes)`,
      off,
    );
  }
  // Attack class B14 and real files: the declared length is sometimes 1-2 bytes short of
  // `</plist>` (or past it). Read a little more when the file has it before the trailer.
  // The range check let the declared length run up to XML_SLACK bytes into the trailer; never
  // read the trailer as XML.
  const limit = koly.fileOffset > off ? koly.fileOffset : src.size;
  const bytes = await readExact(
    src,
    off,
    Math.min(len + XML_SLACK, limit - off),
    "XML property list",
  );
  const endTag = lastIndexOf(bytes, PLIST_END, Math.max(0, len - 256));
  let xml = bytes.subarray(0, len);
  if (endTag >= 0) {
    const end = endTag + PLIST_END.length;
    const junk = trimEnd(bytes.subarray(end, len)); // bytes after </plist> that are not blank
    const short = end > len; // </plist> runs past the declared length
    const overrun = Math.max(0, len - bytes.length); // declared length runs into the trailer
    if (
      (short && end - len <= XML_SLACK) ||
      (!short && (junk > 0 || overrun > 0) && junk + overrun <= XML_SLACK)
    ) {
      warnings.push(
        warning(
          "PLIST_LENGTH_OFF",
          short
            ? `declared XML length ${len} stops ${end - len} bytes before the end of </plist>; read to </plist>`
            : `declared XML length ${len} runs ${junk + overrun} bytes past </plist>; ignored them`,
          off,
        ),
      );
      xml = bytes.subarray(0, end);
    } else if (!short && junk === 0) {
      // Only blanks or NUL padding after </plist>: nothing to report, but not XML either.
      xml = bytes.subarray(0, end);
    }
  }
  return parsePlist(xml, off, budget);
}

/** Number of bytes after trimming trailing whitespace and NULs. */
function trimEnd(b: Uint8Array): number {
  let n = b.length;
  while (
    n > 0 &&
    (b[n - 1] === 0 ||
      b[n - 1] === 0x20 ||
      b[n - 1] === 0x0a ||
      b[n - 1] === 0x0d ||
      b[n - 1] === 0x09)
  )
    n--;
  return n;
}

function lastIndexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = hay.length - needle.length; i >= from; i--) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function sameTables(a: ResourceMap, b: ResourceMap): boolean {
  if (a.blkx.length !== b.blkx.length) return false;
  for (let i = 0; i < a.blkx.length; i++) {
    const x = a.blkx[i].data;
    const y = b.blkx[i].data;
    if (x.length !== y.length) return false;
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  }
  return true;
}
