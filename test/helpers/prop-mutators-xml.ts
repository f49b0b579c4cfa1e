/**
 * Mutators of the XML property list (ATTACKS.md B10, B11, B13): broken base64 in the tables'
 * <data>, DOCTYPEs with entity declarations (and the harmless DOCTYPEs real files carry), deep
 * nesting and element floods. They apply to images whose tables are described in XML.
 */
import fc from "fast-check";
import type { ErrorCode } from "../../src/index.js";
import type { ImageArbOptions } from "./arbitraries.js";
import { withXml, xmlOf } from "./hostile.js";
import type { Built } from "./prop-build.js";
import {
  BUDGET_DECLARED,
  BUDGET_WORK,
  CHUNK,
  CRC,
  DECODE,
  defineMutator,
  type Mutator,
  TABLE,
} from "./prop-mutator.js";
import type { Mutation } from "./prop-outcome.js";
import { dataElements, digitIndexes, pick } from "./prop-rewrite.js";

/** Images whose tables are read from the XML. */
const XML_IMAGES: ImageArbOptions = { layouts: ["xml", "both"] };

/** Characters that are neither base64 digits nor whitespace ('<' and '&' break the XML too). */
const STRAY = [..."!#$%()*,-.:;?@[]^_`{|}~\"'\u00e9\u20ac<&"];
const DIGITS = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"];

const mutated = (b: Built, xml: string, m: Partial<Mutation> = {}): Mutation => ({
  bytes: withXml(b.image, xml),
  reference: b,
  exact: true,
  ...m,
});

const splice = (s: string, at: number, remove: number, insert: string) =>
  s.slice(0, at) + insert + s.slice(at + remove);

/** B13: stray characters, misplaced '=', a digit dropped or added, a digit changed. */
export const brokenBase64 = defineMutator({
  name: "base64",
  attacks: "B13",
  codes: [
    ["PLIST_BASE64", "PLIST_MALFORMED"],
    TABLE,
    CHUNK,
    DECODE,
    CRC,
    BUDGET_DECLARED,
    BUDGET_WORK,
  ],
  images: XML_IMAGES,
  params: fc.record({
    table: fc.nat(),
    op: fc.constantFrom("stray", "pad", "drop", "extra", "change"),
    at: fc.nat(),
    ch: fc.nat(),
  }),
  apply(b, p) {
    const xml = xmlOf(b.image);
    const el = pick(dataElements(xml), p.table);
    const digits = digitIndexes(xml, el);
    const i = pick(digits, p.at);
    switch (p.op) {
      case "stray":
        return mutated(b, splice(xml, i, 0, pick(STRAY, p.ch)), {
          fails: ["PLIST_BASE64", "PLIST_MALFORMED"],
        });
      case "pad":
        // '=' before a digit or a third '=' never completes a group of four.
        return mutated(b, splice(xml, i, 0, "="), { fails: ["PLIST_BASE64"] });
      case "extra":
        // One digit more than whole groups: 1 mod 4, or digits after the padding.
        return mutated(b, splice(xml, digits[digits.length - 1] + 1, 0, pick(DIGITS, p.ch)), {
          fails: ["PLIST_BASE64"],
        });
      case "drop":
        // The blob loses bytes (or only padding, which is optional): never a different table.
        return mutated(b, splice(xml, i, 1, ""));
      default: {
        const other = DIGITS.filter((d) => d !== xml[i]);
        const detect = b.spec.tables.every((t) => t.checksum);
        return mutated(b, splice(xml, i, 1, pick(other, p.ch)), { exact: false, detect });
      }
    }
  },
});

const APPLE_DOCTYPE =
  '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">';

const laughs = (levels: number) => {
  let s = '<!ENTITY l0 "lol">';
  for (let i = 1; i <= levels; i++) s += `<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`;
  return s;
};

