/**
 * Fuzz target: strings from a file on their way to a terminal or a JSON reader (attack class
 * G40). The input, read as Latin-1 (as resource-fork names are) and as UTF-8 (as the XML is),
 * goes through sanitize (text output), jsonText (JSON output) and the CLI's finding line. A
 * finding is a control, C1, bidi or line-separator character left raw, or JSON that does not
 * parse back to the same string.
 */
import { findingLine } from "../../dist/cli/output.js";
import { jsonText, sanitize } from "../../dist/core/text.js";
import { invariant } from "../harness.js";

/** What must never reach a terminal raw. */
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** What must never be left raw in a JSON line. */
const RAW_JSON = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/;

export function fuzz(data) {
  const latin1 = new TextDecoder("latin1").decode(data);
  const utf8 = new TextDecoder("utf-8").decode(data);
  for (const s of [latin1, utf8]) {
    invariant(!RAW.test(sanitize(s)), `sanitize left a raw character in ${JSON.stringify(s)}`);
    const line = findingLine({ severity: "error", code: "CRC_TABLE", message: s, offset: 0 });
    invariant(!RAW.test(line), `a finding line kept a raw character of ${JSON.stringify(s)}`);
    const json = jsonText({ name: s });
    invariant(!RAW_JSON.test(json), `JSON kept a raw character of ${JSON.stringify(s)}`);
    invariant(JSON.parse(json).name === s, "JSON did not read back the same string");
  }
}
