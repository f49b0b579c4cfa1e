/**
 * Sparse images (UDSP, `.sparseimage`): a raw disk stored in bands after a `sprs` header (see
 * sprs-header.ts). The container checks the header chain and the band tables against the file
 * and presents the disk as a UDIF file (see udif-shell.ts): stored bands as raw chunks at their
 * own file offsets, unstored ones as zeros.
 */
import { at, DmgError, type Finding, warning } from "../../core/errors.js";
import { checkBudget } from "../../core/limits.js";
import type { ByteSource } from "../../sources/source.js";
import { readExact } from "../../sources/source.js";
import type { Container, ContainerContext, OpenedContainer } from "../container.js";
import { isSparseImage } from "../magic.js";
import { isShell, sourceName } from "../marks.js";
import {
  parseSparseHeader,
  parseSparseIndexNode,
  SPRS_FIELD,
  SPRS_HEADER_BANDS,
  SPRS_INDEX_FIELD,
  SPRS_NODE_SIZE,
  SPRS_SECTOR_SIZE,
} from "./sprs-header.js";
import { type Extents, udifShell } from "./udif-shell.js";

/** One stored band: the disk band it holds and where it lies. */
interface Slot {
  band: number;
  offset: number;
  /** File offset of its band table entry, for messages. */
  entry: number;
}

/** The stored bands of every node, grown as the chain is read. */
class Slots {
  band = new Float64Array(64);
  offset = new Float64Array(64);
  entry = new Float64Array(64);
  count = 0;

  push(s: Slot): void {
    if (this.count === this.band.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.band = grow(this.band);
      this.offset = grow(this.offset);
      this.entry = grow(this.entry);
    }
    this.band[this.count] = s.band;
    this.offset[this.count] = s.offset;
    this.entry[this.count++] = s.entry;
  }
}

/** What walking the header chain found. */
interface Walk {
  slots: Slots;
  nodes: number;
}

/**
 * Read the band tables of every node: the first at offset 0, the rest along the chain of next
 * offsets. Each stored band is checked against the disk and the file.
 */
async function walkNodes(
  src: ByteSource,
  first: { nextNodeOffset: number; bands: Uint32Array },
  geometry: { bandBytes: number; sectorsPerBand: number; totalSectors: number; diskBands: number },
  ctx: ContainerContext,
): Promise<Walk> {
  const slots = new Slots();
  const { bandBytes, sectorsPerBand, totalSectors, diskBands } = geometry;
  // Honest files append a node only when the ones before are full: more nodes than the disk's
  // bands could fill is a chain built to make the reader walk.
  const maxNodes = Math.ceil(diskBands / SPRS_HEADER_BANDS) + 1;
  let node: { offset: number; table: number; nextNodeOffset: number; bands: Uint32Array } = {
    offset: 0,
    table: SPRS_FIELD.bandTable,
    nextNodeOffset: first.nextNodeOffset,
    bands: first.bands,
  };
  let nodes = 1;
  for (;;) {
    await ctx.work.pace(node.offset);
    const dataStart = node.offset + SPRS_NODE_SIZE;
    let lastUsed = -1;
    for (let k = 0; k < node.bands.length; k++) {
      const number = node.bands[k];
      if (number === 0) continue;
      const entry = node.offset + node.table + 4 * k;
      // Attack: a band number past the disk would write outside it (or, read back, make the
      // disk larger than its header says).
      if (number > diskBands) {
        throw new DmgError(
          "SPARSE_MALFORMED",
          `band table entry at ${at(entry)} names disk band ${number}; the disk has ${diskBands} bands of ${sectorsPerBand} sectors`,
          entry,
        );
      }
      const band = number - 1;
      const offset = dataStart + k * bandBytes;
      const used = Math.min(sectorsPerBand, totalSectors - band * sectorsPerBand);
      // A truncated file (an interrupted copy) ends before the bands its header lists.
      if (offset + used * SPRS_SECTOR_SIZE > src.size) {
        throw new DmgError(
          "TRUNCATED",
          `disk band ${number} is stored at ${at(offset)}, past the end of the ${src.size}-byte file (an incomplete copy?)`,
          entry,
        );
      }
      // Attack: a header of a million tiny bands; bounded before the arrays grow.
      checkBudget(ctx.budget, "maxChunks", slots.count + 1, {
        offset: entry,
        subject: "stored bands of the sparse image",
      });
      slots.push({ band, offset, entry });
      lastUsed = k;
    }
    const next = node.nextNodeOffset;
    if (next === 0) break;
    const field =
      node.offset + (nodes === 1 ? SPRS_FIELD.nextNodeOffset : SPRS_INDEX_FIELD.nextNodeOffset);
    // Attack: a chain that points back (a loop) or into this node's bands (a band read as a
    // table). Nodes only move forward, past the bands of the node before.
    const least = dataStart + (lastUsed + 1) * bandBytes;
    if (next < least) {
      throw new DmgError(
        "SPARSE_MALFORMED",
        `next header offset ${next} at ${at(field)} points back or into the bands before it (the next node must start at or after ${least})`,
        field,
      );
    }
    // Attack: a chain that points outside the file.
    if (next + SPRS_NODE_SIZE > src.size) {
      throw new DmgError(
        "SPARSE_MALFORMED",
        `next header offset ${next} at ${at(field)} points outside the ${src.size}-byte file`,
        field,
      );
    }
    if (++nodes > maxNodes) {
      throw new DmgError(
        "SPARSE_MALFORMED",
        `more than ${maxNodes} header nodes: more than a disk of ${diskBands} bands can need`,
        field,
      );
    }
    const bytes = await readExact(src, next, SPRS_NODE_SIZE, "sparse image index node");
    const idx = parseSparseIndexNode(bytes, next);
    node = {
      offset: next,
      table: SPRS_INDEX_FIELD.bandTable,
      nextNodeOffset: idx.nextNodeOffset,
      bands: idx.bands,
    };
  }
  return { slots, nodes };
}

