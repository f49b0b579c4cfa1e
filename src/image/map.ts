/**
 * Reading the partition map: the XML property list and/or the legacy resource fork, with the
 * honest quirks of real files tolerated and reported.
 */

import { DmgError, type Finding, warning } from "../core/errors.js";
import { type Budget, checkBudget } from "../core/limits.js";
import { runPaced, type Work } from "../core/work.js";
import { KOLY_FIELD, type Koly, XML_LENGTH_SLACK } from "../format/koly.js";
import { type MishTable, parseMishSteps } from "../format/mish.js";
import { parsePlistPaced } from "../format/plist.js";
import type { BlkxResource, ResourceMap } from "../format/resources.js";
import { type ByteSource, readExact } from "../sources/source.js";

/** Which structures described the tables. */
export type MapLayout = "xml" | "rsrc" | "both";

const PLIST_END = new TextEncoder().encode("</plist>");
/** How far a declared XML length may be off and still be read (real files are 1-2 bytes off). */
const XML_SLACK = XML_LENGTH_SLACK;

/**
 * Read the map the trailer points at. Apple's own tools read the XML property list and only
 * fall back to the resource fork when there is none; 7-Zip does the same, while QEMU prefers the
 * resource fork. We follow Apple: XML first. When both exist they must describe the same
 * tables (MAP_MISMATCH otherwise, unless `strict` is false): a validator that passes an image
 * whose resource fork says other things than its XML would pass bytes a QEMU-based consumer
 * reads differently (attack class G45).
 */
export async function readMap(
  src: ByteSource,
  koly: Koly,
  budget: Budget,
  warnings: Finding[],
  work: Work,
  strict = true,
): Promise<{ map: ResourceMap; layout: MapLayout }> {
  const hasXml = koly.xmlLength > 0;
  const hasRsrc = koly.rsrcForkLength > 0;
  // Attack class A5: nothing describes the tables.
  if (!hasXml && !hasRsrc) {
    throw new DmgError(
      "NO_PARTITION_MAP",
      "the trailer points at neither an XML property list nor a resource fork (both lengths are 0)",
      koly.fileOffset + KOLY_FIELD.xmlOffset,
    );
  }
  const rsrc = hasRsrc ? await readRsrc(src, koly, budget) : undefined;
  if (!hasXml) return { map: rsrc!, layout: "rsrc" };
  await work.pace();
  const xml = await readXml(src, koly, budget, warnings, work);
  if (rsrc) {
    const { differs, sameBytes } = await compareTables(xml, rsrc, work);
    if (differs && strict) {
      throw new DmgError(
        "MAP_MISMATCH",
        `the resource fork and the XML property list describe different tables (${differs}); readers that prefer the resource fork (QEMU) would read other bytes than those that prefer the XML (Apple's tools, 7-Zip)`,
        koly.rsrcForkOffset,
      );
    }
    if (!sameBytes) {
      warnings.push(
        warning(
          "RSRC_XML_DISAGREE",
          differs
            ? `the resource fork and the XML property list describe different tables (${differs}); the XML is used, as Apple's tools do`
            : "the resource fork's table blobs differ from the XML's in fields no reader uses; the XML is used",
          koly.rsrcForkOffset,
        ),
      );
    }
  }
  return { map: xml, layout: rsrc ? "both" : "xml" };
}

async function readRsrc(src: ByteSource, koly: Koly, budget: Budget): Promise<ResourceMap> {
  // Check the budget before reading: the length is a field of the file.
  checkBudget(budget, "maxRsrcBytes", koly.rsrcForkLength, { offset: koly.rsrcForkOffset });
  const bytes = await readExact(src, koly.rsrcForkOffset, koly.rsrcForkLength, "resource fork");
  // Loaded here: most images describe their tables in XML only, and every module a command
  // loads stays resident.
  const { parseResourceFork } = await import("../format/rsrc.js");
  return parseResourceFork(bytes, koly.rsrcForkOffset, budget);
}

