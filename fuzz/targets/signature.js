/**
 * Fuzz target: the embedded code signature. The input is the superblob; it is placed after a
 * small signed range and before a synthetic trailer, then inspected as a DMG's signature would
 * be. Only findings (or a DmgError from a read) may come out, never another exception.
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
  try {
    const r = await inspectSignature({ koly, size, read });
    for (const f of r.findings)
      invariant(f.code.startsWith("CODESIGN_"), `unexpected finding ${f.code}`);
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
  }
}
