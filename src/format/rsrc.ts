/**
 * The legacy resource fork: a classic Mac OS resource file, big-endian, that older images carry
 * besides (or instead of) the XML property list. Its 'blkx' resources are the mish tables.
 *
 * Layout:
 * ```
 * header (16)   u32 data offset, u32 map offset, u32 data length, u32 map length
 * data area     per resource: u32 length + payload
 * map           header copy (16), next-map handle (4), file ref (2), u16 attributes,
 *               u16 type list offset, u16 name list offset (both from the map start)
 * type list     u16 (number of types - 1), then 8-byte entries:
 *               type (4 chars), u16 (count - 1), u16 reference list offset (from the type list)
 * references    12 bytes: s16 ID, u16 name offset (from the name list, 0xFFFF = none),
 *               u8 attributes, u24 data offset (from the data area), u32 handle (reserved)
 * name list     Pascal strings: u8 length + MacRoman bytes
 * ```
 * Names and types are decoded byte for byte as Latin-1 (U+0000..U+00FF): lossless, so a fork
 * serialized from a parsed map is byte-identical in its names; bytes >= 0x80 show as Latin-1
 * rather than their MacRoman characters.
 */

import { Cursor } from "../bytes/cursor.js";
import { at, DmgError } from "../core/errors.js";
import { type Budget, checkBudget } from "../core/limits.js";
import { elementLimit } from "./plist-elements.js";
import { BLKX, type ResourceMap } from "./resources.js";

/** Size of the fork header and of its copy at the start of the map. */
export const RSRC_HEADER_SIZE = 16;
/** Map header: header copy, next-map handle, file ref, attributes, two list offsets. */
export const RSRC_MAP_HEADER_SIZE = 28;
export const RSRC_TYPE_ENTRY_SIZE = 8;
export const RSRC_REF_ENTRY_SIZE = 12;
/** Where hdiutil (and this writer) puts the data area. */
export const RSRC_DATA_START = 0x100;
/** Name offset meaning "no name". */
export const RSRC_NO_NAME = 0xffff;
/** Largest data offset a 24-bit reference field holds. */
const MAX_DATA_OFFSET = 0xff_ffff;

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * Parse a legacy resource fork.
 *
 * @param bytes the whole fork
 * @param fileOffset file offset of `bytes[0]`; each blkx `fileOffset` is the exact file offset of its payload
 * @param budget `maxRsrcBytes` bounds the fork, `maxTables` the number of 'blkx' resources
 * @returns the resources; their `data` are views into `bytes` (no copy)
 * @throws DmgError BUDGET_RSRC_BYTES, BUDGET_TABLES, RSRC_MALFORMED (also for references
 *   whose data overlap)
 */
