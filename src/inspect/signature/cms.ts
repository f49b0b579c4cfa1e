/**
 * The CMS blob of a code signature (a BlobWrapper, 0xfade0b01, holding DER SignedData): a
 * detached signature over the primary CodeDirectory. Parsed with PKI.js (ASN.1 and X.509 on
 * asn1js), verified with WebCrypto: the signer's signature, the message-digest and CDHashes
 * attributes, the chain from the signer up through the certificates the blob carries, its
 * dates, and, when roots are given, whether it reaches one. Every failure of the library is
 * caught here and becomes a DmgError: nothing it throws leaves this module.
 */
import * as asn1js from "asn1js";
import {
  Certificate,
  ContentInfo,
  CryptoEngine,
  type RelativeDistinguishedNames,
  SignedData,
  SignedDataVerifyError,
} from "pkijs";
import { DmgError } from "../../core/errors.js";

/** A certificate of the CMS blob. */
export interface CmsCertificate {
  /** Subject common name. */
  subject: string;
  /** Subject organisational unit: the team ID on Apple developer certificates. */
  organizationalUnit?: string;
  /** Issuer common name. */
  issuer: string;
  /** ISO 8601. */
  notBefore: string;
  notAfter: string;
  /** Carries Apple's Developer ID Application marker extension (1.2.840.113635.100.6.1.13). */
  developerId: boolean;
  /** Issued by itself (subject and issuer names equal): a root. */
  selfIssued: boolean;
}

/** Whether the signer's chain reaches a root the caller trusts. */
export type CmsTrust = "trusted" | "untrusted" | "not-checked";

/** What the CMS blob holds and what checking it found. */
export interface CmsReport {
  present: true;
  /** The signature of every signer verifies over the CodeDirectory (digest and attributes). */
  verified: boolean;
  signerCount: number;
  /** Every certificate of the blob, in its order. */
  signers: CmsCertificate[];
  /** The signer's certificate first, then each issuer found in the blob. */
  chain: CmsCertificate[];
  /** The signer's certificate is Apple's Developer ID Application kind. */
  developerId: boolean;
  /** Team identifier: the signer certificate's subject OU. */
  teamId?: string;
  /** The signing-time attribute (ISO 8601), when the signer states one. */
  signingTime?: string;
  /** The time certificate dates were checked at, and where it came from. */
  checkedAt: string;
  checkedAtSource: "signing-time" | "now";
  trust: CmsTrust;
}

/** Most certificates read from a blob; Apple's chains hold three. */
export const MAX_CERTIFICATES = 16;
/** Most signers verified; codesign writes one. */
export const MAX_SIGNERS = 4;
/** Longest chain followed from the signer; Apple's is three deep. */
export const MAX_CHAIN_DEPTH = 8;
/** Most trust roots accepted. */
export const MAX_TRUST_ROOTS = 256;

/** OIDs read. */
export const OID = Object.freeze({
  signedData: "1.2.840.113549.1.7.2",
  signingTime: "1.2.840.113549.1.9.5",
  commonName: "2.5.4.3",
  organizationalUnit: "2.5.4.11",
  /** Marker extension of Developer ID Application leaf certificates. */
  developerIdApplication: "1.2.840.113635.100.6.1.13",
  /** Signed attribute: a property list of the truncated hashes of every CodeDirectory. */
  cdHashesPlist: "1.2.840.113635.100.9.1",
});

/** Well-formedness failure (CODESIGN_CMS). */
function bad(message: string): DmgError {
  return new DmgError("CODESIGN_CMS", `CMS signature: ${message}`);
}

/** A verification failure of a well-formed blob (CODESIGN_CMS_INVALID). */
function invalid(message: string): DmgError {
  return new DmgError("CODESIGN_CMS_INVALID", `CMS signature: ${message}`);
}

function reason(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `f()`, with anything the library throws turned into `wrap`'s DmgError. */
function guard<T>(what: string, f: () => T, wrap: (m: string) => DmgError = bad): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DmgError) throw e;
    // Stack exhaustion on deep nesting is a RangeError: still a malformed blob.
    throw wrap(`${what}: ${reason(e)}`);
  }
}

/** A copy of `b` in an ArrayBuffer of its own (a Node Buffer's slice() is a view of a pool). */
function buffer(b: Uint8Array): ArrayBuffer {
  return new Uint8Array(b).buffer as ArrayBuffer;
}

