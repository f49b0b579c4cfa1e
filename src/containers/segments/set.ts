/**
 * Segmented sets (`X.dmg`, `X.002.dmgpart`, `X.003.dmgpart`, ... as `hdiutil segment` writes
 * them): the parts are checked against each other and presented as one UDIF file.
 *
 * The layout read here. No public reader joins the parts (VirtualBox's DMG reader refuses a
 * segment count above 1, libmodi lists multi-segment UDIF as unsupported, 7-Zip reads one file
 * and leaves the segment fields unused), so the layout follows the trailer's own field names
 * (fUDIFRunningDataForkOffset, fUDIFSegmentNumber, fUDIFSegmentCount, fUDIFSegmentID, as
 * hdiutil -debug names them) and the one public report on real parts (dmg2img issue 7: parts
 * joined with `cat` do not read as one image, so each part is not a bare slice of one file):
 * - every part ends in its own koly trailer, with the part's number (1 for `X.dmg`, 2 for
 *   `X.002.dmgpart`, ...), the count of parts, and one segment ID shared by the whole set;
 * - each trailer's data fork is a range of its own part, and its running data fork offset is
 *   where that range starts in the set's data fork: the parts' data forks laid end to end;
 * - the first part holds the property list (or resource fork), the master checksum and the
 *   sector count; chunk offsets (the table's data offset plus each chunk's) address the set's
 *   data fork, not the part files, whose trailers lie between the data forks;
 * - each trailer's data fork checksum is the CRC32 of that part's data fork.
 */
import { crc32Combine } from "../../bytes/crc32.js";
import { DmgError } from "../../core/errors.js";
import { checkBudget } from "../../core/limits.js";
import { CHECKSUM_CRC32, checksumCrc32, crc32Checksum } from "../../format/checksum.js";
import { checkKolyRanges, KOLY_FIELD, serializeKoly } from "../../format/koly.js";
import { concatSource, type Piece } from "../../sources/concat.js";
import { type ByteSource, type SourceLike, toSource } from "../../sources/source.js";
import type { Container, ContainerContext, OpenedContainer } from "../container.js";
import { isSegmentPart } from "../magic.js";
import { partFinderOf, withPartFinder } from "../marks.js";
import { type Part, readPart } from "./part.js";

/** The other parts of a set, as far as they could be found. */
export interface FoundParts {
  /** Parts 2, 3, ... in order, as many as were found (all of them when `missing` is unset). */
  parts: ByteSource[];
  /** Name of the first part not found. */
  missing?: string;
}

/**
 * How the parts after the first are found: next to a file by the Node layer, or given in a
 * list by {@link segmentedSource}.
 */
export interface PartFinder {
  /** Name of part `number` (1-based), for messages. */
  name(number: number): string;
  /** Open parts 2..`count`, in order. */
  open(count: number): Promise<FoundParts>;
}

/**
 * The parts of a segmented set, in order (the first part, `X.dmg`, first), as one source that
 * {@link openDmg} and `validateDmg` read as the image the set holds: a browser passes the Files
 * a person picked. The parts are checked when the image is opened (SEGMENT_* codes); closing
 * the image closes every part. A single part that is no segmented set reads as itself.
 */
export function segmentedSource(parts: readonly SourceLike[]): ByteSource {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw new DmgError("INVALID_ARGUMENT", "parts must be a non-empty array of sources");
  }
  const sources = parts.map((p) => toSource(p));
  const name = (n: number) => `part ${n}`;
  return withPartFinder(sources[0], {
    name,
    // Every part given is returned, beyond the count too: the set's check refuses extras.
    open: async (count) =>
      sources.length < count
        ? { parts: sources.slice(1), missing: name(sources.length + 1) }
        : { parts: sources.slice(1) },
  });
}

/** The container: a file whose trailer says it is one of several parts. */
export const SEGMENTED: Container = {
  name: "segmented set",
  detect: (_head, tail) => isSegmentPart(tail),
  open: openSet,
};