/** DOCTYPE variants: [doctype, text put in the first table's Name, must fail with]. */
const DOCTYPES: ReadonlyArray<[string, string | undefined, ErrorCode[] | undefined]> = [
  [`<!DOCTYPE plist [${laughs(9)}]>`, "&l9;", ["PLIST_DOCTYPE"]],
  ['<!DOCTYPE plist [<!ENTITY x SYSTEM "file:///etc/passwd">]>', "&x;", ["PLIST_DOCTYPE"]],
  [
    '<!DOCTYPE plist [<!ENTITY % p SYSTEM "http://example.invalid/p.dtd"> %p;]>',
    "",
    ["PLIST_DOCTYPE"],
  ],
  [`${APPLE_DOCTYPE.slice(0, -1)} [<!ENTITY a "b">]>`, "&a;", ["PLIST_DOCTYPE"]],
  [
    `<!DOCTYPE plist [<!ENTITY big "${"x".repeat(10_000)}">]>`,
    "&big;".repeat(1000),
    ["PLIST_DOCTYPE"],
  ],
  ["<!DOCTYPE plist [<!-- nothing -->]>", undefined, ["PLIST_DOCTYPE"]],
  ['<!DOCTYPE plist [<!ATTLIST plist version CDATA "1.0">]>', undefined, ["PLIST_DOCTYPE"]],
  [APPLE_DOCTYPE, "&undeclared;", ["PLIST_MALFORMED"]],
  [APPLE_DOCTYPE, undefined, []],
  ["", undefined, []],
  ["<!DOCTYPE plist>", undefined, []],
  ['<!DOCTYPE plist PUBLIC "-//Apple//DTD [PLIST] 1.0//EN" "x]">', undefined, []],
  ['<!DOCTYPE plist SYSTEM "file:///etc/passwd">', undefined, undefined],
  [APPLE_DOCTYPE, "&#x41;&#66;&lt;&amp;&gt;&quot;&apos;", []],
  [APPLE_DOCTYPE, "&#x41;".repeat(1000), []],
  // G46: a name past maxNameBytes, however it is spelled.
  [APPLE_DOCTYPE, "&#x41;".repeat(20_000), ["BUDGET_NAME_BYTES"]],
];

/** Replace the text of the first table's Name string. */
function withName(xml: string, text: string): string {
  const key = xml.indexOf("<key>Name</key>");
  const open = xml.indexOf("<string>", key) + "<string>".length;
  return splice(xml, open, xml.indexOf("</string>", open) - open, text);
}

/**
 * A mutator picking one of `edits` of the XML text, each with the codes the image must fail
 * with (undefined: it may be read or refused; empty: it must be read, exactly).
 */
function xmlEdits(
  name: string,
  attacks: string,
  codes: ErrorCode[],
  edits: ReadonlyArray<[(xml: string) => string, ErrorCode[] | undefined]>,
): Mutator {
  return defineMutator({
    name,
    attacks,
    codes: [codes],
    images: XML_IMAGES,
    params: fc.nat(edits.length - 1),
    apply(b, p) {
      const [edit, fails] = edits[p];
      const reads = fails?.length === 0;
      return mutated(b, edit(xmlOf(b.image)), { fails: reads ? undefined : fails, reads });
    },
  });
}

/** B10: DOCTYPEs declaring entities are refused; the DOCTYPEs real files carry are read. */
export const doctype = xmlEdits(
  "doctype",
  "B10, G46",
  ["PLIST_DOCTYPE", "PLIST_MALFORMED", "BUDGET_NAME_BYTES"],
  DOCTYPES.map(([dt, name, fails]) => [
    (xml) => {
      const out = xml.replace(APPLE_DOCTYPE, dt);
      return name === undefined ? out : withName(out, name);
    },
    fails,
  ]),
);

