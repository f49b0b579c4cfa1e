/**
 * Encrypted images ("encrcdsa", version 2): opened with a password, they present the UDIF
 * image they hold, decrypted block by block; without one, or with a wrong one, or with a
 * hostile header, each outcome has its own code.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { decryptingSource } from "../src/containers/encrypted/block-source.js";
import { WEB_CIPHERS } from "../src/containers/encrypted/ciphers.js";
import { unpad } from "../src/containers/encrypted/unwrap.js";
import { DmgError, openDmg as openCore, validateDmg as validateCore } from "../src/index.js";
import { NODE_CIPHERS } from "../src/node/ciphers.js";
import { extractDmg, openDmg, validateDmg } from "../src/node/index.js";
import { bytesSource } from "../src/sources/source.js";
import { AES, runCli, ZLIB } from "./helpers/cli-run.js";
import { BLOB_FIELDS, encryptImage, HEADER_FIELDS, KEY_BLOB_AT } from "./helpers/encrypted.js";

const PASSWORD = "test123";
const REAL_SIZE = 13_654;
const inner = new Uint8Array(readFileSync(ZLIB));
const dir = mkdtempSync(join(tmpdir(), "dmg-enc-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DmgError);
    return (e as DmgError).code;
  }
  return "ok";
}

function u32(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(at, v);
  return c;
}

function u64(b: Uint8Array, at: number, v: bigint): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setBigUint64(at, v);
  return c;
}

describe("the real encrypted image (dmgwiz's input_aes256.dmg)", () => {
  it("opens with its password: a 13,654-byte UDIF image, every CRC ok", async () => {
    const image = await openDmg(AES, { password: PASSWORD });
    expect(image.container?.kind).toBe("encrypted");
    expect(image.container?.fields).toMatchObject({
      version: 2,
      cipher: "AES-256-CBC",
      blockSize: 512,
      dataSize: REAL_SIZE,
      pbkdf2Iterations: 232_558,
      keyBlobs: 1,
      keyWrap: "3DES-EDE-CBC",
    });
    expect(image.container?.inner?.kind).toBe("UDIF");
    await image.close();
    const report = await validateDmg(AES, { password: PASSWORD });
    expect(report.errors).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checksums.dataFork).toBe("ok");
    expect(report.checksums.master).toBe("ok");
    expect(report.checksums.tables.every((t) => t === "ok")).toBe(true);
  });

  it("the password may be bytes", async () => {
    const report = await validateDmg(AES, { password: new TextEncoder().encode(PASSWORD) });
    expect(report.ok).toBe(true);
  });

  it("the decrypted source is the 13,654-byte image, ending in its koly trailer", async () => {
    const image = await openDmg(AES, { password: PASSWORD });
    const { sessionOf } = await import("../src/image/image.js");
    const src = sessionOf(image).source;
    expect(src.size).toBe(REAL_SIZE);
    const koly = await src.read(REAL_SIZE - 512, 4);
    expect(new TextDecoder().decode(koly)).toBe("koly");
    await image.close();
  });

  it("without a password: ENCRYPTED, saying to give one", async () => {
    const report = await validateDmg(AES);
    expect(report.errors[0].code).toBe("ENCRYPTED");
    expect(report.errors[0].message).toMatch(/password/);
  });

  it("with a wrong password: PASSWORD_WRONG", async () => {
    expect(await code(openDmg(AES, { password: "test124" }))).toBe("PASSWORD_WRONG");
    expect(await code(openDmg(AES, { password: "" }))).toBe("PASSWORD_WRONG");
  });

  it("a password of another type is INVALID_ARGUMENT", async () => {
    expect(await code(openDmg(AES, { password: 123 as unknown as string }))).toBe(
      "INVALID_ARGUMENT",
    );
    const r = validateDmg(AES, { password: {} as unknown as string });
    expect(await code(r)).toBe("INVALID_ARGUMENT");
  });

  it("the core (WebCrypto, no 3DES) refuses its 3DES-wrapped key with CIPHER_UNAVAILABLE", async () => {
    const report = await validateCore(new Uint8Array(readFileSync(AES)), { password: PASSWORD });
    expect(report.errors[0].code).toBe("CIPHER_UNAVAILABLE");
    expect(report.errors[0].message).toMatch(/Triple DES/);
  });

  it("extractDmg writes the disk of the decrypted image", async () => {
    const out = join(dir, "aes.img");
    const r = await extractDmg(AES, out, { password: PASSWORD });
    expect(r.bytes).toBe(10_510_336);
    expect(readFileSync(out).length).toBe(10_510_336);
  });
});

describe("images built from the format", () => {
  for (const keyBits of [128, 256] as const) {
    for (const wrap of ["3des", "aes"] as const) {
      it(`AES-${keyBits}, key wrapped with ${wrap}: round trip, every CRC ok`, async () => {
        const enc = encryptImage(inner, { keyBits, wrap, password: "pw", blockSize: 4096 });
        const report = await validateDmg(enc, { password: "pw" });
        expect(report.errors).toEqual([]);
        expect(report.ok).toBe(true);
        const image = await openDmg(enc, { password: "pw" });
        expect(image.container?.fields.cipher).toBe(`AES-${keyBits}-CBC`);
        await image.close();
      });
    }
  }

  it("the core decrypts AES-wrapped images through WebCrypto alone", async () => {
    const enc = encryptImage(inner, { keyBits: 128, wrap: "aes", password: "pw", blockSize: 512 });
    const report = await validateCore(enc, { password: "pw" });
    expect(report.errors).toEqual([]);
    expect(await code(openCore(enc, { password: "px" }))).toBe("PASSWORD_WRONG");
  });

  it("the WebCrypto and node:crypto block decryptors agree, block for block", async () => {
    const enc = encryptImage(inner, { keyBits: 256, wrap: "aes", password: "pw", blockSize: 512 });
    const a = await openCore(enc, { password: "pw" });
    const b = await openDmg(enc, { password: "pw" });
    const { sessionOf } = await import("../src/image/image.js");
    const sa = sessionOf(a).source;
    const sb = sessionOf(b).source;
    expect(sa.size).toBe(inner.length);
    // Reads that start and end inside blocks, and one across all of them.
    for (const [off, len] of [
      [0, inner.length],
      [511, 2],
      [1000, 3000],
      [inner.length - 7, 7],
    ]) {
      const x = await sa.read(off, len);
      expect(Buffer.from(x).equals(Buffer.from(inner.subarray(off, off + len)))).toBe(true);
      expect(Buffer.from(await sb.read(off, len)).equals(Buffer.from(x))).toBe(true);
    }
    expect(await code(sa.read(inner.length - 1, 2))).toBe("TRUNCATED");
    await a.close();
    await b.close();
  });

  it("closing the decrypted source closes the outer one", async () => {
    let closed = 0;
    const outer = { ...bytesSource(new Uint8Array(64)), close: async () => void closed++ };
    const keys = { aesKey: new Uint8Array(16), hmacKey: new Uint8Array(20) };
    const src = await decryptingSource(
      outer,
      { blockSize: 32, dataOffset: 0, dataSize: 40 },
      keys,
      NODE_CIPHERS,
    );
    expect(src.size).toBe(40);
    expect((await src.read(30, 10)).length).toBe(10);
    await src.close?.();
    expect(closed).toBe(1);
  });

  it("WebCrypto's raw AES-CBC keeps every byte (its padding removal is undone)", async () => {
    const key = new Uint8Array(16).fill(7);
    const iv = new Uint8Array(16).fill(3);
    // Plaintext whose last byte looks like padding: it must survive.
    const data = new Uint8Array(48).fill(1);
    const { createCipheriv } = await import("node:crypto");
    const c = createCipheriv("aes-128-cbc", key, iv);
    c.setAutoPadding(false);
    const ct = Buffer.concat([c.update(data), c.final()]);
    const dec = await (await WEB_CIPHERS.aesCbc(key))(iv, ct);
    expect(Buffer.from(dec).equals(Buffer.from(data))).toBe(true);
  });

  it("PKCS#7 removal refuses what is not padding", () => {
    expect(unpad(Uint8Array.of(1, 2, 3, 4, 5, 6, 2, 2), 8)?.length).toBe(6);
    expect(unpad(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 0), 8)).toBeUndefined();
    expect(unpad(Uint8Array.of(1, 2, 3, 4, 5, 6, 1, 2), 8)).toBeUndefined();
    expect(unpad(Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9), 8)).toBeUndefined();
  });
});

describe("hostile headers", () => {
  const base = encryptImage(inner, { password: "pw", blockSize: 512, iterations: 10 });
  const open = (b: Uint8Array, budget = {}) => code(openDmg(b, { password: "pw", budget }));

  it("the unmodified image opens", async () => {
    expect(await open(base)).toBe("ok");
  });

  it("iteration count over budget: BUDGET_KDF_ITERATIONS, before any PBKDF2", async () => {
    const b = u32(base, KEY_BLOB_AT + BLOB_FIELDS.iterations, 0xffff_ffff);
    expect(await open(b)).toBe("BUDGET_KDF_ITERATIONS");
    expect(await open(base, { maxKdfIterations: 9 })).toBe("BUDGET_KDF_ITERATIONS");
  });

  it("iteration count 0: ENCRYPTED_HEADER", async () => {
    expect(await open(u32(base, KEY_BLOB_AT + BLOB_FIELDS.iterations, 0))).toBe("ENCRYPTED_HEADER");
  });

  it("a truncated header: TRUNCATED", async () => {
    expect(await open(base.slice(0, 0x30))).toBe("TRUNCATED");
    expect(await open(base.slice(0, 0x50))).toBe("TRUNCATED");
  });

  it("key blob offsets out of range: ENCRYPTED_HEADER", async () => {
    expect(await open(u64(base, HEADER_FIELDS.keyOffset, BigInt(base.length)))).toBe(
      "ENCRYPTED_HEADER",
    );
    expect(await open(u64(base, HEADER_FIELDS.keyOffset, 0n))).toBe("ENCRYPTED_HEADER");
    expect(await open(u64(base, HEADER_FIELDS.keyOffset, 2n ** 63n))).toBe("FIELD_TOO_LARGE");
    expect(await open(u64(base, HEADER_FIELDS.keySize, 0x10n))).toBe("ENCRYPTED_HEADER");
  });

  it("too many key blobs, or too large a blob: their budgets", async () => {
    expect(await open(u32(base, HEADER_FIELDS.keyCount, 0xffff_ffff))).toBe("BUDGET_KEY_BLOBS");
    expect(await open(u32(base, HEADER_FIELDS.keyCount, 0))).toBe("ENCRYPTED_HEADER");
    expect(await open(u64(base, HEADER_FIELDS.keySize, 1n << 40n))).toBe("BUDGET_KEY_BLOB_BYTES");
  });

  it("block size 0, not whole AES blocks, or huge", async () => {
    expect(await open(u32(base, HEADER_FIELDS.blockSize, 0))).toBe("ENCRYPTED_HEADER");
    expect(await open(u32(base, HEADER_FIELDS.blockSize, 100))).toBe("ENCRYPTED_HEADER");
    expect(await open(u32(base, HEADER_FIELDS.blockSize, 0x8000_0000))).toBe("BUDGET_CRYPT_BLOCK");
  });

  it("data size or offset past the end of the file: TRUNCATED", async () => {
    expect(await open(u64(base, HEADER_FIELDS.dataSize, BigInt(base.length)))).toBe("TRUNCATED");
    expect(await open(u64(base, HEADER_FIELDS.dataOffset, 1n << 50n))).toBe("TRUNCATED");
    expect(await open(base.slice(0, base.length - 1))).toBe("TRUNCATED");
  });

  it("unsupported versions and ciphers: ENCRYPTED_UNSUPPORTED", async () => {
    expect(await open(u32(base, HEADER_FIELDS.version, 3))).toBe("ENCRYPTED_UNSUPPORTED");
    expect(await open(u32(base, HEADER_FIELDS.keyBits, 192))).toBe("ENCRYPTED_UNSUPPORTED");
    expect(await open(u32(base, HEADER_FIELDS.algorithm, 17))).toBe("ENCRYPTED_UNSUPPORTED");
    expect(await open(u32(base, KEY_BLOB_AT + BLOB_FIELDS.wrapAlgorithm, 99))).toBe(
      "ENCRYPTED_UNSUPPORTED",
    );
    expect(await open(u32(base, KEY_BLOB_AT + BLOB_FIELDS.kdf, 1))).toBe("ENCRYPTED_UNSUPPORTED");
  });

  it("a version 1 trailer of zeros (iteration count 0): ENCRYPTED_HEADER", async () => {
    const v1 = new Uint8Array(4096);
    v1.set(new TextEncoder().encode("cdsaencr"), v1.length - 8);
    expect(await open(v1)).toBe("ENCRYPTED_HEADER");
  });

  it("property: any header or key blob field mutated gives the image or a DmgError", async () => {
    const fields = [
      ...Object.values(HEADER_FIELDS),
      ...Object.values(BLOB_FIELDS).map((f) => KEY_BLOB_AT + f),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...fields),
        fc.oneof(
          fc.constantFrom(0, 1, 7, 16, 512, 0xffff_ffff, 0x8000_0001),
          fc.nat(),
          fc.integer({ min: 0, max: 0xffff_ffff }),
        ),
        async (at, v) => {
          const b = u32(base, at, v);
          // Small budgets: a mutation must never cost more than the budget allows.
          const budget = { maxKdfIterations: 100 };
          try {
            const img = await openDmg(b, { password: "pw", budget });
            await img.close();
          } catch (e) {
            expect(e).toBeInstanceOf(DmgError);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("the command line", () => {
  it("--password-file: the first line is the password; it never appears in the output", () => {
    const pw = join(dir, "pw.txt");
    writeFileSync(pw, `${PASSWORD}\nsecond line\n`);
    const r = runCli(["check", "--verbose", "--password-file", pw, AES], dir);
    expect(r.status).toBe(0);
    expect(r.out + r.err).not.toContain(PASSWORD);
    const info = runCli(["info", "--json", "--password-file", pw, AES], dir);
    expect(info.status).toBe(0);
    expect(info.out).toContain('"encrypted"');
    expect(info.out + info.err).not.toContain(PASSWORD);
  });

  it("--password-env: the variable holds it", () => {
    const r = runCli(["check", "--password-env", "DMG_PW", AES], dir, { DMG_PW: PASSWORD });
    expect(r.status).toBe(0);
    expect(r.out + r.err).not.toContain(PASSWORD);
    const wrong = runCli(["check", "--password-env", "DMG_PW", AES], dir, { DMG_PW: "nope1" });
    expect(wrong.status).toBe(1);
    expect(wrong.out).toContain("PASSWORD_WRONG");
    expect(wrong.out + wrong.err).not.toContain("nope1");
  });

  it("no password and no terminal: ENCRYPTED, exit 1", () => {
    const r = runCli(["check", AES], dir);
    expect(r.status).toBe(1);
    expect(r.out).toContain("ENCRYPTED");
  });

  it("there is no --password option, and --help says why", () => {
    const r = runCli(["check", "--password", "x", AES], dir);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/shell history/);
    expect(runCli(["--help"], dir).out).toMatch(/--password-file FILE[\s\S]*ps\)/);
  });

  it("a missing password file is exit 3; an unset variable exit 2", () => {
    expect(runCli(["check", "--password-file", join(dir, "none"), AES], dir).status).toBe(3);
    expect(runCli(["check", "--password-env", "DMG_NO_SUCH_VAR", AES], dir).status).toBe(2);
  });
});