export function parseResourceFork(
  bytes: Uint8Array,
  fileOffset: number,
  budget: Budget,
): ResourceMap {
  const bad = (msg: string, off: number): never => {
    throw new DmgError("RSRC_MALFORMED", `resource fork: ${msg}`, off);
  };
  // Attack class A5 / B11: the fork is read whole, so its size is bounded first.
  checkBudget(budget, "maxRsrcBytes", bytes.length, { offset: fileOffset });
  const h = new Cursor(bytes, fileOffset, "resource fork header", "RSRC_MALFORMED");
  const dataOff = h.u32();
  const mapOff = h.u32();
  const dataLen = h.u32();
  const mapLen = h.u32();
  // Every area inside the fork and clear of the header and of each other: a map aliasing the
  // data area would let one byte range be read as two structures (attack class A4, in small).
  if (dataOff < RSRC_HEADER_SIZE || mapOff < RSRC_HEADER_SIZE) {
    bad(
      `data area at ${dataOff} or map at ${mapOff} overlaps the ${RSRC_HEADER_SIZE}-byte header`,
      fileOffset,
    );
  }
  if (dataOff + dataLen > bytes.length) {
    bad(
      `data area [${dataOff}, ${dataOff + dataLen}) lies outside the ${bytes.length}-byte fork`,
      fileOffset,
    );
  }
  if (mapOff + mapLen > bytes.length) {
    bad(
      `map [${mapOff}, ${mapOff + mapLen}) lies outside the ${bytes.length}-byte fork`,
      fileOffset + 4,
    );
  }
  if (dataLen > 0 && mapOff < dataOff + dataLen && dataOff < mapOff + mapLen) {
    bad(
      `map [${mapOff}, ${mapOff + mapLen}) overlaps data area [${dataOff}, ${dataOff + dataLen})`,
      fileOffset + 4,
    );
  }
  if (mapLen < RSRC_MAP_HEADER_SIZE) {
    bad(
      `map is ${mapLen} bytes, shorter than its ${RSRC_MAP_HEADER_SIZE}-byte header`,
      fileOffset + 12,
    );
  }
  const map = bytes.subarray(mapOff, mapOff + mapLen);
  const mapBase = fileOffset + mapOff;
  const data = bytes.subarray(dataOff, dataOff + dataLen);
  const dataBase = fileOffset + dataOff;
  // The header copy in the map is not compared: the Resource Manager never read it back.
  const m = new Cursor(map, mapBase, "resource map", "RSRC_MALFORMED");
  m.pos = 24;
  const typeListOff = m.u16();
  const nameListOff = m.u16();
  if (typeListOff + 2 > mapLen) {
    bad(`type list offset ${typeListOff} lies outside the ${mapLen}-byte map`, mapBase + 24);
  }
  if (nameListOff > mapLen) {
    bad(`name list offset ${nameListOff} lies outside the ${mapLen}-byte map`, mapBase + 26);
  }
  m.pos = typeListOff;
  // Stored as count - 1; 0xFFFF is the empty map.
  const typeCount = (m.u16() + 1) & 0xffff;
  // Counts are bounded by the map before anything is allocated from them.
  if (typeListOff + 2 + typeCount * RSRC_TYPE_ENTRY_SIZE > mapLen) {
    bad(
      `${typeCount} type entries at map offset ${typeListOff} run past the ${mapLen}-byte map`,
      mapBase + typeListOff,
    );
  }
  const out: ResourceMap = { blkx: [], other: [] };
  const mostRefs = elementLimit(budget);
  let refs = 0;
  const spans = new DataSpans();
  for (let t = 0; t < typeCount; t++) {
    const entryPos = typeListOff + 2 + t * RSRC_TYPE_ENTRY_SIZE;
    m.pos = entryPos;
    const type = latin1(m.bytesN(4));
    const count = m.u16() + 1;
    const refListOff = m.u16();
    const refStart = typeListOff + refListOff;
    if (refStart + count * RSRC_REF_ENTRY_SIZE > mapLen) {
      bad(
        `type '${type}': ${count} references at map offset ${refStart} run past the ${mapLen}-byte map`,
        mapBase + entryPos,
      );
    }
    // Attack class G47: every type's reference list may point at the same bytes, so 65,536
    // types of 65,536 references each fit in 1.3 MB and would make 4 billion resources. All
    // references together must fit in the map (as they do when each type has its own list),
    // and their number is bounded like the property list's elements.
    refs += count;
    if (refs * RSRC_REF_ENTRY_SIZE > mapLen) {
      bad(
        `types 0..${t} have ${refs} references in all, more than the ${mapLen}-byte map holds (reference lists overlap)`,
        mapBase + entryPos,
      );
    }
    if (refs > mostRefs) {
      bad(
        `more than ${mostRefs} resources (raise maxTables if this is honest)`,
        mapBase + entryPos,
      );
    }
    const isBlkx = type === BLKX;
    // Attack class B11: a million tables is refused by count, before any is read.
    if (isBlkx) {
      checkBudget(budget, "maxTables", out.blkx.length + count, {
        offset: mapBase + entryPos,
        subject: "'blkx' resources in the resource fork",
      });
    }
    for (let r = 0; r < count; r++) {
      const refPos = refStart + r * RSRC_REF_ENTRY_SIZE;
      m.pos = refPos;
      const id = (m.u16() << 16) >> 16;
      const nameOff = m.u16();
      const attributes = m.u8();
      const dOff = (m.u8() << 16) | m.u16();
      let name = "";
      if (nameOff !== RSRC_NO_NAME) {
        const p = nameListOff + nameOff;
        if (p + 1 > mapLen || p + 1 + map[p] > mapLen) {
          bad(
            `name of '${type}' ${id} at map offset ${p} runs past the ${mapLen}-byte map`,
            mapBase + refPos + 2,
          );
        }
        checkBudget(budget, "maxNameBytes", map[p], {
          offset: mapBase + p,
          subject: `name of '${type}' ${id}`,
        });
        name = latin1(map.subarray(p + 1, p + 1 + map[p]));
      }
      // Attack class C15 in the fork: a length field that runs past the data area.
      if (dOff + 4 > dataLen) {
        bad(
          `data of '${type}' ${id} at data offset ${dOff} lies outside the ${dataLen}-byte data area`,
          mapBase + refPos + 5,
        );
      }
      const d = new Cursor(data, dataBase, "resource data", "RSRC_MALFORMED");
      d.pos = dOff;
      const len = d.u32();
      if (dOff + 4 + len > dataLen) {
        bad(
          `data of '${type}' ${id} at ${at(dataBase + dOff)} declares ${len} bytes, past the end of the ${dataLen}-byte data area`,
          dataBase + dOff,
        );
      }
      spans.add(dOff, dOff + 4 + len, refPos);
      const payload = data.subarray(dOff + 4, dOff + 4 + len);
      if (isBlkx) {
        out.blkx.push({ id, name, attributes, data: payload, fileOffset: dataBase + dOff + 4 });
      } else {
        out.other.push({ type, id, name, attributes, data: payload });
      }
    }
  }
  // Attack class G47, in the data area: references that share bytes make one table many
  // (1,024 references to one table of 2,047 chunks fit in 95 KB and made 2.1 million chunk
  // entries). Each resource must have its own bytes, so that chunks stay at most S / 40.
  const clash = spans.firstOverlap();
  if (clash) {
    bad(
      `the reference at map offset ${clash.refPos} points at data [${clash.start}, ${clash.end}), which overlaps the data [${clash.otherStart}, ${clash.otherEnd}) of the reference at map offset ${clash.otherRefPos}: resources must not share bytes`,
      mapBase + clash.refPos + 5,
    );
  }
  return out;
}

