/**
 * The resource map shared by the two carriers of the partition tables: the XML property list
 * (`resource-fork` dict) and the legacy binary resource fork. Both parse into this shape and
 * both serialize from it.
 */

/** One partition table's entry in the resource map (XML `blkx` dict or resource-fork 'blkx' resource). */
export interface BlkxResource {
  /** XML "ID" string ("-1", "0", ...) parsed as an integer; resource ID (signed 16-bit) in the fork. */
  id: number;
  /** XML "Name" or the resource's name (e.g. "Apple_HFS : 4"). */
  name: string;
  /** XML "CFName", when present (the resource fork has none). */
  cfName?: string;
  /** XML "Attributes" string such as "0x0050" parsed as hex, or the resource's attribute byte. */
  attributes: number;
  /** The mish blob. */
  data: Uint8Array;
  /** Where the data lies in the file: exact for the resource fork; for XML the file offset of the `<data>` element. */
  fileOffset: number;
}

/** A resource other than 'blkx', kept as raw data. */
export interface OtherResource {
  /** Resource type, normally four characters ("plst", "cSum", "nsiz", "size"). */
  type: string;
  id: number;
  name: string;
  attributes: number;
  data: Uint8Array;
}

/** The resources of an image: its partition tables and everything else. */
export interface ResourceMap {
  blkx: BlkxResource[];
  /** Other resources kept as raw data by type (e.g. "plst", "cSum", "nsiz", "size"), for info and round trips. */
  other: OtherResource[];
}

/** The resource type of the partition tables. */
export const BLKX = "blkx";