/**
 * The stored bands in disk order as runs for the UDIF shell. Two slots holding one disk band
 * are refused: the reader would have to pick one, and another reader might pick the other.
 */
function toExtents(slots: Slots, sectorsPerBand: number, totalSectors: number): Extents {
  const order = new Uint32Array(slots.count);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => slots.band[a] - slots.band[b]);
  const e: Extents = {
    count: slots.count,
    sector: new Float64Array(slots.count),
    sectors: new Float64Array(slots.count),
    offset: new Float64Array(slots.count),
  };
  for (let j = 0; j < order.length; j++) {
    const i = order[j];
    const band = slots.band[i];
    if (j > 0 && slots.band[order[j - 1]] === band) {
      const prev = slots.entry[order[j - 1]];
      throw new DmgError(
        "SPARSE_MALFORMED",
        `disk band ${band + 1} is stored twice (band table entries at ${at(Math.min(prev, slots.entry[i]))} and ${at(Math.max(prev, slots.entry[i]))})`,
        Math.max(prev, slots.entry[i]),
      );
    }
    e.sector[j] = band * sectorsPerBand;
    e.sectors[j] = Math.min(sectorsPerBand, totalSectors - band * sectorsPerBand);
    e.offset[j] = slots.offset[i];
  }
  return e;
}

/** Open a sparse image: check its header chain and present its disk as a UDIF file. */
async function openSparseImage(src: ByteSource, ctx: ContainerContext): Promise<OpenedContainer> {
  if (src.size < SPRS_NODE_SIZE) {
    throw new DmgError(
      "TRUNCATED",
      `sparse image is ${src.size} bytes, shorter than its ${SPRS_NODE_SIZE}-byte header`,
      0,
    );
  }
  const header = parseSparseHeader(await readExact(src, 0, SPRS_NODE_SIZE, "sparse image header"));
  const { sectorsPerBand, totalSectors } = header;
  // The disk's size is bounded before anything is sized by it.
  checkBudget(ctx.budget, "maxImageBytes", totalSectors * SPRS_SECTOR_SIZE, {
    offset: SPRS_FIELD.totalSectors,
    subject: "sparse image disk",
  });
  const bandBytes = sectorsPerBand * SPRS_SECTOR_SIZE;
  const diskBands = Math.ceil(totalSectors / sectorsPerBand);
  const walk = await walkNodes(
    src,
    header,
    { bandBytes, sectorsPerBand, totalSectors, diskBands },
    ctx,
  );
  const extents = toExtents(walk.slots, sectorsPerBand, totalSectors);
  const warnings: Finding[] = [];
  const name = sourceName(src);
  // Real case: a sparse image renamed .dmg (hdiutil would still attach it). It is read, and
  // the name is reported: other tools may take it for a UDIF image and refuse it.
  if (name !== undefined && /\.dmg$/i.test(name)) {
    warnings.push(
      warning(
        "NAME_MISLEADING",
        "the file is named .dmg but holds a sparse image (UDSP, 'sprs' header), not a UDIF image; it is read as a sparse image",
        0,
      ),
    );
  }
  const source = await udifShell(
    [{ source: src, offset: 0, length: src.size, what: "sparse image band" }],
    src.size,
    extents,
    totalSectors,
    "disk (sparse image bands)",
    ctx.budget,
    ctx.work,
    async () => {
      await src.close?.();
    },
  );
  return {
    info: {
      kind: "UDSP",
      fields: {
        version: header.version,
        flags: header.flags,
        bandSize: bandBytes,
        bandsUsed: extents.count,
        bandsTotal: diskBands,
        headerNodes: walk.nodes,
        diskSize: totalSectors * SPRS_SECTOR_SIZE,
      },
    },
    source,
    warnings,
  };
}

/** Sparse images: a `sprs` header at offset 0. */
export const SPARSE_IMAGE: Container = {
  name: "sparse image",
  detect: (head, _tail, src) => isSparseImage(head) && !isShell(src),
  open: openSparseImage,
};
