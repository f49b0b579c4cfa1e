/**
 * `--trust-roots FILE`: certificate files (DER, or PEM with one or more certificates) the code
 * signature's chain must reach, read once before any image is opened.
 */
import { open as openFile } from "node:fs/promises";
import { DmgError } from "../core/errors.js";
import { sanitize } from "../core/text.js";

/** Largest trust-root file read: a bundle of every public root is well under this. */
export const MAX_TRUST_ROOT_FILE = 4 * 1024 * 1024;

/** The bytes of each file of `paths`. */
export async function readTrustRoots(paths: readonly string[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (const path of paths) {
    try {
      const h = await openFile(path, "r");
      try {
        // A device or a huge file named by mistake is refused, not read to the end.
        const { size } = await h.stat();
        if (size > MAX_TRUST_ROOT_FILE) {
          throw new DmgError(
            "INVALID_ARGUMENT",
            `the trust-root file ${sanitize(path)} is ${size} bytes (at most ${MAX_TRUST_ROOT_FILE})`,
          );
        }
        const buf = new Uint8Array(size);
        const { bytesRead } = await h.read(buf, 0, size, 0);
        out.push(buf.subarray(0, bytesRead));
      } finally {
        await h.close();
      }
    } catch (e) {
      if (e instanceof DmgError) throw e;
      const code = (e as NodeJS.ErrnoException)?.code ?? "error";
      throw new DmgError("IO_ERROR", `cannot read the trust-root file ${sanitize(path)} (${code})`);
    }
  }
  // A file that holds no certificate is a usage mistake: said once, before any image is read.
  const { parseTrustRoots } = await import("../inspect/signature/cms.js");
  parseTrustRoots(out);
  return out;
}
