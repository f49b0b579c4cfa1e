/**
 * CMS verification of code signatures, against a PKI made here with openssl: a root, a leaf
 * with Apple's Developer ID marker and team OU, an expired leaf and a root that signed none of
 * them. Each verdict of the library is checked against `openssl cms -verify` over the same
 * CodeDirectory (the oracle). openssl is required under CI.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { validateDmg } from "../src/index.js";
import {
  MAX_CERTIFICATES,
  MAX_TRUST_ROOTS,
  parseTrustRoots,
  readCms,
  verifyCms,
} from "../src/inspect/signature/cms.js";
import { runCli } from "./helpers/cli-run.js";
import { blob, codes, report, sha256, sign } from "./helpers/codesign.js";
import { smallImage } from "./helpers/hostile.js";
import { haveTool } from "./helpers/reference.js";

const have = haveTool("openssl");
let dir = "";

function ssl(args: string[], input?: Uint8Array): { ok: boolean; out: Buffer } {
  const r = spawnSync("openssl", args, { cwd: dir, ...(input ? { input } : {}) });
  return { ok: r.status === 0, out: r.stdout };
}

function must(args: string[]): Buffer {
  const r = spawnSync("openssl", args, { cwd: dir });
  if (r.status !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const LEAF_SUBJECT = "/CN=Developer ID Application: Test (ABCDE12345)/OU=ABCDE12345/O=Test";

/** A new RSA key `name`.key and, by `req` `mode` ("-x509" or "-new"), `out` for `subject`. */
function newKey(name: string, mode: string, out: string, subject: string, extra: string[] = []) {
  const key = ["-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`];
  must(["req", mode, ...key, "-out", out, "-subj", subject, ...extra]);
}

function makeRoot(name: string): void {
  const ca = [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  ];
  newKey(name, "-x509", `${name}.pem`, `/CN=${name}/O=Test`, ["-days", "3650", ...ca]);
}

function makeLeaf(name: string, days: string, subject = LEAF_SUBJECT): void {
  newKey(name, "-new", `${name}.csr`, subject);
  writeFileSync(
    join(dir, "leaf.ext"),
    "keyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n1.2.840.113635.100.6.1.13=ASN1:NULL\n",
  );
  must([
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "root.pem",
    "-CAkey",
    "root.key",
    "-set_serial",
    String(days === "-1" ? 7 : 5),
    "-days",
    days,
    "-extfile",
    "leaf.ext",
    "-out",
    `${name}.pem`,
  ]);
}

/**
 * A CMS over `cd` by `leaf` (with the certificates of `certfile` in the blob); `attrs: false`
 * signs without signed attributes.
 */
function cmsOver(cd: Uint8Array, leaf = "leaf", attrs = true, certfile = "root.pem"): Buffer {
  writeFileSync(join(dir, "cd"), cd);
  const certs = certfile ? ["-certfile", certfile] : [];
  return must([
    "cms",
    "-sign",
    "-binary",
    ...(attrs ? [] : ["-noattr"]),
    "-md",
    "sha256",
    "-outform",
    "DER",
    "-in",
    "cd",
    "-signer",
    `${leaf}.pem`,
    "-inkey",
    `${leaf}.key`,
    ...certs,
  ]);
}

function pemBody(file: string): ArrayBuffer {
  const text = readFileSync(join(dir, file), "utf8").replace(/-----[A-Z ]+-----|\s+/g, "");
  return new Uint8Array(Buffer.from(text, "base64")).buffer;
}

/**
 * A CMS over `cd` made with PKI.js, as Apple's codesign makes it: content type, message digest
 * and the CDHashes property list (`listed`, base64 of 20-byte hashes) as signed attributes.
 */
async function cmsWithCdHashes(cd: Uint8Array, listed: string[]): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "pkcs8",
    pemBody("leaf.key"),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const cert = pkijs.Certificate.fromBER(pemBody("leaf.pem"));
  const plist = `<?xml version="1.0"?><plist version="1.0"><dict><key>cdhashes</key><array>${listed.map((h) => `<data>${h}</data>`).join("")}</array></dict></plist>`;
  const attr = (type: string, value: asn1js.AsnType) =>
    new pkijs.Attribute({ type, values: [value] });
  const sd = new pkijs.SignedData({
    version: 1,
    encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: "1.2.840.113549.1.7.1" }),
    certificates: [cert],
    signerInfos: [
      new pkijs.SignerInfo({
        version: 1,
        sid: new pkijs.IssuerAndSerialNumber({
          issuer: cert.issuer,
          serialNumber: cert.serialNumber,
        }),
        signedAttrs: new pkijs.SignedAndUnsignedAttributes({
          type: 0,
          attributes: [
            attr(
              "1.2.840.113549.1.9.3",
              new asn1js.ObjectIdentifier({ value: "1.2.840.113549.1.7.1" }),
            ),
            attr("1.2.840.113549.1.9.4", new asn1js.OctetString({ valueHex: sha256(cd) })),
            attr(
              "1.2.840.113635.100.9.1",
              new asn1js.OctetString({ valueHex: Buffer.from(plist) }),
            ),
          ],
        }),
      }),
    ],
  });
  await sd.sign(key, 0, "SHA-256", new Uint8Array(cd).buffer);
  return new Uint8Array(
    new pkijs.ContentInfo({ contentType: "1.2.840.113549.1.7.2", content: sd.toSchema(true) })
      .toSchema()
      .toBER(),
  );
}

