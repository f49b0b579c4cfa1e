/**
 * Version 1 encrypted images ("cdsaencr" trailer at the end of the file, keys wrapped with
 * Triple DES after RFC 3217): built from the format's description with node:crypto, opened
 * with the password, refused without it, with a wrong one, on WebCrypto (no 3DES), and with
 * hostile trailer fields, each with its own code.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { DmgError, validateDmg as validateCore } from "../src/index.js";
import { openDmg, validateDmg } from "../src/node/index.js";
import { runCli, ZLIB } from "./helpers/cli-run.js";
import {
  encryptImageV1,
  padUdifToBlocks,
  V1_FIELDS,
  V1_TRAILER_SIZE,
} from "./helpers/encrypted.js";

const inner = padUdifToBlocks(new Uint8Array(readFileSync(ZLIB)));
const dir = mkdtempSync(join(tmpdir(), "dmg-enc1-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    const img = (await p) as { close?: () => Promise<void> };
    await img?.close?.();
  } catch (e) {
    expect(e).toBeInstanceOf(DmgError);
    return (e as DmgError).code;
  }
  return "ok";
}

/** `b` with the u32 at `field` of its trailer set to `v`. */
function trailerU32(b: Uint8Array, field: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(c.length - V1_TRAILER_SIZE + field, v);
  return c;
}

describe("version 1 images built from the format", () => {
  const enc = encryptImageV1(inner, { password: "pw", iterations: 1000 });

  it("round trip: the UDIF inside validates, every CRC ok, the trailer's fields shown", async () => {
    const report = await validateDmg(enc, { password: "pw" });
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checksums.dataFork).toBe("ok");
    const image = await openDmg(enc, { password: "pw" });
    expect(image.container?.kind).toBe("encrypted");
    expect(image.container?.fields).toMatchObject({
      version: 1,
      cipher: "AES-128-CBC",
      blockSize: 4096,
      dataSize: inner.length,
      dataOffset: 0,
      pbkdf2Iterations: 1000,
      unusedBytes: 0,
    });
    expect(image.container?.inner?.kind).toBe("UDIF");
    await image.close();
  });

  it("AES-256 keys are read too", async () => {
    const e256 = encryptImageV1(inner, { password: "pw", iterations: 10, keyBits: 256 });
    const image = await openDmg(e256, { password: "pw" });
    expect(image.container?.fields.cipher).toBe("AES-256-CBC");
    await image.close();
  });

  it("without a password: ENCRYPTED; a wrong one: PASSWORD_WRONG", async () => {
    const report = await validateDmg(enc);
    expect(report.errors[0].code).toBe("ENCRYPTED");
    expect(report.errors[0].message).toMatch(/cdsaencr/);
    expect(await code(openDmg(enc, { password: "px" }))).toBe("PASSWORD_WRONG");
    expect(await code(openDmg(enc, { password: "" }))).toBe("PASSWORD_WRONG");
  });

  it("the core (WebCrypto has no 3DES) refuses with CIPHER_UNAVAILABLE, saying so", async () => {
    const report = await validateCore(enc, { password: "pw" });
    expect(report.errors[0].code).toBe("CIPHER_UNAVAILABLE");
    expect(report.errors[0].message).toMatch(/WebCrypto offers no 3DES/);
  });

  it("CLI check and cat: the image validates, cat gives the disk check reads", () => {
    const file = join(dir, "v1.dmg");
    writeFileSync(file, enc);
    const pw = join(dir, "pw.txt");
    writeFileSync(pw, "pw\n");
    const check = runCli(["check", "--password-file", pw, file], dir);
    expect(check.status).toBe(0);
    const cat = runCli(["cat", "--password-file", pw, file], dir);
    expect(cat.status).toBe(0);
    const plain = runCli(["cat", ZLIB], dir);
    expect(cat.stdout.equals(plain.stdout)).toBe(true);
    expect(cat.stdout.length).toBeGreaterThan(0);
    const wrong = runCli(["check", "--password-env", "PW", file], dir, { PW: "nope" });
    expect(wrong.status).toBe(1);
    expect(wrong.out).toContain("PASSWORD_WRONG");
  });
});