/** Check the parts of the set `first` begins and present the UDIF file they make. */
async function openSet(first: ByteSource, ctx: ContainerContext): Promise<OpenedContainer> {
  const finder = partFinderOf(first);
  const name = finder?.name ?? ((n: number) => `part ${n}`);
  const head = await readPart(first, name(1));
  const k = head.koly;
  // Attack class A6: a set opened from another part than its first.
  if (k.segmentNumber !== 1) {
    throw new DmgError(
      "SEGMENT_ORDER",
      `${name(1)} is segment ${k.segmentNumber} of ${k.segmentCount}; open the set from its first part (segment 1)`,
      k.fileOffset + KOLY_FIELD.segmentNumber,
    );
  }
  // Attack class A6: a count of four billion parts, each a file to open.
  checkBudget(ctx.budget, "maxSegments", k.segmentCount, {
    offset: k.fileOffset + KOLY_FIELD.segmentCount,
  });
  // Real-world case: one part of a set copied or downloaded without the others.
  const found = finder ? await finder.open(k.segmentCount) : { parts: [], missing: undefined };
  const opened = found.parts;
  try {
    if (opened.length === 0) {
      throw new DmgError(
        "KOLY_SEGMENTED",
        `${name(1)} is segment 1 of ${k.segmentCount} of a segmented set; ${finder ? `its next part ${found.missing ?? name(2)} was not found` : "the other parts were not given"}`,
        k.fileOffset + KOLY_FIELD.segmentCount,
      );
    }
    ctx.work.check();
    const parts: Part[] = [head];
    for (let i = 0; i < opened.length; i++) {
      parts.push(await readPart(opened[i], name(i + 2)));
      ctx.work.check();
    }
    checkSet(parts, found.missing);
    return present(parts, first, opened);
  } catch (e) {
    await Promise.all(opened.map((p) => p.close?.().catch(() => undefined)));
    throw e;
  }
}

/** Check that `parts` are the whole set, each once, in order. */
function checkSet(parts: readonly Part[], missing: string | undefined): void {
  const first = parts[0].koly;
  const seen = new Map<number, string>();
  for (const p of parts) {
    const k = p.koly;
    // Attack class A6: a part of another set (another segment ID) mixed in.
    if (k.segmentId !== first.segmentId) {
      throw new DmgError(
        "SEGMENT_FOREIGN",
        `${p.name} belongs to segmented set ${k.segmentId}, not to ${first.segmentId} of ${parts[0].name}`,
        k.fileOffset + KOLY_FIELD.segmentId,
      );
    }
    // Attack class A6: parts disagreeing on how many there are.
    if (k.segmentCount !== first.segmentCount) {
      throw new DmgError(
        "SEGMENT_COUNT",
        `${p.name} says the set has ${k.segmentCount} parts; ${parts[0].name} says ${first.segmentCount}`,
        k.fileOffset + KOLY_FIELD.segmentCount,
      );
    }
    // Attack class A6: one part given twice (a copy under another name).
    const twin = seen.get(k.segmentNumber);
    if (twin !== undefined) {
      throw new DmgError(
        "SEGMENT_DUPLICATE",
        `${p.name} and ${twin} are both segment ${k.segmentNumber} of the set`,
        k.fileOffset + KOLY_FIELD.segmentNumber,
      );
    }
    seen.set(k.segmentNumber, p.name);
  }
  // Real-world case: a set with a part left behind.
  if (missing !== undefined || parts.length < first.segmentCount) {
    throw new DmgError(
      "SEGMENT_MISSING",
      `segmented set of ${first.segmentCount} parts: ${missing ?? `part ${parts.length + 1}`} is missing (${parts.length} found)`,
      first.fileOffset + KOLY_FIELD.segmentCount,
    );
  }
  // Attack class A6: more parts given than the set has.
  if (parts.length > first.segmentCount) {
    throw new DmgError(
      "SEGMENT_COUNT",
      `segmented set of ${first.segmentCount} parts was given ${parts.length}`,
      first.fileOffset + KOLY_FIELD.segmentCount,
    );
  }
  let running = 0;
  for (let i = 0; i < parts.length; i++) {
    const { name, koly: k } = parts[i];
    // Attack class A6: parts renamed into another order.
    if (k.segmentNumber !== i + 1) {
      throw new DmgError(
        "SEGMENT_ORDER",
        `${name} is segment ${k.segmentNumber} of the set, but stands at position ${i + 1}`,
        k.fileOffset + KOLY_FIELD.segmentNumber,
      );
    }
    // Attack class A6: a part whose data fork does not continue where the previous one ended
    // would shift every chunk after it.
    if (k.runningDataForkOffset !== running) {
      throw new DmgError(
        "SEGMENT_ORDER",
        `${name} says its data fork starts at ${k.runningDataForkOffset} of the set's, but the parts before it end at ${running}`,
        k.fileOffset + KOLY_FIELD.runningDataForkOffset,
      );
    }
    running += k.dataForkLength;
  }
  // The forks of the first part, which holds the map: inside the part, not overlapping.
  checkKolyRanges({ ...first, segmentCount: 1 }, parts[0].source.size);
}