/** The WebCrypto engine every verification uses (never the library's global one). */
function engine(): CryptoEngine {
  const crypto = (globalThis as { crypto?: Crypto }).crypto;
  if (!crypto?.subtle) {
    throw bad("verifying needs WebCrypto (crypto.subtle), which this platform does not offer");
  }
  return new CryptoEngine({ name: "webcrypto", crypto });
}

function attr(name: RelativeDistinguishedNames, type: string): string | undefined {
  const v = name.typesAndValues.find((t) => t.type === type)?.value;
  const s = (v?.valueBlock as { value?: unknown } | undefined)?.value;
  return typeof s === "string" ? s : undefined;
}

function nameDer(name: RelativeDistinguishedNames): Uint8Array {
  return new Uint8Array(name.toSchema().toBER());
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function describe(c: Certificate): CmsCertificate {
  const out: CmsCertificate = {
    subject: attr(c.subject, OID.commonName) ?? "",
    issuer: attr(c.issuer, OID.commonName) ?? "",
    notBefore: c.notBefore.value.toISOString(),
    notAfter: c.notAfter.value.toISOString(),
    developerId: (c.extensions ?? []).some((e) => e.extnID === OID.developerIdApplication),
    selfIssued: equal(nameDer(c.subject), nameDer(c.issuer)),
  };
  const ou = attr(c.subject, OID.organizationalUnit);
  if (ou !== undefined) out.organizationalUnit = ou;
  return out;
}

function der(c: Certificate): Uint8Array {
  return new Uint8Array(c.toSchema(true).toBER());
}

/** The SignedData of DER `bytes`, and its certificates. */
function parse(bytes: Uint8Array): { sd: SignedData; certs: Certificate[] } {
  // Codesign may pad the blob after the DER with zeros; anything else after it is smuggled.
  // asn1js reports most errors in its result but throws on some (a GeneralizedTime that is
  // not a time, found by fuzzing): both are a malformed blob.
  const asn = guard("not DER", () => asn1js.fromBER(buffer(bytes)));
  if (asn.offset === -1) throw bad(`not DER: ${asn.result.error}`);
  if (bytes.subarray(asn.offset).some((b) => b !== 0)) {
    throw bad(`${bytes.length - asn.offset} bytes follow the SignedData`);
  }
  const ci = guard("not a ContentInfo", () => new ContentInfo({ schema: asn.result }));
  if (ci.contentType !== OID.signedData)
    throw bad(`content type ${ci.contentType}, not SignedData`);
  const sd = guard("not SignedData", () => new SignedData({ schema: ci.content }));
  const all = sd.certificates ?? [];
  // Each certificate costs a signature check when chaining: their number is a CPU budget.
  if (all.length > MAX_CERTIFICATES) {
    throw bad(`${all.length} certificates (at most ${MAX_CERTIFICATES})`);
  }
  if (sd.signerInfos.length > MAX_SIGNERS) {
    throw bad(`${sd.signerInfos.length} signers (at most ${MAX_SIGNERS})`);
  }
  const certs = all.filter((c): c is Certificate => c instanceof Certificate);
  return { sd, certs };
}

/**
 * The certificates of DER SignedData `der`, unverified (for a report that stops before
 * verification).
 *
 * @throws DmgError CODESIGN_CMS when it is not well-formed SignedData
 */
export function readCms(bytes: Uint8Array): {
  certificates: CmsCertificate[];
  signerCount: number;
} {
  const { sd, certs } = parse(bytes);
  return {
    certificates: guard("certificate", () => certs.map(describe)),
    signerCount: sd.signerInfos.length,
  };
}

/** Certificates given as DER or PEM (one or more `CERTIFICATE` blocks per file). */
export function parseTrustRoots(files: readonly Uint8Array[]): Certificate[] {
  const out: Certificate[] = [];
  const latin1 = new TextDecoder("latin1");
  for (const f of files) {
    const text = latin1.decode(f.subarray(0, Math.min(f.length, 64)));
    const blocks = text.includes("-----BEGIN")
      ? [
          ...latin1
            .decode(f)
            .matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g),
        ].map((m) => Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (ch) => ch.charCodeAt(0)))
      : [f];
    for (const b of blocks) {
      if (out.length >= MAX_TRUST_ROOTS) {
        throw new DmgError("INVALID_ARGUMENT", `more than ${MAX_TRUST_ROOTS} trust roots`);
      }
      out.push(
        guard(
          "a trust root is not an X.509 certificate",
          () => Certificate.fromBER(buffer(b)),
          (m) => new DmgError("INVALID_ARGUMENT", m),
        ),
      );
    }
  }
  if (files.length > 0 && out.length === 0) {
    throw new DmgError("INVALID_ARGUMENT", "the trust roots hold no certificate");
  }
  return out;
}

