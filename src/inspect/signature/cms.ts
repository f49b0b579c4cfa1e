/**
 * The CMS blob of a code signature (a BlobWrapper, 0xfade0b01, holding DER SignedData): read
 * for its certificates only (subject, team, validity). The signature itself is not verified
 * here: that needs a CMS implementation this library does not carry.
 */
import { DmgError } from "../../core/errors.js";

/** A certificate of the CMS blob. */
export interface CmsCertificate {
  /** Subject common name. */
  subject: string;
  /** Subject organisational unit: the team ID on Apple developer certificates. */
  organizationalUnit?: string;
  issuer: string;
  /** ISO 8601. */
  notBefore: string;
  notAfter: string;
}

/** Most certificates listed; Apple's chains hold three. */
export const MAX_CERTIFICATES = 16;

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function bad(message: string): DmgError {
  return new DmgError("CODESIGN_CMS", `CMS signature: ${message}`);
}

/** The DER element at `pos` of `b`, which must end by `limit`. */
function tlv(b: Uint8Array, pos: number, limit: number): Tlv {
  // Every length is checked against its parent: a length past it reads another element's bytes.
  if (pos + 2 > limit) throw bad("truncated DER element");
  const tag = b[pos];
  let len = b[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw bad("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p + i];
    p += n;
  }
  if (p + len > limit) throw bad("DER element runs past its parent");
  return { tag, start: p, end: p + len };
}

function children(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.start; p < t.end; ) {
    const c = tlv(b, p, t.end);
    out.push(c);
    p = c.end;
    if (out.length > 4096) throw bad("too many DER elements");
  }
  return out;
}

function oid(b: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      if (parts.length === 0) parts.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

const text = new TextDecoder("utf-8", { fatal: false });

/** The attribute `type` (an OID) of an X.501 Name. */
function nameAttr(b: Uint8Array, name: Tlv, type: string): string | undefined {
  for (const rdn of children(b, name)) {
    for (const atv of children(b, rdn)) {
      const [k, v] = children(b, atv);
      if (k && v && oid(b, k) === type) return text.decode(b.subarray(v.start, v.end));
    }
  }
  return undefined;
}

function time(b: Uint8Array, t: Tlv): string {
  const s = text.decode(b.subarray(t.start, t.end));
  // UTCTime YYMMDDhhmmssZ, GeneralizedTime YYYYMMDDhhmmssZ.
  const m = /^(\d{2,4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) throw bad("bad certificate time");
  const year = m[1].length === 2 ? (Number(m[1]) < 50 ? `20${m[1]}` : `19${m[1]}`) : m[1];
  return `${year}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`;
}

function certificate(b: Uint8Array, cert: Tlv): CmsCertificate {
  const [tbs] = children(b, cert);
  if (!tbs) throw bad("empty certificate");
  const f = children(b, tbs);
  const i = f[0]?.tag === 0xa0 ? 1 : 0; // explicit version
  const [issuer, validity, subject] = [f[i + 2], f[i + 3], f[i + 4]];
  if (!issuer || !validity || !subject) throw bad("certificate lacks fields");
  const [nb, na] = children(b, validity);
  if (!nb || !na) throw bad("certificate validity lacks dates");
  const c: CmsCertificate = {
    subject: nameAttr(b, subject, "2.5.4.3") ?? "",
    issuer: nameAttr(b, issuer, "2.5.4.3") ?? "",
    notBefore: time(b, nb),
    notAfter: time(b, na),
  };
  const ou = nameAttr(b, subject, "2.5.4.11");
  if (ou !== undefined) c.organizationalUnit = ou;
  return c;
}

/** What the CMS blob holds. */
export interface CmsContents {
  certificates: CmsCertificate[];
  signerCount: number;
}

/**
 * The certificates and number of signers of DER SignedData `der`.
 *
 * @throws DmgError CODESIGN_CMS when it is not well-formed SignedData
 */
export function readCms(der: Uint8Array): CmsContents {
  const top = tlv(der, 0, der.length);
  const [type, wrapped] = children(der, top);
  if (!type || oid(der, type) !== "1.2.840.113549.1.7.2" || !wrapped) {
    throw bad("not a SignedData ContentInfo");
  }
  const [sd] = children(der, wrapped);
  if (!sd) throw bad("empty SignedData");
  const fields = children(der, sd);
  const certificates: CmsCertificate[] = [];
  let signerCount = 0;
  for (const f of fields.slice(3)) {
    if (f.tag === 0xa0) {
      for (const c of children(der, f)) {
        if (certificates.length >= MAX_CERTIFICATES) throw bad("too many certificates");
        certificates.push(certificate(der, c));
      }
    } else if (f.tag === 0x31) signerCount = children(der, f).length;
  }
  return { certificates, signerCount };
}