/** The UDIF file the checked `parts` make: their data forks, then the first part's map. */
function present(parts: readonly Part[], first: ByteSource, opened: ByteSource[]): OpenedContainer {
  const k = parts[0].koly;
  const pieces: Piece[] = parts.map((p) => ({
    source: p.source,
    offset: p.koly.dataForkOffset,
    length: p.koly.dataForkLength,
    what: `data fork of ${p.name}`,
  }));
  const dataLength = parts.reduce((n, p) => n + p.koly.dataForkLength, 0);
  let next = dataLength;
  const place = (offset: number, length: number, what: string): number => {
    if (length === 0) return 0;
    const at = next;
    pieces.push({ source: first, offset, length, what: `${what} of ${parts[0].name}` });
    next += length;
    return at;
  };
  const rsrcForkOffset = place(k.rsrcForkOffset, k.rsrcForkLength, "resource fork");
  // A declared XML length may run a byte or two into the trailer; the copy stops before it.
  const xmlLength = Math.min(k.xmlLength, k.fileOffset - k.xmlOffset);
  const xmlOffset = place(k.xmlOffset, Math.max(xmlLength, 0), "property list");
  const { fileOffset: _, ...fields } = k;
  const trailer = serializeKoly({
    ...fields,
    runningDataForkOffset: 0,
    dataForkOffset: 0,
    dataForkLength: dataLength,
    rsrcForkOffset,
    xmlOffset,
    xmlLength: Math.max(xmlLength, 0),
    segmentNumber: 1,
    segmentCount: 1,
    dataForkChecksum: joinedChecksum(parts),
  });
  pieces.push({ bytes: trailer });
  const closeAll = async () => {
    await Promise.all([first, ...opened].map((s) => s.close?.().catch(() => undefined)));
  };
  return {
    info: {
      kind: "segmented",
      fields: {
        parts: parts.length,
        segmentId: k.segmentId,
        partSizes: parts.map((p) => p.source.size).join(", "),
      },
    },
    source: concatSource(pieces, closeAll),
    warnings: [],
  };
}

/**
 * The CRC32 of the set's data fork from each part's (every byte of every part is then checked
 * by validation), or none when a part carries none.
 */
function joinedChecksum(parts: readonly Part[]) {
  let crc = 0;
  for (const p of parts) {
    const c = p.koly.dataForkChecksum;
    const part = checksumCrc32(c);
    if (c.type !== CHECKSUM_CRC32 || part === undefined) return crc32Checksum(undefined);
    crc = crc32Combine(crc, part, p.koly.dataForkLength);
  }
  return crc32Checksum(crc);
}