/** What verification is given besides the blob. */
export interface CmsVerifyOptions {
  /** The bytes signed: the primary CodeDirectory blob. */
  content: Uint8Array;
  /** The full hash of each CodeDirectory (primary first), for the CDHashes attribute. */
  cdHashes: Uint8Array[];
  /** Trusted roots; none: trust is "not-checked". */
  trustRoots?: readonly Certificate[];
  /** "Now", when no signing time is stated (tests pin it). */
  now?: Date;
}

/** The result: the report, and its problems as DmgErrors (in the order found). */
export interface CmsVerification {
  report: CmsReport;
  problems: DmgError[];
}

/**
 * Verify DER SignedData `bytes` over `o.content`.
 *
 * @throws DmgError CODESIGN_CMS when it is not well-formed SignedData; verification failures
 * (CODESIGN_CMS_INVALID, CODESIGN_UNTRUSTED, CODESIGN_EXPIRED) are returned as problems
 */
export async function verifyCms(bytes: Uint8Array, o: CmsVerifyOptions): Promise<CmsVerification> {
  const { sd, certs } = parse(bytes);
  const crypto = engine();
  const problems: DmgError[] = [];
  // No signer: the blob proves nothing, yet the CodeDirectory does not say ad hoc.
  if (sd.signerInfos.length === 0) problems.push(invalid("the SignedData has no signer"));
  let verified = sd.signerInfos.length > 0;
  let signer: Certificate | undefined;
  for (let i = 0; i < sd.signerInfos.length; i++) {
    try {
      const r = await sd.verify(
        { signer: i, data: buffer(o.content), extendedMode: true, checkChain: false },
        crypto,
      );
      if (i === 0) signer = r.signerCertificate ?? undefined;
      // A signature that does not verify: the CMS was made over other bytes, or forged.
      if (!r.signatureVerified) {
        verified = false;
        problems.push(invalid(`the signature of signer ${i} does not verify`));
      }
    } catch (e) {
      verified = false;
      if (i === 0 && e instanceof SignedDataVerifyError) {
        signer = (e.signerCertificate as Certificate | null) ?? undefined;
      }
      // A digest attribute of other bytes is how a CMS lifted from another file fails.
      problems.push(invalid(`signer ${i}: ${reason(e)}`));
    }
  }
  const signingTime = guard("signing time", () => signingTimeOf(sd));
  const cdProblem = guard("CDHashes attribute", () => checkCdHashes(sd, o.cdHashes));
  if (cdProblem) {
    verified = false;
    problems.push(cdProblem);
  }
  const at = signingTime ?? o.now ?? new Date();
  const chainCerts = signer
    ? await chainOf(signer, certs, crypto, problems).catch((e: unknown) => {
        throw e instanceof DmgError ? e : bad(`certificate chain: ${reason(e)}`);
      })
    : [];
  const chain = guard("certificate", () => chainCerts.map(describe));
  const report: CmsReport = {
    present: true,
    verified,
    signerCount: sd.signerInfos.length,
    signers: guard("certificate", () => certs.map(describe)),
    chain,
    developerId: chain[0]?.developerId ?? false,
    checkedAt: at.toISOString(),
    checkedAtSource: signingTime ? "signing-time" : "now",
    trust: "not-checked",
  };
  if (chain[0]?.organizationalUnit !== undefined) report.teamId = chain[0].organizationalUnit;
  if (signingTime) report.signingTime = signingTime.toISOString();
  checkDates(chainCerts, chain, at, report.checkedAtSource, problems);
  if (o.trustRoots && o.trustRoots.length > 0) {
    const roots = o.trustRoots;
    const ok =
      chainCerts.length > 0 &&
      (await reachesRoot(chainCerts, roots, crypto).catch((e: unknown) => {
        throw bad(`trust roots: ${reason(e)}`);
      }));
    report.trust = ok ? "trusted" : "untrusted";
    if (!ok) {
      problems.push(
        new DmgError(
          "CODESIGN_UNTRUSTED",
          `the signer's certificate chain (${chain.map((c) => c.subject).join(" < ") || "none"}) reaches none of the ${o.trustRoots.length} trust roots`,
        ),
      );
    }
  }
  return { report, problems };
}

