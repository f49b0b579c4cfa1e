/**
 * The password option, read at the API boundary: a string (encoded as UTF-8, as hdiutil
 * keys images) or bytes (copied, so a caller clearing its buffer later changes nothing here).
 */
import { DmgError } from "../../core/errors.js";
import { readOption } from "../../core/options.js";

/**
 * Option `password` of `o`, as bytes; undefined when absent.
 *
 * @throws DmgError INVALID_ARGUMENT for any other type (a number, an object), or a getter
 *   that throws. The message never holds the value.
 */
export function passwordOption(o: object, what = "options"): Uint8Array | undefined {
  const v = readOption(o, "password", what);
  if (v === undefined) return undefined;
  if (typeof v === "string") return new TextEncoder().encode(v);
  if (v instanceof Uint8Array) return v.slice();
  throw new DmgError("INVALID_ARGUMENT", `${what}.password must be a string or a Uint8Array`);
}