/** B11: deep nesting at several places, and floods of tiny elements. */
export const nesting = defineMutator({
  name: "nesting",
  attacks: "B11",
  codes: [["PLIST_STRUCTURE", "PLIST_MALFORMED"]],
  images: XML_IMAGES,
  params: fc.record({
    where: fc.constantFrom("root", "blkx-dict", "blkx-item", "flood"),
    depth: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 150_000 })),
  }),
  apply(b, p) {
    const xml = xmlOf(b.image);
    const deep = "<array>".repeat(p.depth) + "</array>".repeat(p.depth);
    const blkx = xml.indexOf("<array>", xml.indexOf("<key>blkx</key>")) + "<array>".length;
    let out: string;
    let fails: ErrorCode[] | undefined;
    let reads = false;
    if (p.where === "root") {
      const root = xml.indexOf("<dict>") + "<dict>".length;
      out = splice(xml, root, 0, `<key>deep</key>${deep}`);
      // The plist nests 2 levels above the arrays; the parser allows 32, real files need 6.
      if (p.depth > 40) fails = ["PLIST_STRUCTURE"];
      if (p.depth <= 24) reads = true;
    } else if (p.where === "blkx-dict") {
      const dict = xml.indexOf("<dict>", blkx) + "<dict>".length;
      out = splice(xml, dict, 0, `<key>deep</key>${deep}`);
      if (p.depth > 40) fails = ["PLIST_STRUCTURE"];
    } else if (p.where === "blkx-item") {
      // A blkx entry that is an array, not a dict.
      out = splice(xml, blkx, 0, deep);
      fails = ["PLIST_STRUCTURE"];
    } else {
      out = splice(
        xml,
        xml.indexOf("<dict>") + 6,
        0,
        `<key>flood</key><array>${"<true/>".repeat(p.depth)}</array>`,
      );
    }
    return mutated(b, out, { fails, reads });
  },
});

/** B12 variants: [what is searched, its replacement, must fail with]. */
const STRUCTURE_EDITS: ReadonlyArray<[string | RegExp, string, ErrorCode[]]> = [
  ["<key>blkx</key>", "<key>blkz</key>", ["PLIST_STRUCTURE"]],
  ["<key>resource-fork</key>", "<key>resource_fork</key>", ["PLIST_STRUCTURE"]],
  [
    /<key>blkx<\/key>(\s*)<array>([\s\S]*?)<\/array>/,
    "<key>blkx</key>$1<dict>$2</dict>",
    ["PLIST_STRUCTURE"],
  ],
  [/<data>([^<]*)<\/data>/, "<string>$1</string>", ["PLIST_STRUCTURE"]],
  [/<key>Data<\/key>\s*<data>[^<]*<\/data>/, "", ["PLIST_STRUCTURE"]],
  [
    /<key>Name<\/key>(\s*)<string>[^<]*<\/string>/,
    "<key>Name</key>$1<integer>7</integer>",
    ["PLIST_STRUCTURE"],
  ],
  [
    /<key>ID<\/key>(\s*)<string>[^<]*<\/string>/,
    "<key>ID</key>$1<string>one</string>",
    ["PLIST_STRUCTURE"],
  ],
  [
    /<key>Attributes<\/key>(\s*)<string>[^<]*<\/string>/,
    "<key>Attributes</key>$1<data>AAAA</data>",
    ["PLIST_STRUCTURE"],
  ],
  ["<dict>", "<array>", ["PLIST_MALFORMED", "PLIST_STRUCTURE"]],
  ["</plist>", "", ["PLIST_MALFORMED"]],
];

/** B12: `resource-fork` or `blkx` missing, values of the wrong type, a required key missing. */
export const mapStructure = xmlEdits(
  "map-structure",
  "B12, B14",
  ["PLIST_STRUCTURE", "PLIST_MALFORMED"],
  STRUCTURE_EDITS.map(([from, to, fails]) => [(xml) => xml.replace(from, to), fails]),
);

/** The property-list mutators. */
export const XML_MUTATORS: readonly Mutator[] = [brokenBase64, doctype, nesting, mapStructure];
