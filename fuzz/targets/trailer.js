/**
 * Fuzz target: the koly trailer. The input is a whole file: the trailer is searched where
 * readers look for it (last 512 bytes, the last 515, offset 0), parsed (and must parse back
 * the same after serializeKoly), and its ranges checked against the file size.
 */

import { checkKolyRanges, parseKoly, serializeKoly } from "../../dist/format/koly.js";
import { locateKoly } from "../../dist/image/locate.js";
import { bytesSource } from "../../dist/sources/source.js";
import { invariant, sameAfterRoundTrip, tolerate } from "../harness.js";

export async function fuzz(data) {
  const warnings = [];
  let koly;
  await tolerate(async () => {
    koly = await locateKoly(bytesSource(data), warnings);
  });
  invariant(warnings.length <= 1, `${warnings.length} warnings for one trailer`);
  if (koly === undefined) return;
  const { fileOffset, ...fields } = koly;
  sameAfterRoundTrip("koly trailer", koly, parseKoly(serializeKoly(fields), fileOffset));
  await tolerate(async () => {
    checkKolyRanges(koly, data.length);
    // A trailer that passed the checks describes ranges a reader may use as offsets.
    for (const [name, off, len] of [
      ["data fork", koly.dataForkOffset, koly.dataForkLength],
      ["resource fork", koly.rsrcForkOffset, koly.rsrcForkLength],
    ]) {
      invariant(
        len === 0 || (Number.isSafeInteger(off + len) && off + len <= data.length),
        `${name} [${off}, ${off + len}) accepted in a ${data.length}-byte file`,
      );
    }
  });
}
