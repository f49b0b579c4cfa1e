/**
 * The embedded code signature: the real image signed by Apple's codesign verifies (its stored
 * hashes are reproduced), a byte changed before the code limit or in the trailer fails, and
 * hand-built superblobs exercise every bound of the superblob and CodeDirectory parsers.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { parseCodeDirectory } from "../src/inspect/signature/code-directory.js";
import { incremental } from "../src/inspect/signature/hash.js";
import { parseSuperblob } from "../src/inspect/signature/superblob.js";
import { smallImage } from "./helpers/hostile.js";

const REAL = join(
  import.meta.dirname,
  "..",
  "corpus",
  "real",
  "sparkle-project_Sparkle_SparkleTestCodeSign_apfs_lzma_aux_files.dmg",
);

function sha256(b: Uint8Array): Buffer {
  return createHash("sha256").update(b).digest();
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

function blob(magic: number, payload: Uint8Array): Buffer {
  return Buffer.concat([u32(magic), u32(8 + payload.length), Buffer.from(payload)]);
}

function superblob(slots: Array<[number, Uint8Array]>): Buffer {
  let off = 12 + slots.length * 8;
  const index: Buffer[] = [];
  for (const [type, b] of slots) {
    index.push(u32(type), u32(off));
    off += b.length;
  }
  return Buffer.concat([
    u32(0xfade0cc0),
    u32(off),
    u32(slots.length),
    ...index,
    ...slots.map((s) => Buffer.from(s[1])),
  ]);
}

interface CdOptions {
  codeLimit: number;
  codeHash: Uint8Array;
  special: Map<number, Uint8Array>;
  ident?: string;
  flags?: number;
  hashType?: number;
  nCodeSlots?: number;
}

/** A version 0x20100 CodeDirectory, SHA-256, one page. */
function codeDirectory(o: CdOptions): Buffer {
  const nSpecial = Math.max(0, ...o.special.keys());
  const ident = Buffer.from(`${o.ident ?? "test"}\0`);
  const header = 52;
  const identOffset = header;
  const hashOffset = identOffset + ident.length + nSpecial * 32;
  const specials: Buffer[] = [];
  for (let n = nSpecial; n >= 1; n--)
    specials.push(Buffer.from(o.special.get(n) ?? Buffer.alloc(32)));
  const h = Buffer.alloc(header);
  const len = hashOffset + 32;
  h.writeUInt32BE(0xfade0c02, 0);
  h.writeUInt32BE(len, 4);
  h.writeUInt32BE(0x20100, 8);
  h.writeUInt32BE(o.flags ?? 2, 12);
  h.writeUInt32BE(hashOffset, 16);
  h.writeUInt32BE(identOffset, 20);
  h.writeUInt32BE(nSpecial, 24);
  h.writeUInt32BE(o.nCodeSlots ?? 1, 28);
  h.writeUInt32BE(o.codeLimit, 32);
  h[36] = 32;
  h[37] = o.hashType ?? 2;
  return Buffer.concat([h, ident, ...specials, Buffer.from(o.codeHash)]);
}

/** `image` with a signature of `cms` (empty: ad hoc) inserted before its trailer. */
function sign(image: Uint8Array, cms: Uint8Array = new Uint8Array(0), ident = "test"): Uint8Array {
  const kolyAt = image.length - 512;
  const data = image.subarray(0, kolyAt);
  const req = blob(0xfade0c01, u32(0));
  const build = (sigLen: number, repSpecific: Uint8Array) => {
    const cd = codeDirectory({
      codeLimit: kolyAt,
      codeHash: sha256(data),
      special: new Map([
        [2, sha256(req)],
        [6, repSpecific],
      ]),
      ident,
      flags: cms.length ? 0 : 2,
    });
    return superblob([
      [0, cd],
      [2, req],
      [0x10000, blob(0xfade0b01, cms)],
    ]);
  };
  const trailer = Buffer.from(image.subarray(kolyAt));
  trailer.writeBigUInt64BE(BigInt(kolyAt), 296);
  trailer.writeBigUInt64BE(0n, 304);
  const sb = build(0, sha256(trailer));
  trailer.writeBigUInt64BE(BigInt(sb.length), 304);
  return Buffer.concat([data, sb, trailer]);
}

