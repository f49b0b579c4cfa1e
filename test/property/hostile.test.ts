/**
 * Properties of the classes of docs/ATTACKS.md section G, explored with fast-check: attribute
 * floods of any size on any start tag (G37), names of any bytes (G40, G46), finding floods
 * under any cap (G35), zero runs of any size (G38), and cancellation at any point of any
 * operation (G39, G43): always a correct result or a DmgError of the class, and the image's
 * working memory back at zero once closed.
 *
 * Seeds and replay: see test/helpers/prop-config.ts (FC_SEED, FC_RUNS, FC_PATH).
 */
import fc from "fast-check";
import { describe, expect } from "vitest";
import { jsonText, sanitize } from "../../src/core/text.js";
import { UDIG, UDZE } from "../../src/format/types.js";
import { sessionOf } from "../../src/image/image.js";
import { DmgError, openDmg, validateDmg } from "../../src/index.js";
import { buildDmg } from "../../src/write/model.js";
import { imageArb } from "../helpers/arbitraries.js";
import { smallImage, withXml, xmlOf } from "../helpers/hostile.js";
import { failingChunks, namedImage } from "../helpers/hostile-images.js";
import { build, expectedDisk } from "../helpers/prop-build.js";
import { property } from "../helpers/prop-run.js";

/** Anything a terminal could act on. */
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** A signal that fires after it has been looked at `after` times (deterministic). */
function signalAfter(after: number): AbortSignal {
  let looks = 0;
  return {
    get aborted() {
      return ++looks > after;
    },
    reason: undefined,
  } as unknown as AbortSignal;
}

/** The outcome of `p`: "ok", or the code of the DmgError it failed with (anything else fails). */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (e) {
    expect(e).toBeInstanceOf(DmgError);
    return (e as DmgError).code;
  }
}

describe("section G (property)", () => {
  property(
    "G37: any number of attributes on any start tag: read exactly, or PLIST_STRUCTURE past 8",
    60,
    30,
    fc.record({ tag: fc.nat(), count: fc.integer({ min: 1, max: 40 }) }),
    async ({ tag, count }) => {
      const { image, disk } = smallImage();
      const xml = xmlOf(image);
      // Every start tag of the property list but the XML declaration and the DOCTYPE.
      const starts = [...xml.matchAll(/<[a-z][a-z]*/g)].map((m) => (m.index ?? 0) + m[0].length);
      const at = starts[tag % starts.length];
      let attrs = "";
      for (let i = 0; i < count; i++) attrs += ` x${i}="v"`;
      const mutated = withXml(image, xml.slice(0, at) + attrs + xml.slice(at));
      const onPlist = xml.slice(0, at).endsWith("<plist");
      // <plist version="1.0"> has one already.
      const total = count + (onPlist ? 1 : 0);
      let read: Uint8Array | undefined;
      const got = await outcome(
        openDmg(mutated).then(async (img) => {
          read = await img.read(0, img.size);
          await img.close();
        }),
      );
      if (total > 8) expect(got).toBe("PLIST_STRUCTURE");
      else {
        expect(got).toBe("ok");
        expect(Buffer.compare(read!, disk)).toBe(0);
      }
    },
  );

  property(
    "G40, G46: a resource-fork name of any bytes is read as the file has it, shown escaped",
    150,
    20,
    fc.uint8Array({ maxLength: 255 }),
    async (bytes) => {
      const name = new TextDecoder("latin1").decode(bytes);
      const img = await openDmg(namedImage(name, "rsrc"));
      expect(img.tables[0].name).toBe(name);
      await img.close();
      expect(sanitize(name)).not.toMatch(RAW);
      expect(JSON.parse(jsonText({ name })).name).toBe(name);
      const short = await outcome(
        openDmg(namedImage(name, "rsrc"), { budget: { maxNameBytes: 100 } }),
      );
      expect(short).toBe(bytes.length > 100 ? "BUDGET_NAME_BYTES" : "ok");
    },
  );

  property(
    "G35: a report keeps min(failures, maxFindings) errors and counts the rest",
    40,
    50,
    fc.record({ failures: fc.integer({ min: 1, max: 60 }), cap: fc.integer({ min: 0, max: 20 }) }),
    async ({ failures, cap }) => {
      const report = await validateDmg(failingChunks(failures), { budget: { maxFindings: cap } });
      expect(report.ok).toBe(false);
      expect(report.errors).toHaveLength(Math.min(failures, cap));
      expect(report.dropped.errors).toBe(failures - Math.min(failures, cap));
      const note = report.warnings.some((w) => w.code === "FINDINGS_DROPPED");
      expect(note).toBe(failures > cap);
    },
  );

  property(
    "G38: zero and ignore runs of any size validate in O(chunks) and read as zeros",
    60,
    20,
    fc.array(fc.record({ ignore: fc.boolean(), sectors: fc.integer({ min: 1, max: 2 ** 32 }) }), {
      minLength: 1,
      maxLength: 8,
    }),
    async (runs) => {
      const chunks = runs.map((r) => ({ type: r.ignore ? UDIG : UDZE, sectors: r.sectors }));
      const image = buildDmg({ tables: [{ name: "zeros", chunks, checksum: null }] });
      const report = await validateDmg(image);
      expect(report.ok).toBe(true);
      const img = await openDmg(image);
      const size = img.size;
      const at = Math.floor(size / 3);
      const bytes = await img.read(at, Math.min(4096, size - at));
      expect(bytes.every((b) => b === 0)).toBe(true);
      await img.close();
    },
  );

  property(
    "G39, G43: cancelled at any point, an operation fails with ABORTED and frees its memory",
    80,
    40,
    fc.tuple(
      imageArb({ maxTables: 2 }),
      fc.nat(400),
      fc.constantFrom("read", "stream", "validate"),
    ),
    async ([recipe, after, op]) => {
      const b = build(recipe);
      const signal = signalAfter(after);
      if (op === "validate") {
        const got = await outcome(validateDmg(b.image, { signal }));
        expect(["ok", "ABORTED"]).toContain(got);
        return;
      }
      const img = await openDmg(b.image);
      const got = await outcome(
        (async () => {
          if (op === "read") {
            const bytes = await img.read(0, img.size, { signal });
            expect(Buffer.compare(bytes, expectedDisk(b))).toBe(0);
          } else {
            let n = 0;
            for await (const piece of img.stream(0, img.size, { signal })) n += piece.length;
            expect(n).toBe(img.size);
          }
        })(),
      );
      expect(["ok", "ABORTED"]).toContain(got);
      await img.close();
      expect(sessionOf(img).memory.used).toBe(0);
    },
  );
});
