/**
 * The Master Boot Record: four entries at byte 446 of sector 0, the 0x55AA signature at 510,
 * and the chain of extended boot records behind an extended entry. Every field is
 * little-endian and counts 512-byte sectors.
 */
import { Cursor } from "../bytes/cursor.js";
import type { Finding } from "../core/errors.js";

/** Sector size the MBR counts in. */
export const MBR_SECTOR = 512;
/** Offset of the first of the four entries in sector 0 (and in each extended boot record). */
export const MBR_ENTRIES = 446;
/** Size of one entry. */
export const MBR_ENTRY_SIZE = 16;
/** Offset of the 0x55 0xAA signature. */
export const MBR_SIGNATURE = 510;
/** The type of the protective entry of a GPT disk. */
export const MBR_PROTECTIVE = 0xee;
/** Types of extended partitions: containers of a chain of extended boot records. */
export const MBR_EXTENDED: ReadonlySet<number> = new Set([0x05, 0x0f, 0x85]);
/**
 * Most logical partitions followed in an extended chain: Linux stops at 256 partitions in all;
 * a chain made to loop or to run for millions of links stops here.
 */
export const MAX_LOGICAL = 128;

/** Reads `length` bytes of the disk at `offset`. */
export type DiskRead = (offset: number, length: number) => Promise<Uint8Array>;

/** One entry of the MBR or of an extended boot record. */
export interface MbrEntry {
  /** 1 to 4 for the primary entries, 5 and on for logical partitions (Linux's numbering). */
  index: number;
  /** 0x80 for the boot partition, else 0. */
  status: number;
  type: number;
  /** First sector on the disk. */
  firstLba: number;
  sectors: number;
}

/** True when `sector` ends with the 0x55AA signature. */
export function hasMbrSignature(sector: Uint8Array): boolean {
  return (
    sector.length >= MBR_SECTOR &&
    sector[MBR_SIGNATURE] === 0x55 &&
    sector[MBR_SIGNATURE + 1] === 0xaa
  );
}

/**
 * The four entries of a boot record (empty ones, type 0, included), their starts relative to
 * `base` sectors. Undefined when a status byte is neither 0 nor 0x80: a FAT or NTFS boot sector
 * also ends with 0x55AA, and its code in these bytes is not a partition table.
 */
export function parseMbrEntries(sector: Uint8Array, base = 0): MbrEntry[] | undefined {
  const c = new Cursor(sector, 0, "boot record", "PARTMAP_MALFORMED");
  c.pos = MBR_ENTRIES;
  const out: MbrEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const status = c.u8();
    c.skip(3); // CHS of the first sector: LBA is what every reader since the 1990s uses
    const type = c.u8();
    c.skip(3);
    const first = c.u32le();
    const sectors = c.u32le();
    if (status !== 0 && status !== 0x80) return undefined;
    out.push({ index: i + 1, status, type, firstLba: base + first, sectors });
  }
  return out;
}

/** A finding of the map: errors for broken structure. */
function broken(message: string): Finding {
  return { severity: "error", code: "PARTMAP_MALFORMED", message, offset: -1 };
}

/**
 * The logical partitions inside extended entry `ext`: each extended boot record holds one
 * logical partition (relative to the record) and a link to the next record (relative to the
 * extended entry). The chain is followed at most {@link MAX_LOGICAL} links, inside `ext` and
 * the disk, and never to a record twice (a loop).
 */
export async function readExtended(
  read: DiskRead,
  diskSectors: number,
  ext: MbrEntry,
  findings: Finding[],
): Promise<MbrEntry[]> {
  const out: MbrEntry[] = [];
  const end = Math.min(ext.firstLba + ext.sectors, diskSectors);
  const seen = new Set<number>();
  let lba = ext.firstLba;
  for (let link = 0; ; link++) {
    if (link >= MAX_LOGICAL) {
      findings.push(broken(`extended partition chain has more than ${MAX_LOGICAL} links`));
      break;
    }
    // A chain that leaves its container or the disk (hostile, or a truncated disk) stops.
    if (lba < ext.firstLba || lba >= end) {
      findings.push(broken(`extended boot record at sector ${lba} is outside its container`));
      break;
    }
    // A link back to a record already read would loop forever.
    if (seen.has(lba)) {
      findings.push(broken(`extended partition chain loops back to sector ${lba}`));
      break;
    }
    seen.add(lba);
    const sector = await read(lba * MBR_SECTOR, MBR_SECTOR);
    const entries = hasMbrSignature(sector) ? parseMbrEntries(sector, lba) : undefined;
    if (!entries) {
      findings.push(broken(`extended boot record at sector ${lba} has no valid signature`));
      break;
    }
    const [logical, next] = entries;
    if (logical.type !== 0 && logical.sectors > 0) {
      out.push({ ...logical, index: 5 + out.length });
    }
    if (next.type === 0 || next.sectors === 0) break;
    lba = ext.firstLba + (next.firstLba - lba);
  }
  return out;
}