async function report(file: Uint8Array) {
  const img = await openDmg(file);
  try {
    return await img.signature();
  } finally {
    await img.close();
  }
}

const codes = (r: { findings: { code: string }[] }) => r.findings.map((f) => f.code);

describe("the real image signed by Apple's codesign", () => {
  it("verifies: code hash and trailer hash reproduced", async () => {
    const r = await report(new Uint8Array(readFileSync(REAL)));
    expect(r.signed).toBe(true);
    expect(r.adHoc).toBe(true);
    expect(r.hashType).toBe("SHA-256");
    expect(r.codeLimit).toBe(803328);
    expect(r.identifier).toBe(
      "SparkleTestCodeSign_apfs_lzma_aux_files-377068f48152a21a1d1792eb39741dcc34df3c2a",
    );
    expect(r.verified).toEqual({ codeHashes: true, trailer: true });
    expect(r.requirements).toBe(true);
    expect(r.ticket).toBe(false);
    expect(r.cms).toBeUndefined();
    expect(r.findings).toEqual([]);
    // The cdhash: SHA-256 of the CodeDirectory blob as stored.
    const file = readFileSync(REAL);
    const cd = file.subarray(803328 + 0x24, 803328 + 0x24 + 0x161);
    expect(r.cdHashes).toEqual([sha256(cd).toString("hex")]);
  });

  it("stops hashing when its signal fires (the signed range is the whole file)", async () => {
    const img = await openDmg(new Uint8Array(readFileSync(REAL)));
    try {
      const controller = new AbortController();
      controller.abort();
      await expect(img.signature({ signal: controller.signal })).rejects.toMatchObject({
        code: "ABORTED",
      });
    } finally {
      await img.close();
    }
  });

  it("fails CODESIGN_HASH for one byte changed before the code limit", async () => {
    const file = new Uint8Array(readFileSync(REAL));
    // A byte of the XML plist's whitespace-free base64 would break opening; use a data byte.
    file[100] ^= 1;
    const r = await report(file);
    expect(codes(r)).toEqual(["CODESIGN_HASH"]);
    expect(r.findings[0].offset).toBe(0);
    expect(r.verified.codeHashes).toBe(false);
  });

  it("fails CODESIGN_TRAILER for a changed trailer byte", async () => {
    const file = new Uint8Array(readFileSync(REAL));
    file[file.length - 512 + 64] ^= 1; // segment ID
    const r = await report(file);
    expect(codes(r)).toEqual(["CODESIGN_TRAILER"]);
    expect(r.verified).toEqual({ codeHashes: true, trailer: false });
  });

  it("full validation carries the findings; --require-signature only changes unsigned ones", async () => {
    const ok = await validateDmg(new Uint8Array(readFileSync(REAL)), { requireSignature: true });
    expect(ok.errors).toEqual([]);
    const file = new Uint8Array(readFileSync(REAL));
    file[200] ^= 1;
    const bad = await validateDmg(file);
    expect(bad.errors.map((e) => e.code)).toContain("CODESIGN_HASH");
  });
});

