/**
 * The embedded code signature: the real image signed by Apple's codesign verifies (its stored
 * hashes are reproduced), a byte changed before the code limit or in the trailer fails, and
 * hand-built superblobs exercise every bound of the superblob and CodeDirectory parsers.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { DmgError, openDmg, validateDmg } from "../src/index.js";
import { parseCodeDirectory } from "../src/inspect/signature/code-directory.js";
import { digest, incremental } from "../src/inspect/signature/hash.js";
import { parseSuperblob } from "../src/inspect/signature/superblob.js";
import { collectSignatureFindings } from "../src/inspect/signature/verify.js";
import {
  blob,
  codeDirectory,
  codes,
  report,
  sha256,
  sign,
  superblob,
  u32,
} from "./helpers/codesign.js";
import { pattern, smallImage } from "./helpers/hostile.js";

const REAL = join(
  import.meta.dirname,
  "..",
  "corpus",
  "real",
  "sparkle-project_Sparkle_SparkleTestCodeSign_apfs_lzma_aux_files.dmg",
);

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
    // Signed ad hoc by codesign: no CMS, so no chain, team or Developer ID to report.
    expect(r.cms).toBeUndefined();
    expect(r.teamId).toBeUndefined();
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

  it("with trust roots given, its ad-hoc signature is CODESIGN_UNTRUSTED, not invalid", async () => {
    const root = readFileSync(join(import.meta.dirname, "fixtures", "trust-root.pem"));
    const r = await report(new Uint8Array(readFileSync(REAL)), { trustRoots: [root] });
    expect(codes(r)).toEqual(["CODESIGN_UNTRUSTED"]);
    expect(r.verified).toEqual({ codeHashes: true, trailer: true });
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

describe("code directory versions, extra slots and the paths around them", () => {
  it("a version 0x20200 directory has a team ID; 0x20300's longer header must fit", () => {
    const cd = codeDirectory({ codeLimit: 0, codeHash: Buffer.alloc(32), special: new Map() });
    const team = Buffer.from(cd);
    team.writeUInt32BE(0x20200, 8);
    team.writeUInt32BE(52, 48); // the team ID is the identifier's string
    expect(parseCodeDirectory(team, 0)).toMatchObject({ identifier: "test", teamId: "test" });
    team.writeUInt32BE(cd.length + 4, 48);
    expect(() => parseCodeDirectory(team, 0)).toThrow(/team ID offset/);
    // 0x20300 adds spare3 and codeLimit64 (64 bytes of header): the identifier at 52 is inside it.
    const v3 = Buffer.from(cd);
    v3.writeUInt32BE(0x20300, 8);
    expect(() => parseCodeDirectory(v3, 0)).toThrow(
      expect.objectContaining({ code: "CODESIGN_MALFORMED" }),
    );
  });

  it("a 64-bit code limit past 2^53 is CODESIGN_MALFORMED, a finding, not the cursor's FIELD_TOO_LARGE", () => {
    // Found by the mutated-superblob property: the error left signature() instead of being
    // reported as a finding.
    const cd = codeDirectory({ codeLimit: 0, codeHash: Buffer.alloc(32), special: new Map() });
    // Version 0x20300: spare3 and codeLimit64 after the 52 bytes.
    const v3 = Buffer.concat([cd.subarray(0, 52), Buffer.alloc(12), cd.subarray(52)]);
    v3.writeUInt32BE(v3.length, 4);
    v3.writeUInt32BE(0x20300, 8);
    v3.writeUInt32BE(cd.readUInt32BE(16) + 12, 16);
    v3.writeUInt32BE(cd.readUInt32BE(20) + 12, 20);
    v3.writeBigUInt64BE(4096n, 56);
    expect(parseCodeDirectory(v3, 1000).codeLimit).toBe(4096);
    v3.writeBigUInt64BE(0x117a58903dd3a62n, 56);
    expect(() => parseCodeDirectory(v3, 1000)).toThrow(
      expect.objectContaining({ code: "CODESIGN_MALFORMED", offset: 1056 }),
    );
  });

  it("an alternate CodeDirectory adds its cdhash; an unhashed entitlements blob is CODESIGN_HASH", async () => {
    const alt = codeDirectory({
      codeLimit: 0,
      codeHash: Buffer.alloc(32),
      special: new Map(),
      nCodeSlots: 0,
    });
    const ent = blob(0xfade7171, Buffer.from("<plist/>"));
    const r = await report(
      sign(smallImage().image, new Uint8Array(0), "test", [
        [0x1000, alt],
        [5, ent],
      ]),
    );
    expect(r.cdHashes).toHaveLength(2);
    expect(r.cdHashes[1]).toBe(sha256(alt).toString("hex"));
    expect(r.entitlements).toBe(true);
    expect(codes(r)).toEqual(["CODESIGN_HASH"]);
  });

  it("a directory without the trailer's slot is CODESIGN_TRAILER", async () => {
    const r = await report(
      sign(smallImage().image, new Uint8Array(0), "test", [], (o) => o.special.delete(6)),
    );
    expect(codes(r)).toEqual(["CODESIGN_TRAILER"]);
    expect(r.verified.trailer).toBe(false);
  });

  it("a signed range past 1 MiB is hashed in pieces, and a changed byte is still found", async () => {
    const image = smallImage().image;
    const k = image.length - 512;
    // Bytes no table names, between the property list and the trailer: signed all the same.
    const padded = Buffer.concat([
      image.subarray(0, k),
      pattern(1536 * 1024, 3),
      image.subarray(k),
    ]);
    const signed = sign(padded);
    expect((await report(signed)).findings).toEqual([]);
    const m = new Uint8Array(signed);
    m[k + 1024 * 1024 + 5] ^= 1;
    expect(codes(await report(m))).toEqual(["CODESIGN_HASH"]);
  });

  it("hashing: SHA-384 has no incremental form; without WebCrypto a digest is CODESIGN_CMS", async () => {
    expect(incremental(4)).toBeUndefined();
    vi.stubGlobal("crypto", undefined);
    try {
      await expect(digest(2, new Uint8Array(1))).rejects.toMatchObject({ code: "CODESIGN_CMS" });
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it("collecting findings: a failure that is not a stop becomes a finding; a stop is thrown", async () => {
    const got: string[] = [];
    await collectSignatureFindings(
      () => Promise.reject(new DmgError("IO_ERROR", "unreadable")),
      (f) => got.push(f.code),
      false,
    );
    expect(got).toEqual(["IO_ERROR"]);
    await expect(
      collectSignatureFindings(
        () => Promise.reject(new DmgError("ABORTED", "stop")),
        () => {},
        false,
      ),
    ).rejects.toMatchObject({ code: "ABORTED" });
  });
});
