/**
 * Fuzz target: the legacy resource fork parser (parseResourceFork) on the input as the fork.
 * A fork it accepts must parse back the same after serializeResourceFork.
 */
import { parseResourceFork, serializeResourceFork } from "../../dist/format/rsrc.js";
import { checkMapRoundTrip, invariant, parseMap } from "../harness.js";

export function fuzz(data) {
  const map = parseMap(data, parseResourceFork);
  if (map === undefined) return;
  // Resource data are views into the fork: never past its end.
  for (const r of map.blkx) {
    invariant(r.fileOffset + r.data.length <= data.length, `blkx at ${r.fileOffset} overruns`);
  }
  checkMapRoundTrip("resource fork", map, serializeResourceFork, parseResourceFork);
}