/** The oracle: does openssl verify `cms` over `cd` to the root `ca`? */
function opensslVerifies(cms: Uint8Array, cd: Uint8Array, ca: string): boolean {
  writeFileSync(join(dir, "v.der"), cms);
  writeFileSync(join(dir, "v.cd"), cd);
  return ssl([
    "cms",
    "-verify",
    "-binary",
    "-inform",
    "DER",
    "-in",
    "v.der",
    "-content",
    "v.cd",
    "-CAfile",
    ca,
    "-purpose",
    "any",
    "-out",
    "/dev/null",
  ]).ok;
}

/** An image signed with the CMS `make` builds over its CodeDirectory; also returns both. */
function signed(make: (cd: Uint8Array) => Uint8Array, extra: Array<[number, Uint8Array]> = []) {
  let cd: Uint8Array = new Uint8Array(0);
  let cms: Uint8Array = new Uint8Array(0);
  const image = sign(
    smallImage().image,
    (c) => {
      cd = c;
      cms = make(c);
      return cms;
    },
    "test",
    extra,
  );
  return { image, cd, cms };
}

const roots = () => [readFileSync(join(dir, "root.pem"))];

describe.runIf(have || process.env.CI)(
  "CMS signatures (openssl as the oracle)",
  { timeout: 60_000 },
  () => {
    beforeAll(() => {
      expect(have, "openssl is required under CI").toBe(true);
      dir = mkdtempSync(join(tmpdir(), "dmg-cms-"));
      makeRoot("root");
      makeRoot("other");
      makeLeaf("leaf", "30");
      makeLeaf("expired", "-1");
    }, 60_000);
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("a good chain to the given root verifies: chain, team, Developer ID, signing time", async () => {
      const s = signed((cd) => cmsOver(cd));
      expect(opensslVerifies(s.cms, s.cd, "root.pem")).toBe(true);
      const r = await report(s.image, { trustRoots: roots() });
      expect(r.findings).toEqual([]);
      expect(r.adHoc).toBe(false);
      expect(r.cms).toMatchObject({
        present: true,
        verified: true,
        signerCount: 1,
        developerId: true,
        teamId: "ABCDE12345",
        checkedAtSource: "signing-time",
        trust: "trusted",
      });
      expect(r.cms?.chain.map((c) => c.subject)).toEqual([
        "Developer ID Application: Test (ABCDE12345)",
        "root",
      ]);
      expect(r.cms?.chain[1]).toMatchObject({ selfIssued: true, developerId: false });
      expect(Date.parse(r.cms?.signingTime ?? "")).toBeGreaterThan(Date.now() - 600_000);
      // The root as DER works as well as PEM; without roots trust is not checked, and no finding.
      const der = must(["x509", "-in", "root.pem", "-outform", "DER"]);
      expect((await report(s.image, { trustRoots: [der] })).cms?.trust).toBe("trusted");
      const none = await report(s.image);
      expect(none.cms?.trust).toBe("not-checked");
      expect(none.findings).toEqual([]);
    });

    it("signed without attributes: verified, dates checked now (or at the given time)", async () => {
      const s = signed((cd) => cmsOver(cd, "leaf", false));
      expect(opensslVerifies(s.cms, s.cd, "root.pem")).toBe(true);
      const r = await report(s.image);
      expect(r.findings).toEqual([]);
      expect(r.cms).toMatchObject({ verified: true, checkedAtSource: "now" });
      expect(r.cms?.signingTime).toBeUndefined();
      const later = await report(s.image, { now: new Date("2100-01-01T00:00:00Z") });
      // In 2100 the leaf (30 days) and the root (ten years) have both expired.
      expect(codes(later)).toEqual(["CODESIGN_EXPIRED", "CODESIGN_EXPIRED"]);
      expect(later.findings[0].message).toContain("no signing time");
    });

    it("a chain to another root is CODESIGN_UNTRUSTED (openssl refuses it too)", async () => {
      const s = signed((cd) => cmsOver(cd));
      expect(opensslVerifies(s.cms, s.cd, "other.pem")).toBe(false);
      const r = await report(s.image, { trustRoots: [readFileSync(join(dir, "other.pem"))] });
      expect(codes(r)).toEqual(["CODESIGN_UNTRUSTED"]);
      expect(r.cms).toMatchObject({ verified: true, trust: "untrusted" });
      const v = await validateDmg(s.image, { trustRoots: [readFileSync(join(dir, "other.pem"))] });
      expect(v.errors.map((e) => e.code)).toEqual(["CODESIGN_UNTRUSTED"]);
      expect((await validateDmg(s.image, { trustRoots: roots() })).errors).toEqual([]);
    });

    it("an expired leaf is CODESIGN_EXPIRED at its signing time (openssl refuses it too)", async () => {
      const s = signed((cd) => cmsOver(cd, "expired"));
      expect(opensslVerifies(s.cms, s.cd, "root.pem")).toBe(false);
      const r = await report(s.image, { trustRoots: roots() });
      expect(codes(r)).toEqual(["CODESIGN_EXPIRED"]);
      expect(r.findings[0].message).toContain("at its signing time");
      expect(r.cms).toMatchObject({
        verified: true,
        trust: "trusted",
        checkedAtSource: "signing-time",
      });
    });

    it("a tampered signature value is CODESIGN_CMS_INVALID (openssl refuses it too)", async () => {
      const s = signed((cd) => {
        const c = cmsOver(cd);
        c[c.length - 1] ^= 1; // the last byte of the signer's signature
        return c;
      });
      expect(opensslVerifies(s.cms, s.cd, "root.pem")).toBe(false);
      const r = await report(s.image, { trustRoots: roots() });
      expect(codes(r)).toEqual(["CODESIGN_CMS_INVALID"]);
      expect(r.cms?.verified).toBe(false);
    });

    it("a CMS over other bytes is CODESIGN_CMS_INVALID: its message digest does not match", async () => {
      const s = signed((cd) => {
        const other = new Uint8Array(cd);
        other[other.length - 1] ^= 1;
        return cmsOver(other);
      });
      expect(opensslVerifies(s.cms, s.cd, "root.pem")).toBe(false);
      const r = await report(s.image);
      expect(codes(r)).toEqual(["CODESIGN_CMS_INVALID"]);
      expect(r.findings[0].message).toMatch(/digest/i);
      // Without attributes the signature itself is over the bytes: it fails the same way.
      const raw = signed((cd) => cmsOver(new Uint8Array([...cd, 0]), "leaf", false));
      expect(codes(await report(raw.image))).toEqual(["CODESIGN_CMS_INVALID"]);
    });

    it("SignedData with certificates and no signer is CODESIGN_CMS_INVALID", async () => {
      const p7 = must(["crl2pkcs7", "-nocrl", "-certfile", "leaf.pem", "-outform", "DER"]);
      const s = signed(() => p7);
      const r = await report(s.image);
      expect(codes(r)).toEqual(["CODESIGN_CMS_INVALID"]);
      expect(r.cms).toMatchObject({ verified: false, signerCount: 0, chain: [] });
      expect(readCms(p7).certificates).toHaveLength(1);
    });

    it("bounds: too many certificates, trailing bytes and garbage are CODESIGN_CMS", async () => {
      const many = Buffer.concat(
        Array.from({ length: MAX_CERTIFICATES + 1 }, () => readFileSync(join(dir, "root.pem"))),
      );
      writeFileSync(join(dir, "many.pem"), many);
      const p7 = must(["crl2pkcs7", "-nocrl", "-certfile", "many.pem", "-outform", "DER"]);
      const good = cmsOver(new Uint8Array(4));
      for (const bad of [
        p7,
        Buffer.concat([good, Buffer.from([1])]),
        Buffer.from([0x30, 0x82, 0xff, 0xff, 1, 2]),
        Buffer.from("not DER at all"),
        // A GeneralizedTime that is not a time: asn1js throws while parsing (found by fuzzing).
        Buffer.from([0x30, 0x04, 0x18, 0x02, 0x7a, 0x7a]),
        // A ContentInfo of another type (id-data).
        Buffer.from([
          0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, 0xa0, 0x00,
        ]),
      ]) {
        const r = await report(signed(() => bad).image);
        expect(codes(r), bad.subarray(0, 8).toString("hex")).toEqual(["CODESIGN_CMS"]);
      }
      // Zero padding after the DER is accepted.
      const padded = signed((cd) => Buffer.concat([cmsOver(cd), Buffer.alloc(3)]));
      expect((await report(padded.image)).findings).toEqual([]);
    });

    it("trust roots that are not certificates are INVALID_ARGUMENT", async () => {
      expect(() => parseTrustRoots([Buffer.from("junk")])).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
      expect(() => parseTrustRoots([Buffer.from("-----BEGIN X-----\n-----END X-----\n")])).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
      const s = signed((cd) => cmsOver(cd));
      await expect(report(s.image, { trustRoots: [Buffer.from("junk")] })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
      await expect(
        report(s.image, { trustRoots: "x" as unknown as Uint8Array[] }),
      ).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await expect(report(s.image, { now: new Date(Number.NaN) })).rejects.toMatchObject({
        code: "INVALID_ARGUMENT",
      });
    });

    it("a stapled notarization ticket is reported", async () => {
      const ticket = Buffer.concat([Buffer.from("s8ch"), Buffer.alloc(60)]);
      const s = signed((cd) => cmsOver(cd), [[0x10002, blob(0xfade0b01, ticket)]]);
      const r = await report(s.image);
      expect(r.findings).toEqual([]);
      expect(r.ticket).toBe(true);
      expect(r.ticketBytes).toBe(64);
    });

    it("the command line: info shows the chain, check and SARIF carry the verdicts", () => {
      const s = signed((cd) => cmsOver(cd));
      writeFileSync(join(dir, "signed.dmg"), s.image);
      const info = runCli(["info", "--trust-roots", "root.pem", "signed.dmg"], dir);
      expect(info.status).toBe(0);
      expect(info.out).toContain("CMS signature  verified");
      expect(info.out).toContain(
        "0: Developer ID Application: Test (ABCDE12345) (Developer ID Application)",
      );
      expect(info.out).toContain("signer team    ABCDE12345");
      expect(info.out).toContain("trust          reaches a trust root");
      const json = JSON.parse(runCli(["info", "--json", "signed.dmg"], dir).out);
      expect(json.signature.cms).toMatchObject({ verified: true, trust: "not-checked" });
      const ok = runCli(["check", "--trust-roots", "root.pem", "signed.dmg"], dir);
      expect(ok.status).toBe(0);
      const bad = runCli(
        ["check", "--json", "--sarif", "out.sarif", "--trust-roots", "other.pem", "signed.dmg"],
        dir,
      );
      expect(bad.status).not.toBe(0);
      expect(bad.out).toContain("CODESIGN_UNTRUSTED");
      expect(readFileSync(join(dir, "out.sarif"), "utf8")).toContain("CODESIGN_UNTRUSTED");
      writeFileSync(join(dir, "junk.pem"), "junk");
      const junk = runCli(["check", "--trust-roots", "junk.pem", "signed.dmg"], dir);
      expect(junk.status).not.toBe(0);
      expect(junk.err).toContain("trust root");
      const missing = runCli(["info", "--trust-roots", "absent.pem", "signed.dmg"], dir);
      expect(missing.status).not.toBe(0);
      expect(missing.err).toContain("absent.pem");
    });

    it("the CDHashes attribute must list this signature's CodeDirectory hashes", async () => {
      // The CodeDirectory does not depend on the CMS: learn it, then sign it.
      const cd = signed(() => new Uint8Array(1)).cd;
      const truncated = sha256(cd).subarray(0, 20).toString("base64");
      const good = await cmsWithCdHashes(cd, [truncated]);
      const ok = await report(signed(() => good).image);
      expect(ok.findings).toEqual([]);
      expect(ok.cms?.verified).toBe(true);
      const other = await cmsWithCdHashes(cd, [Buffer.alloc(20, 7).toString("base64")]);
      const r = await report(signed(() => other).image);
      expect(codes(r)).toEqual(["CODESIGN_CMS_INVALID"]);
      expect(r.findings[0].message).toContain("CDHashes");
      expect(r.cms?.verified).toBe(false);
    });

    it("chains: a missing issuer ends the chain, a forged one is CODESIGN_UNTRUSTED", async () => {
      // The leaf alone: its chain is one certificate, trusted through the root given.
      const alone = signed((cd) => cmsOver(cd, "leaf", true, ""));
      const a = await report(alone.image, { trustRoots: roots() });
      expect(a.findings).toEqual([]);
      expect(a.cms?.chain).toHaveLength(1);
      expect(a.cms?.trust).toBe("trusted");
      expect((await report(alone.image)).cms?.trust).toBe("not-checked");
      // A root of the same name and another key: the leaf's signature does not verify under it.
      newKey("fake", "-x509", "fake.pem", "/CN=root/O=Test", ["-days", "30"]);
      const forged = signed((cd) => cmsOver(cd, "leaf", true, "fake.pem"));
      const f = await report(forged.image);
      expect(codes(f)).toEqual(["CODESIGN_UNTRUSTED"]);
      expect(f.cms?.chain).toHaveLength(1);
    });

    it("caps: more signers or trust roots than allowed are refused", async () => {
      for (const n of ["s1", "s2", "s3"]) makeLeaf(n, "30");
      const names = ["leaf", "expired", "s1", "s2", "s3"];
      const signers = names.map((n) => ["-signer", `${n}.pem`, "-inkey", `${n}.key`]);
      writeFileSync(join(dir, "cd"), new Uint8Array(8));
      const five = must([
        "cms",
        "-sign",
        "-binary",
        "-outform",
        "DER",
        "-in",
        "cd",
        ...signers.flat(),
      ]);
      expect(codes(await report(signed(() => five).image))).toEqual(["CODESIGN_CMS"]);
      const pem = readFileSync(join(dir, "root.pem"));
      const many = Buffer.concat(Array.from({ length: MAX_TRUST_ROOTS + 1 }, () => pem));
      expect(() => parseTrustRoots([many])).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
      expect(parseTrustRoots([])).toEqual([]);
    });

    it("without WebCrypto a CMS blob is CODESIGN_CMS, not a crash", async () => {
      const cms = cmsOver(new Uint8Array(8));
      vi.stubGlobal("crypto", undefined);
      try {
        await expect(
          verifyCms(cms, { content: new Uint8Array(8), cdHashes: [] }),
        ).rejects.toMatchObject({
          code: "CODESIGN_CMS",
        });
      } finally {
        vi.unstubAllGlobals();
      }
    });
  },
);