describe("hand-built signatures", () => {
  it("an unsigned image is a warning, an error when a signature is required", async () => {
    const { image } = smallImage();
    expect(codes(await report(image))).toEqual(["CODESIGN_UNSIGNED"]);
    const warn = await validateDmg(image);
    expect(warn.ok).toBe(true);
    expect(warn.warnings.map((w) => w.code)).not.toContain("CODESIGN_UNSIGNED");
    const req = await validateDmg(image, { requireSignature: true });
    expect(req.ok).toBe(false);
    expect(req.errors.map((e) => e.code)).toEqual(["CODESIGN_UNSIGNED"]);
    expect(await validateDmg(image, { quick: true, requireSignature: true })).toMatchObject({
      ok: true,
    });
  });

  it("an ad-hoc signature built here verifies, and each byte before the limit is covered", async () => {
    const signed = sign(smallImage().image);
    const r = await report(signed);
    expect(r.findings).toEqual([]);
    expect(r.verified).toEqual({ codeHashes: true, trailer: true });
    expect(r.adHoc).toBe(true);
    const limit = r.codeLimit as number;
    for (const at of [0, 1, Math.floor(limit / 2), limit - 1]) {
      const m = new Uint8Array(signed);
      m[at] ^= 0x80;
      let got: string[];
      try {
        got = codes(await report(m));
      } catch (e) {
        // Some bytes are structure the image cannot open without: a DmgError, never anything else.
        expect(e).toBeInstanceOf(DmgError);
        continue;
      }
      expect(got, `byte ${at}: ${JSON.stringify((await report(m)).findings)}`).toContain(
        "CODESIGN_HASH",
      );
    }
  });

  it("refuses a signature overlapping the trailer, past the file, or huge", async () => {
    const signed = new Uint8Array(sign(smallImage().image));
    const k = signed.length - 512;
    const dv = new DataView(signed.buffer);
    for (const [off, len] of [
      [k - 100, 200],
      [k, 2 ** 40],
      [0, 4],
    ]) {
      const m = signed.slice();
      const mv = new DataView(m.buffer);
      mv.setBigUint64(k + 296, BigInt(off));
      mv.setBigUint64(k + 304, BigInt(len));
      const r = await report(m);
      expect(codes(r)).toEqual(["CODESIGN_MALFORMED"]);
    }
    expect(dv.getUint32(k)).toBe(0x6b6f6c79);
  });

  it("superblob bounds: count, offsets, lengths, overlaps, duplicates", () => {
    const cd = codeDirectory({ codeLimit: 0, codeHash: Buffer.alloc(32), special: new Map() });
    const good = superblob([[0, cd]]);
    expect(parseSuperblob(good, 0).blobs).toHaveLength(1);
    const cases: Array<(b: Buffer) => void> = [
      (b) => b.writeUInt32BE(0xfade0cc1, 0),
      (b) => b.writeUInt32BE(b.length + 1, 4),
      (b) => b.writeUInt32BE(0xffffffff, 8),
      (b) => b.writeUInt32BE(4, 16),
      (b) => b.writeUInt32BE(b.length - 4, 16),
      (b) => b.writeUInt32BE(0xffffff00, 24),
    ];
    for (const [i, mutate] of cases.entries()) {
      const b = Buffer.from(good);
      mutate(b);
      expect(() => parseSuperblob(b, 0), `case ${i}`).toThrow(
        expect.objectContaining({ code: "CODESIGN_MALFORMED" }),
      );
    }
    const req = blob(0xfade0c01, u32(0));
    const dup = superblob([
      [2, req],
      [2, req],
    ]);
    expect(() => parseSuperblob(dup, 0)).toThrow(/two slots/);
    const overlap = superblob([
      [0, cd],
      [2, req],
    ]);
    overlap.writeUInt32BE(overlap.readUInt32BE(24) - 4, 24);
    expect(() => parseSuperblob(overlap, 0)).toThrow(/overlap|declares/);
  });

  it("code directory: unknown hash types, bad offsets and strings are refused", () => {
    const base = () =>
      codeDirectory({
        codeLimit: 10,
        codeHash: Buffer.alloc(32),
        special: new Map([[2, Buffer.alloc(32)]]),
      });
    expect(parseCodeDirectory(base(), 0).identifier).toBe("test");
    const cases: Array<(b: Buffer) => void> = [
      (b) => {
        b[37] = 5;
      },
      (b) => {
        b[36] = 20;
      },
      (b) => b.writeUInt32BE(b.length, 20),
      (b) => b.writeUInt32BE(b.length, 16),
      (b) => b.writeUInt32BE(1000, 24),
      (b) => b.writeUInt32BE(0x10000, 8),
      (b) => b.fill(0x41, 52),
      (b) => {
        b[39] = 40;
      },
    ];
    for (const [i, mutate] of cases.entries()) {
      const b = base();
      mutate(b);
      expect(() => parseCodeDirectory(b, 0), `case ${i}`).toThrow(
        expect.objectContaining({ code: "CODESIGN_MALFORMED" }),
      );
    }
  });

  it("the incremental SHA-1 and SHA-256 equal node:crypto's", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 1, max: 200 }),
        (data, step) => {
          for (const [type, name] of [
            [1, "sha1"],
            [2, "sha256"],
          ] as const) {
            const h = incremental(type);
            if (!h) throw new Error("no hasher");
            for (let p = 0; p < data.length; p += step) h.update(data.subarray(p, p + step));
            expect(Buffer.from(h.finish()).toString("hex")).toBe(
              createHash(name).update(data).digest("hex"),
            );
          }
        },
      ),
    );
  });

  it("mutated superblobs give findings or DmgErrors only", async () => {
    const signed = sign(smallImage().image);
    const k = signed.length - 512;
    const sbAt = k - Number(Buffer.from(signed).readBigUInt64BE(k + 304));
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(fc.integer({ min: sbAt, max: k - 1 }), fc.integer({ min: 0, max: 255 })),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        async (edits) => {
          const m = new Uint8Array(signed);
          for (const [at, v] of edits) m[at] = v;
          const r = await report(m);
          for (const f of r.findings) expect(f.code).toMatch(/^CODESIGN_/);
        },
      ),
      { numRuns: 200 },
    );
  });
});

function haveOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("CMS signatures (openssl as the oracle)", () => {
  const have = haveOpenssl();
  if (!have && process.env.CI) {
    it("needs openssl under CI", () => {
      expect(have).toBe(true);
    });
    return;
  }
  it.skipIf(!have)(
    "reads the signer certificate of a CMS made by openssl over the CodeDirectory",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), "dmg-sig-"));
      const key = join(dir, "k.pem");
      const cert = join(dir, "c.pem");
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-keyout",
          key,
          "-out",
          cert,
          "-days",
          "30",
          "-subj",
          "/CN=Developer ID Application: Test (ABCDE12345)/OU=ABCDE12345/O=Test",
        ],
        { stdio: "ignore" },
      );
      const unsigned = smallImage().image;
      // The CodeDirectory is signed: build once ad hoc to learn it, then sign it detached.
      const adhoc = sign(unsigned);
      const sb = parseSuperblob(adhoc.subarray(unsigned.length - 512, adhoc.length - 512), 0);
      const cdBytes = sb.blobs[0].bytes;
      writeFileSync(join(dir, "cd"), cdBytes);
      execFileSync(
        "openssl",
        [
          "cms",
          "-sign",
          "-binary",
          "-noattr",
          "-outform",
          "DER",
          "-in",
          join(dir, "cd"),
          "-signer",
          cert,
          "-inkey",
          key,
          "-out",
          join(dir, "cms.der"),
        ],
        { stdio: "ignore" },
      );
      const cms = readFileSync(join(dir, "cms.der"));
      const signed = sign(unsigned, cms);
      const r = await report(signed);
      expect(r.findings).toEqual([]);
      expect(r.adHoc).toBe(false);
      expect(r.cms?.present).toBe(true);
      expect(r.cms?.verified).toBe(false);
      expect(r.cms?.signerCount).toBe(1);
      expect(r.cms?.signers[0]).toMatchObject({
        subject: "Developer ID Application: Test (ABCDE12345)",
        organizationalUnit: "ABCDE12345",
      });
      // The oracle: openssl verifies the same CMS over the same CodeDirectory.
      execFileSync(
        "openssl",
        [
          "cms",
          "-verify",
          "-binary",
          "-inform",
          "DER",
          "-in",
          join(dir, "cms.der"),
          "-content",
          join(dir, "cd"),
          "-CAfile",
          cert,
          "-out",
          "/dev/null",
        ],
        { stdio: "ignore" },
      );
      // A CMS blob of garbage is CODESIGN_CMS.
      const junk = sign(unsigned, Buffer.from([0x30, 0x82, 0xff, 0xff, 1, 2]));
      expect(codes(await report(junk))).toEqual(["CODESIGN_CMS"]);
      expect(existsSync(dir)).toBe(true);
    },
  );
});
