/**
 * The value tree of a property list, built from saxes' events on an explicit stack of open
 * elements (no recursion), with a depth limit and an element limit. The plist is written to
 * saxes in pieces; the text of `<data>` elements is left to plist-data.ts.
 */
import { SaxesParser } from "#saxes";
import { at, DmgError } from "../core/errors.js";
import { type Budget, checkBudget } from "../core/limits.js";
import type { PlistValue } from "./plist.js";
import { doctypeStart, internalSubsetStart, isXmlSpace, Positions } from "./plist-bytes.js";
import { dataValue, predecode, SkippedNotBase64, skipData } from "./plist-data.js";
import {
  checkPlacement,
  elementLimit,
  type Frame,
  frameValue,
  PLIST_MAX_ATTRIBUTES,
  PLIST_MAX_DEPTH,
  preview,
  ROLE_BLKX,
  roleOf,
  structureError,
  TEXT_LEAVES,
} from "./plist-elements.js";

/**
 * The value tree of a plist already checked for size, NUL bytes and UTF-8, written to saxes
 * `pieceBytes` bytes at a time, as steps: the generator yields after each piece (a caller that
 * must stay fair to an event loop awaits a turn there) and returns the tree.
 *
 * @throws DmgError BUDGET_TABLES, BUDGET_NAME_BYTES, PLIST_MALFORMED, PLIST_DOCTYPE,
 *   PLIST_STRUCTURE, PLIST_BASE64
 */
export function* buildTreeSteps(
  xml: Uint8Array,
  fileOffset: number,
  budget: Budget,
  pieceBytes: number,
): Generator<void, PlistValue, void> {
  try {
    return yield* new TreeBuilder(xml, fileOffset, budget, true).run(pieceBytes);
  } catch (e) {
    if (!(e instanceof SkippedNotBase64)) throw e;
    return yield* new TreeBuilder(xml, fileOffset, budget, false).run(pieceBytes);
  }
}

/**
 * One parse. With `skip`, the text of a `<data>` element is not handed to saxes past the
 * first piece (see plist-data.ts).
 */
class TreeBuilder {
  // No line:column in saxes' messages: they count only the text saxes was given, and ours
  // carry the byte offset.
  private readonly parser = new SaxesParser({ position: false });
  private readonly positions: Positions;
  private readonly maxElements: number;
  private elements = 0;
  /** Attributes of the start tag being read. */
  private attributes = 0;
  private readonly stack: Frame[] = [];
  private root: PlistValue | undefined;
  private declChecked = false;

  constructor(
    private readonly xml: Uint8Array,
    private readonly fileOffset: number,
    private readonly budget: Budget,
    private readonly skip: boolean,
  ) {
    this.positions = new Positions(xml);
    this.maxElements = elementLimit(budget);
    const parser = this.parser;
    // Only the five predefined entities, in an object without a prototype: saxes looks entity
    // names up by property, and "&constructor;" must not find Object's.
    const entities: Record<string, string> = Object.create(null);
    entities.amp = "&";
    entities.lt = "<";
    entities.gt = ">";
    entities.quot = '"';
    entities.apos = "'";
    parser.ENTITIES = entities;
    // Few handlers on purpose: saxes stores each as a new property of the parser, and past
    // about eight V8 moves the parser to slow properties, which made a 60 MB plist parse 7 times
    // slower. Errors are left to saxes' default (it throws), the XML declaration is checked
    // when the prolog ends, and a tag's start is found from its end.
    parser.on("doctype", (doctype: string) => this.onDoctype(doctype));
    parser.on("opentag", (tag) => this.onOpen(tag.name));
    parser.on("attribute", (a) => this.onAttribute(a.name, a.value));
    const onText = (t: string): void => this.onText(t);
    parser.on("text", onText);
    parser.on("cdata", onText);
    parser.on("closetag", () => this.onClose());
  }

  /** Hand the plist to saxes piece by piece, yielding after each; the value held by `<plist>`. */
  *run(pieceBytes: number): Generator<void, PlistValue, void> {
    const { xml, parser, positions } = this;
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    try {
      let next = 0;
      while (next < xml.length) {
        let end = Math.min(xml.length, next + pieceBytes);
        while (end < xml.length && (xml[end] & 0xc0) === 0x80) end++; // a character is never split
        // ignoreBOM keeps a BOM in the string, so positions and bytes stay aligned (saxes skips it).
        const piece = decoder.decode(xml.subarray(next, end));
        positions.add(next, end - next, piece.length);
        parser.write(piece);
        if (this.skip) {
          const open = this.stack[this.stack.length - 1];
          next = skipData(xml, open, end);
          yield* predecode(xml, open, this.fileOffset, this.budget.maxPlistBytes);
        } else next = end;
        yield;
      }
      parser.close();
    } catch (e) {
      if (e instanceof DmgError || e instanceof SkippedNotBase64) throw e;
      // saxes' own internal errors (and an engine limit such as a string too long).
      throw this.malformed(e instanceof Error ? e.message : String(e));
    }
    if (this.root === undefined) throw this.malformed("no <plist> element");
    return this.root;
  }

  /** File offset of saxes' position. */
  private here(): number {
    return this.fileOffset + this.positions.byteAt(this.parser.position);
  }

  // Index of the '<' of the tag saxes just read: it is just past the tag's '>', and XML allows
  // no '<' inside a tag, so it is the last '<' before. ('<' is never inside a UTF-8 sequence.)
  private tagStart(): number {
    return Math.max(0, this.xml.lastIndexOf(0x3c, this.positions.byteAt(this.parser.position - 1)));
  }

  private malformed(msg: string, off = this.here()): DmgError {
    return new DmgError(
      "PLIST_MALFORMED",
      `XML property list is not well-formed at ${at(off)}: ${msg}`,
      off,
    );
  }