async function readXml(
  src: ByteSource,
  koly: Koly,
  budget: Budget,
  warnings: Finding[],
  work: Work,
): Promise<ResourceMap> {
  const off = koly.xmlOffset;
  const len = koly.xmlLength;
  checkBudget(budget, "maxPlistBytes", len, { offset: off });
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
  return parsePlistPaced(xml, off, budget, work);
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

/** How the tables of the XML and of the resource fork compare. */
interface Comparison {
  /** How they differ, in words, or "" when they describe the same disk. */
  differs: string;
  /** True when every table blob is the same byte for byte. */
  sameBytes: boolean;
}

/**
 * Compare the tables of two maps in one pass: they describe the same disk when they have the
 * same number of tables, and in each the same sectors, data offset, checksum and chunk entries
 * (type, sectors, payload range). Names may differ (the resource fork holds MacRoman, the XML
 * UTF-8: honest writers differ there), and so may fields no reader uses. Only blobs that differ
 * byte for byte are parsed, each once. Paced: two maps of a million chunks each compare in
 * steps (attack class G39, a synchronous pass holding the event loop).
 */
async function compareTables(xml: ResourceMap, rsrc: ResourceMap, work: Work): Promise<Comparison> {
  if (xml.blkx.length !== rsrc.blkx.length) {
    return {
      differs: `${xml.blkx.length} tables in the XML, ${rsrc.blkx.length} in the resource fork`,
      sameBytes: false,
    };
  }
  let sameBytes = true;
  for (let t = 0; t < xml.blkx.length; t++) {
    const x = xml.blkx[t];
    const y = rsrc.blkx[t];
    await work.pace(y.fileOffset);
    if (equalBytes(x.data, y.data)) continue;
    sameBytes = false;
    const differs = await tableDiffers(x, y, t, work);
    if (differs) return { differs, sameBytes };
  }
  return { differs: "", sameBytes };
}

/** How table `t` of the XML (`x`) and of the resource fork (`y`) differ, or "". */
async function tableDiffers(
  x: BlkxResource,
  y: BlkxResource,
  t: number,
  work: Work,
): Promise<string> {
  const mx = await parseOrUndefined(x, t, work);
  const my = await parseOrUndefined(y, t, work);
  if (mx === undefined || my === undefined) {
    return `table ${t} is malformed in the ${mx === undefined ? "XML" : "resource fork"}`;
  }
  if (
    mx.firstSector !== my.firstSector ||
    mx.sectorCount !== my.sectorCount ||
    mx.dataOffset !== my.dataOffset ||
    mx.count !== my.count ||
    mx.checksum.type !== my.checksum.type ||
    !equalBytes(mx.checksum.value, my.checksum.value)
  ) {
    return `table ${t}'s sectors, data offset, checksum or entry count`;
  }
  const ex = mx.entries;
  const ey = my.entries;
  for (let i = 0; i < mx.count; i++) {
    if ((i & 0xffff) === 0xffff) await work.pace(y.fileOffset);
    if (
      ex.type[i] !== ey.type[i] ||
      ex.sector[i] !== ey.sector[i] ||
      ex.sectorCount[i] !== ey.sectorCount[i] ||
      ex.offset[i] !== ey.offset[i] ||
      ex.length[i] !== ey.length[i]
    ) {
      return `table ${t} chunk ${i}`;
    }
  }
  return "";
}

/**
 * The parsed table, or undefined when it is malformed (a DmgError, which the comparison reports
 * as a difference). Anything else thrown is a bug, and is not hidden as one.
 */
async function parseOrUndefined(
  res: BlkxResource,
  t: number,
  work: Work,
): Promise<MishTable | undefined> {
  try {
    return await runPaced(parseMishSteps(res.data, res.fileOffset, { table: t }), work);
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    return undefined;
  }
}

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== y.length) return false;
  for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  return true;
}