function signingTimeOf(sd: SignedData): Date | undefined {
  const a = sd.signerInfos[0]?.signedAttrs?.attributes.find((x) => x.type === OID.signingTime);
  const v = a?.values[0] as { toDate?: () => Date } | undefined;
  const d = v?.toDate?.();
  return d && !Number.isNaN(d.getTime()) ? d : undefined;
}

/**
 * The CDHashes attribute lists the hash (cut to 20 bytes) of every CodeDirectory: without this
 * check an alternate CodeDirectory could be swapped while the signed primary stays.
 */
function checkCdHashes(sd: SignedData, cdHashes: Uint8Array[]): DmgError | undefined {
  const a = sd.signerInfos[0]?.signedAttrs?.attributes.find((x) => x.type === OID.cdHashesPlist);
  if (!a) return undefined;
  const v = a.values[0];
  if (!(v instanceof asn1js.OctetString))
    return invalid("the CDHashes attribute is not an OCTET STRING");
  const plist = new TextDecoder("utf-8", { fatal: false }).decode(v.valueBlock.valueHexView);
  const listed = [...plist.matchAll(/<data>([\s\S]*?)<\/data>/g)].map((m) =>
    m[1].replace(/\s+/g, ""),
  );
  // Each hash as Apple lists it: its first 20 bytes, base64 (a byte at a time: no spread).
  const want = cdHashes.map((h) =>
    btoa(Array.from(h.subarray(0, 20), (b) => String.fromCharCode(b)).join("")),
  );
  if (listed.length === want.length && listed.every((x, i) => x === want[i])) return undefined;
  return invalid(
    `the CDHashes attribute lists ${listed.length} code directory hashes that are not the ${want.length} of this signature`,
  );
}

/** The signer, then each issuer found among `certs` whose key verifies the one below. */
async function chainOf(
  signer: Certificate,
  certs: Certificate[],
  crypto: CryptoEngine,
  problems: DmgError[],
): Promise<Certificate[]> {
  const chain = [signer];
  for (let cur = signer; chain.length < MAX_CHAIN_DEPTH; ) {
    const issuerName = nameDer(cur.issuer);
    if (equal(issuerName, nameDer(cur.subject))) break;
    const issuer = certs.find((c) => !chain.includes(c) && equal(nameDer(c.subject), issuerName));
    if (!issuer) break;
    // A certificate named after an issuer it was not signed by: a forged intermediate.
    if (!(await verifies(cur, issuer, crypto))) {
      problems.push(
        new DmgError(
          "CODESIGN_UNTRUSTED",
          `certificate "${attr(cur.subject, OID.commonName) ?? ""}" is not signed by the certificate named as its issuer`,
        ),
      );
      break;
    }
    chain.push(issuer);
    cur = issuer;
  }
  return chain;
}

async function verifies(
  c: Certificate,
  issuer: Certificate,
  crypto: CryptoEngine,
): Promise<boolean> {
  try {
    return await c.verify(issuer, crypto);
  } catch {
    return false;
  }
}

/** The chain ends at a trusted root: it holds one, or its top is signed by one. */
async function reachesRoot(
  chain: Certificate[],
  roots: readonly Certificate[],
  crypto: CryptoEngine,
): Promise<boolean> {
  const rootDer = roots.map(der);
  if (chain.some((c) => rootDer.some((r) => equal(r, der(c))))) return true;
  const top = chain[chain.length - 1];
  const issuerName = nameDer(top.issuer);
  for (const r of roots) {
    if (equal(nameDer(r.subject), issuerName) && (await verifies(top, r, crypto))) return true;
  }
  return false;
}

/** Certificates outside their validity at `at`: a stolen key used after revocation by expiry. */
function checkDates(
  certs: Certificate[],
  shown: CmsCertificate[],
  at: Date,
  source: "signing-time" | "now",
  problems: DmgError[],
): void {
  certs.forEach((c, i) => {
    if (at >= c.notBefore.value && at <= c.notAfter.value) return;
    const when =
      source === "signing-time" ? "at its signing time" : "now (no signing time is stated)";
    problems.push(
      new DmgError(
        "CODESIGN_EXPIRED",
        `certificate "${shown[i].subject}" is valid from ${shown[i].notBefore} to ${shown[i].notAfter}, not ${when} ${at.toISOString()}`,
      ),
    );
  });
}