/** Two references whose data overlap: `refPos` is the one read later. */
interface Overlap {
  refPos: number;
  start: number;
  end: number;
  otherRefPos: number;
  otherStart: number;
  otherEnd: number;
}

/** Multiplier that keeps a reference index below it in a packed sort key. */
const INDEX_SPAN = 2 ** 29;

/**
 * The data ranges of a fork's references, checked for overlap in O(n log n) (O(n) when they
 * come in order, as every writer lays them out).
 */
class DataSpans {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private readonly refPos: number[] = [];
  private inOrder = true;

  /** Record the data range `[start, end)` of the reference at map offset `refPos`. */
  add(start: number, end: number, refPos: number): void {
    const n = this.starts.length;
    if (n > 0 && start < this.starts[n - 1]) this.inOrder = false;
    this.starts.push(start);
    this.ends.push(end);
    this.refPos.push(refPos);
  }

  /** An overlapping pair, or undefined when every range stands apart. */
  firstOverlap(): Overlap | undefined {
    const order = this.sorted();
    let reach = -1; // largest end so far, and the reference it belongs to
    let holder = -1;
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      if (this.starts[i] < reach) {
        // Report the one of the two read later (indices follow the order of reading).
        const [later, earlier] = i > holder ? [i, holder] : [holder, i];
        return {
          refPos: this.refPos[later],
          start: this.starts[later],
          end: this.ends[later],
          otherRefPos: this.refPos[earlier],
          otherStart: this.starts[earlier],
          otherEnd: this.ends[earlier],
        };
      }
      if (this.ends[i] > reach) {
        reach = this.ends[i];
        holder = i;
      }
    }
    return undefined;
  }

  /** Indices in order of start (ties by index). */
  private sorted(): ArrayLike<number> {
    const n = this.starts.length;
    if (this.inOrder) {
      const order = new Uint32Array(n);
      for (let i = 0; i < n; i++) order[i] = i;
      return order;
    }
    // Start (< 2^24) and index (< 2^29: a reference is 12 bytes of a map under 4 GiB) packed
    // into one exact double, so that a typed-array sort orders them without a callback.
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = this.starts[i] * INDEX_SPAN + i;
    keys.sort();
    const order = new Uint32Array(n);
    for (let k = 0; k < n; k++) order[k] = keys[k] % INDEX_SPAN;
    return order;
  }
}

/** A resource as the writer lays it out. */
interface Entry {
  id: number;
  name: string;
  attributes: number;
  data: Uint8Array;
}

function invalid(msg: string): never {
  throw new DmgError("INVALID_ARGUMENT", `cannot write resource fork: ${msg}`);
}

function checkLatin1(s: string, what: string, maxLength: number): void {
  if (s.length > maxLength) invalid(`${what} "${s}" is longer than ${maxLength} characters`);
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) invalid(`${what} "${s}" has a character above U+00FF`);
  }
}

/**
 * Serialize a resource map as a resource fork: header at 0, data area at 0x100 (as hdiutil
 * writes it), map after the data. 'blkx' comes first, then the other types in order of first
 * appearance; `fileOffset` and `cfName` of the blkx entries are not stored.
 *
 * @throws DmgError INVALID_ARGUMENT when a field does not fit the format (ID outside 16 bits,
 *   attributes above 0xFF, type not four Latin-1 characters, name over 255 characters, data
 *   beyond the 24-bit offset range, map over 64 KiB)
 */
