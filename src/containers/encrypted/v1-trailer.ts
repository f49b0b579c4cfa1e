/**
 * The version 1 encrypted image (Mac OS X 10.3 and 10.4): its header is a trailer, ending the
 * file with the signature "cdsaencr". Its key unwrap (RFC 3217 Triple DES key wrap) is not
 * implemented: such an image is recognised and refused as unsupported, never read as garbage.
 */
import { DmgError } from "../../core/errors.js";

export const CDSAENCR = "cdsaencr";

export { isCdsaencr } from "../magic.js";

/** The error for a version 1 image of `fileSize` bytes. */
export function v1Unsupported(fileSize: number): DmgError {
  return new DmgError(
    "ENCRYPTED_UNSUPPORTED",
    'image is a version 1 encrypted image ("cdsaencr" trailer, Mac OS X 10.4 and earlier), which this reader does not decrypt; convert it with hdiutil convert -format UDZO',
    fileSize - 8,
  );
}