describe("hostile version 1 trailers", () => {
  const base = encryptImageV1(inner, { password: "pw", iterations: 10 });
  const open = (b: Uint8Array, budget = {}) => code(openDmg(b, { password: "pw", budget }));

  it("the unmodified image opens", async () => {
    expect(await open(base)).toBe("ok");
  });

  it("iteration count over budget: BUDGET_KDF_ITERATIONS, before any PBKDF2 or password", async () => {
    const huge = trailerU32(base, V1_FIELDS.iterations, 0xffff_ffff);
    const t0 = process.hrtime.bigint();
    expect(await open(huge)).toBe("BUDGET_KDF_ITERATIONS");
    expect(await code(openDmg(huge))).toBe("BUDGET_KDF_ITERATIONS");
    expect(Number(process.hrtime.bigint() - t0) / 1e6).toBeLessThan(2000);
    expect(await open(base, { maxKdfIterations: 9 })).toBe("BUDGET_KDF_ITERATIONS");
    expect(await open(trailerU32(base, V1_FIELDS.iterations, 0))).toBe("ENCRYPTED_HEADER");
  });

  it("salt and wrapped key lengths past their fields, or not whole blocks: ENCRYPTED_HEADER", async () => {
    for (const [field, v] of [
      [V1_FIELDS.saltLen, 0],
      [V1_FIELDS.saltLen, 49],
      [V1_FIELDS.saltLen, 0xffff_ffff],
      [V1_FIELDS.aesKeyLen, 297],
      [V1_FIELDS.aesKeyLen, 304],
      [V1_FIELDS.aesKeyLen, 41],
      [V1_FIELDS.aesKeyLen, 8],
      [V1_FIELDS.aesKeyLen, 0xffff_fff8],
      [V1_FIELDS.hmacKeyLen, 304],
      [V1_FIELDS.hmacKeyLen, 0],
      [V1_FIELDS.integrityKeyLen, 49],
    ] as const) {
      expect([field, v, await open(trailerU32(base, field, v))]).toEqual([
        field,
        v,
        "ENCRYPTED_HEADER",
      ]);
    }
  });

  it("a wrapped key length that fits but is wrong: PASSWORD_WRONG, not a crash", async () => {
    expect(await open(trailerU32(base, V1_FIELDS.aesKeyLen, 48))).toBe("PASSWORD_WRONG");
    expect(await open(trailerU32(base, V1_FIELDS.hmacKeyLen, 40))).toBe("PASSWORD_WRONG");
  });

  it("blocks past the file: a trailer with no whole block before it, or a cut file, is TRUNCATED", async () => {
    const bare = base.slice(base.length - V1_TRAILER_SIZE);
    expect(await open(bare)).toBe("TRUNCATED");
    const short = new Uint8Array(600);
    short.set(new TextEncoder().encode("cdsaencr"), short.length - 8);
    expect(await open(short)).toBe("TRUNCATED");
    // Blocks cut short: what is left before the trailer holds fewer blocks than the image.
    const cut = new Uint8Array(base.length - 4096);
    cut.set(base.subarray(0, inner.length - 4096));
    cut.set(base.subarray(inner.length), inner.length - 4096);
    const r = await validateDmg(cut, { password: "pw" });
    expect(r.ok).toBe(false);
  });

  it("property: any trailer field mutated gives the image or a DmgError, within budget", async () => {
    const fields = Object.values(V1_FIELDS);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.oneof(fc.constantFrom(0, 1, 8, 16, 40, 48, 296, 300, 0xffff_ffff), fc.nat()),
        async (field, v) => {
          const r = await open(trailerU32(base, field, v), { maxKdfIterations: 100 });
          expect(typeof r).toBe("string");
        },
      ),
      { numRuns: 100 },
    );
  });
});