export function serializeResourceFork(map: ResourceMap): Uint8Array {
  const groups = new Map<string, Entry[]>();
  if (map.blkx.length > 0) groups.set(BLKX, [...map.blkx]);
  for (const o of map.other) {
    if (o.type === BLKX) invalid("a resource of type 'blkx' is listed among the other resources");
    let g = groups.get(o.type);
    if (!g) {
      g = [];
      groups.set(o.type, g);
    }
    g.push(o);
  }
  let refCount = 0;
  for (const [type, entries] of groups) {
    if (type.length !== 4) invalid(`type "${type}" is not four characters`);
    checkLatin1(type, "type", 4);
    if (entries.length > 0x1_0000) invalid(`more than 65536 resources of type '${type}'`);
    refCount += entries.length;
    for (const e of entries) {
      if (!Number.isInteger(e.id) || e.id < -0x8000 || e.id > 0x7fff) {
        invalid(`'${type}' ID ${e.id} does not fit a signed 16-bit field`);
      }
      if (!Number.isInteger(e.attributes) || e.attributes < 0 || e.attributes > 0xff) {
        invalid(`'${type}' ${e.id} attributes ${e.attributes} do not fit a byte`);
      }
      checkLatin1(e.name, "name", 255);
    }
  }
  const typeListOff = RSRC_MAP_HEADER_SIZE;
  const refsOff = 2 + groups.size * RSRC_TYPE_ENTRY_SIZE; // from the type list
  const nameListOff = typeListOff + refsOff + refCount * RSRC_REF_ENTRY_SIZE;
  if (nameListOff > 0xffff)
    invalid(`${refCount} resources make the map too large for its 16-bit offsets`);

  // Offsets of each resource's data and name, computed before anything is written so the
  // output is allocated once at its exact size.
  const dataOffsets: number[] = [];
  const nameOffsets: number[] = [];
  let dataLen = 0;
  let namesLen = 0;
  for (const entries of groups.values()) {
    for (const e of entries) {
      if (dataLen > MAX_DATA_OFFSET) invalid("data area passes the 24-bit offset range");
      dataOffsets.push(dataLen);
      dataLen += 4 + e.data.length;
      if (e.name === "") {
        nameOffsets.push(RSRC_NO_NAME);
      } else {
        if (namesLen >= RSRC_NO_NAME) invalid("name list passes the 16-bit offset range");
        nameOffsets.push(namesLen);
        namesLen += 1 + e.name.length;
      }
    }
  }
  const mapLen = nameListOff + namesLen;
  const mapOff = RSRC_DATA_START + dataLen;
  if (mapOff + mapLen > 0xffff_ffff) invalid("fork passes the 32-bit offset range");

  const out = new Uint8Array(mapOff + mapLen);
  const v = new DataView(out.buffer);
  const header = (p: number): void => {
    v.setUint32(p, RSRC_DATA_START);
    v.setUint32(p + 4, mapOff);
    v.setUint32(p + 8, dataLen);
    v.setUint32(p + 12, mapLen);
  };
  header(0);
  header(mapOff); // the map's copy; next-map handle, file ref and attributes stay zero
  v.setUint16(mapOff + 24, typeListOff);
  v.setUint16(mapOff + 26, nameListOff);
  const tl = mapOff + typeListOff;
  v.setUint16(tl, (groups.size - 1) & 0xffff);
  let t = 0;
  let r = 0;
  for (const [type, entries] of groups) {
    const te = tl + 2 + t * RSRC_TYPE_ENTRY_SIZE;
    for (let i = 0; i < 4; i++) out[te + i] = type.charCodeAt(i);
    v.setUint16(te + 4, entries.length - 1);
    v.setUint16(te + 6, refsOff + r * RSRC_REF_ENTRY_SIZE);
    for (const e of entries) {
      const re = tl + refsOff + r * RSRC_REF_ENTRY_SIZE;
      const dOff = dataOffsets[r];
      v.setInt16(re, e.id);
      v.setUint16(re + 2, nameOffsets[r]);
      out[re + 4] = e.attributes;
      out[re + 5] = dOff >>> 16;
      v.setUint16(re + 6, dOff & 0xffff);
      // re + 8: reserved handle, zero.
      const d = RSRC_DATA_START + dOff;
      v.setUint32(d, e.data.length);
      out.set(e.data, d + 4);
      if (nameOffsets[r] !== RSRC_NO_NAME) {
        const n = mapOff + nameListOff + nameOffsets[r];
        out[n] = e.name.length;
        for (let i = 0; i < e.name.length; i++) out[n + 1 + i] = e.name.charCodeAt(i);
      }
      r++;
    }
    t++;
  }
  return out;
}
