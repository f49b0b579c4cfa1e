/**
 * Fuzz target: the embedded code signature. The input is the superblob; it is placed after a
 * small signed range and before a synthetic trailer, then inspected as a DMG's signature would
 * be. Only findings may come out, never an exception.
 */
import { DmgError } from "../../dist/core/errors.js";
import { inspectSignature } from "../../dist/inspect/signature/verify.js";
import { invariant } from "../harness.js";

const SIGNED = 4096;

export async function fuzz(data) {
  const size = SIGNED + data.length + 512;
  const file = new Uint8Array(size);
  file.set(data, SIGNED);
  const koly = {
    fileOffset: SIGNED + data.length,
    codeSignatureOffset: SIGNED,
    codeSignatureLength: data.length,
  };
  const read = async (offset, length) => {
    invariant(
      offset >= 0 && length >= 0 && offset + length <= size,
      `read ${offset}+${length} outside the file`,
    );
    return file.subarray(offset, offset + length);
  };
  // Reads never fail here: whatever is wrong with the signature is a finding. A DmgError of
  // another code leaving inspectSignature (a 64-bit code limit's FIELD_TOO_LARGE did) is a bug.
  let r;
  try {
    r = await inspectSignature({ koly, size, read });
  } catch (e) {
    invariant(!(e instanceof DmgError), `signature() raised ${e.code} instead of a finding`);
    throw e;
  }
  for (const f of r.findings)
    invariant(f.code.startsWith("CODESIGN_"), `unexpected finding ${f.code}`);
}
