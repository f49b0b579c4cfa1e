/**
 * Fuzz target: the CMS blob of a code signature. The input is the DER SignedData (the blob's
 * payload), verified over a fixed CodeDirectory stand-in, and also read as a trust-root file.
 * Only DmgErrors (CODESIGN_CMS, INVALID_ARGUMENT) may be thrown and only CODESIGN_ problems
 * returned, whatever the ASN.1 and X.509 library underneath throws.
 */
import { DmgError } from "../../dist/core/errors.js";
import { parseTrustRoots, verifyCms } from "../../dist/inspect/signature/cms.js";
import { invariant } from "../harness.js";

/** The bytes the seeds were signed over (corpus/fuzz/cms/). */
const CONTENT = new TextEncoder().encode("dmg-validate cms fuzz content\n");
const NOW = new Date("2030-01-01T00:00:00Z");

export async function fuzz(data) {
  try {
    const r = await verifyCms(data, { content: CONTENT, cdHashes: [new Uint8Array(32)], now: NOW });
    for (const p of r.problems) {
      invariant(p instanceof DmgError && p.code.startsWith("CODESIGN_"), `problem ${p}`);
    }
    invariant(r.report.chain.length <= 8, "chain longer than its cap");
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    invariant(e.code === "CODESIGN_CMS", `unexpected code ${e.code}`);
  }
  try {
    parseTrustRoots([data]);
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    invariant(e.code === "INVALID_ARGUMENT", `unexpected code ${e.code}`);
  }
}
