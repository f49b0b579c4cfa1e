/**
 * Fuzz target: the XML property list parser (parsePlist) on the input as the whole plist. A
 * map it accepts must survive the writers: serialized as XML and as a resource fork (which has
 * no CFName), it parses back to the same map.
 */
import { parsePlist } from "../../dist/format/plist.js";
import { serializePlist } from "../../dist/format/plist-write.js";
import { parseResourceFork, serializeResourceFork } from "../../dist/format/rsrc.js";
import { checkMapRoundTrip, parseMap } from "../harness.js";

export function fuzz(data) {
  const map = parseMap(data, parsePlist);
  if (map === undefined) return;
  checkMapRoundTrip("property list", map, serializePlist, parsePlist);
  const noCfName = { blkx: map.blkx.map(({ cfName, ...r }) => r), other: map.other };
  checkMapRoundTrip("plist as resource fork", noCfName, serializeResourceFork, parseResourceFork);
}