  private checkDecl(): void {
    if (this.declChecked) return;
    this.declChecked = true;
    // The bytes are decoded as UTF-8 whatever the declaration says; another declared encoding
    // means another reader would see other text.
    const decl = this.parser.xmlDecl;
    if (decl.version !== undefined && decl.version !== "1.0") {
      throw this.malformed(`XML version ${decl.version}, only 1.0 is read`, this.fileOffset);
    }
    const enc = decl.encoding?.toLowerCase();
    if (enc !== undefined && enc !== "utf-8" && enc !== "utf8" && enc !== "us-ascii") {
      throw this.malformed(
        `declared encoding ${decl.encoding}, only UTF-8 is read`,
        this.fileOffset,
      );
    }
  }

  private onDoctype(doctype: string): void {
    this.checkDecl();
    // Attack class B10 (billion laughs; ClamAV CVE-2023-20052 read a SYSTEM entity): entity
    // declarations live only in an internal subset, so any internal subset is refused. An
    // external DTD identifier alone (Apple's) is harmless: it is never fetched.
    const bracket = internalSubsetStart(doctype);
    if (bracket >= 0) {
      const off =
        this.fileOffset + doctypeStart(this.xml, this.positions.byteAt(this.parser.position));
      throw new DmgError(
        "PLIST_DOCTYPE",
        `XML property list at ${at(off)} has a DOCTYPE with an internal subset (entity declarations are refused)`,
        off,
      );
    }
  }

  /**
   * Attack class G37: a start tag with millions of attributes. saxes collects a tag's
   * attributes until its `>`, then builds an object of them; this is called for each as it is
   * read, so the count is bounded before saxes holds more than a few. A plist element has at
   * most one (`<plist version="1.0">`); every attribute also counts against the element budget.
   */
  private onAttribute(name: string, value: string): void {
    const offset = this.here();
    if (++this.attributes > PLIST_MAX_ATTRIBUTES) {
      throw structureError(`a start tag has more than ${PLIST_MAX_ATTRIBUTES} attributes`, offset);
    }
    this.countElement(offset);
    checkBudget(this.budget, "maxNameBytes", name.length + value.length, {
      offset,
      subject: "an attribute of a start tag",
    });
  }

  /**
   * Count one element or attribute against the element budget. Attack class B11: a flood of
   * elements would build a huge tree; G37: attributes are counted too, as saxes collects them.
   */
  private countElement(offset: number): void {
    if (++this.elements > this.maxElements) {
      throw structureError(
        `more than ${this.maxElements} elements and attributes (raise maxTables if this is honest)`,
        offset,
      );
    }
  }

  private onOpen(name: string): void {
    this.attributes = 0;
    this.checkDecl();
    const stack = this.stack;
    const offset = this.fileOffset + this.tagStart();
    this.countElement(offset);
    // Attack class B11: nesting far deeper than a plist needs.
    if (stack.length >= PLIST_MAX_DEPTH) {
      throw structureError(`elements nest deeper than ${PLIST_MAX_DEPTH} levels`, offset);
    }
    const parent = stack.length > 0 ? stack[stack.length - 1] : undefined;
    checkPlacement(parent, name, offset);
    const role = roleOf(parent, name);
    const textByte = this.positions.byteAt(this.parser.position);
    const f: Frame = { name, offset, textByte, role, text: [] };
    if (name === "dict") f.entries = new Map();
    else if (name === "array") f.items = [];
    stack.push(f);
  }

  private onText(t: string): void {
    const f = this.stack[this.stack.length - 1];
    if (f === undefined) return; // outside the root: saxes refuses anything but spaces
    if (TEXT_LEAVES.has(f.name)) {
      f.text.push(t);
      // Attack class G46: names kept whole (1,024 tables of 62 KB names cost ~5x the plist).
      // <data> is bounded by maxPlistBytes and decoded from the bytes instead.
      if (f.name !== "data") {
        f.textLength = (f.textLength ?? 0) + t.length;
        checkBudget(this.budget, "maxNameBytes", f.textLength, {
          offset: f.offset,
          subject: `the text of <${f.name}>`,
        });
      }
    } else if (!isXmlSpace(t)) {
      throw structureError(`text ${preview(t)} inside <${f.name}>`, this.here());
    }
  }

  private onClose(): void {
    const stack = this.stack;
    const f = stack.pop() as Frame;
    const v = this.finish(f);
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      this.root = v;
      return;
    }
    if (f.name === "key") {
      const key = (v as { value: string }).value;
      // Two readers picking different duplicates would see different images.
      if (parent.entries?.has(key)) {
        throw structureError(`duplicate key ${preview(key)} in <dict>`, f.offset);
      }
      parent.key = key;
      return;
    }
    if (v === undefined) return;
    if (parent.name === "dict") {
      parent.entries?.set(parent.key as string, v);
      parent.key = undefined;
    } else if (parent.name === "array") {
      const items = parent.items as PlistValue[];
      items.push(v);
      // Attack class B11: a million blkx entries, refused as they stream in.
      if (parent.role === ROLE_BLKX) {
        checkBudget(this.budget, "maxTables", items.length, {
          offset: f.offset,
          subject: "entries of the blkx array (at least)",
        });
      }
    } else {
      parent.value = v;
    }
  }

  /** The value of a closed element. */
  private finish(f: Frame): PlistValue | undefined {
    if (f.name !== "data") return frameValue(f);
    const { xml, fileOffset, budget } = this;
    const value = dataValue(xml, f, this.tagStart(), fileOffset, budget.maxPlistBytes);
    return { type: "data", value, offset: f.offset };
  }
}
