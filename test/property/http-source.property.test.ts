/**
 * An HTTP source over a server that misbehaves at random (dropped connections, 200s, wrong
 * Content-Range, short and long bodies, 5xx, 429, the file replaced or resized), the faults
 * chosen by fast-check: every read returns exactly the bytes of the file first seen, or
 * throws a DmgError. Never other bytes, never another exception.
 *
 * Seeds and replay: see test/helpers/prop-config.ts (FC_SEED, FC_RUNS, FC_PATH).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DmgError, httpSource } from "../../src/index.js";
import { pattern } from "../helpers/hostile.js";
import { type Fault, serveFile } from "../helpers/http-server.js";
import { fcParams, testTimeout } from "../helpers/prop-config.js";

const SIZE = 40_000;
const FILE = pattern(SIZE, 11);

const faultArb: fc.Arbitrary<Fault | undefined> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  fc.record({ kind: fc.constant("drop" as const), after: fc.nat({ max: 5000 }) }),
  fc.constant({ kind: "full200" as const }),
  fc.constant({ kind: "wrongRange" as const }),
  fc.constant({ kind: "short" as const }),
  fc.constant({ kind: "long" as const }),
  fc.constant({ kind: "change" as const }),
  fc.record({ kind: fc.constant("resize" as const), size: fc.integer({ min: 1, max: 2 * SIZE }) }),
  fc.record({
    kind: fc.constant("status" as const),
    status: fc.constantFrom(500, 503, 429, 404, 412, 416),
    retryAfter: fc.constantFrom(undefined, "0"),
  }),
);

const caseArb = fc.record({
  faults: fc.array(faultArb, { minLength: 1, maxLength: 30 }),
  validators: fc.constantFrom("both", "etag", "date", "none"),
  noHead: fc.boolean(),
  readAhead: fc.constantFrom(0, 1000, 16_384),
  reads: fc.array(
    fc
      .tuple(fc.nat({ max: SIZE - 1 }), fc.integer({ min: 1, max: 12_000 }))
      .map(([o, n]) => [o, Math.min(n, SIZE - o)] as const),
    { minLength: 1, maxLength: 8 },
  ),
  concurrent: fc.boolean(),
});

describe("httpSource under random faults", () => {
  it(
    "every read returns the file's bytes or throws a DmgError",
    async () => {
      const outcomes = new Map<string, number>();
      const note = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
      await fc.assert(
        fc.asyncProperty(caseArb, (c) => run(c, note)),
        fcParams(RUNS),
      );
      if (process.env.FC_STATS) console.log(Object.fromEntries(outcomes));
      // The runs reached both sides: reads that survived faults, and faults refused.
      expect(outcomes.get("read")).toBeGreaterThan(0);
      expect(outcomes.get("SOURCE_CHANGED")).toBeGreaterThan(0);
      expect(outcomes.get("HTTP_BAD_RESPONSE")).toBeGreaterThan(0);
    },
    testTimeout(RUNS, 200),
  );
});

const RUNS = 120;
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

async function run(c: Case, note: (k: string) => void): Promise<void> {
  {
    // Each run serves a fresh file behind its own validators.
    const s = await serveFile(FILE, {
      etag: c.validators === "both" || c.validators === "etag",
      lastModified: c.validators === "both" || c.validators === "date",
      noHead: c.noHead,
      fault: (n) => c.faults[n],
    });
    try {
      let src: Awaited<ReturnType<typeof httpSource>>;
      try {
        src = await httpSource(s.url, { readAhead: c.readAhead, retries: 3, retryDelay: 0 });
      } catch (e) {
        expect(e).toBeInstanceOf(DmgError);
        note((e as DmgError).code);
        return;
      }
      // The version first seen: a change during opening is either that version or refused.
      const file = s.bytes();
      expect(src.size).toBe(file.length);
      const one = async ([o, n]: readonly [number, number]) => {
        try {
          const got = await src.read(o, n);
          // No validator at all cannot tell a same-size replacement: only the size is compared.
          if (c.validators !== "none") expect(Buffer.compare(got, file.subarray(o, o + n))).toBe(0);
          else expect(got.length).toBe(n);
          note("read");
        } catch (e) {
          if (!(e instanceof DmgError)) throw e;
          note(e.code);
        }
      };
      if (c.concurrent) await Promise.all(c.reads.map(one));
      else for (const r of c.reads) await one(r);
      await src.close();
    } finally {
      await s.close();
    }
  }
}
