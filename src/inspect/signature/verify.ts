/**
 * Verification of a DMG's embedded code signature, as Apple's codesign writes it: the
 * CodeDirectory's code slots hash the file's bytes (not the virtual disk) from 0 to the code
 * limit (the start of the signature), usually as one page; its rep-specific special slot (6)
 * hashes the koly trailer with its codeSignatureLength field zeroed (the one field that cannot
 * be known before the signature is made); its other special slots hash the blobs beside it.
 * A notarization ticket, when stapled, is one more blob (slot 0x10002) that no hash covers.
 */

import type { Certificate } from "pkijs";
import { at, DmgError, errorFinding, type Finding, warning } from "../../core/errors.js";
import type { Work } from "../../core/work.js";
import { KOLY_FIELD, KOLY_SIZE, type Koly } from "../../format/koly.js";
import type { CmsReport } from "./cms.js";
import {
  type CodeDirectory,
  CS_ADHOC,
  HASH_TYPES,
  parseCodeDirectory,
  slotHash,
} from "./code-directory.js";
import { digest, incremental } from "./hash.js";
import {
  BLOB_HEADER,
  blobOf,
  CSSLOT,
  MAX_SUPERBLOB_BYTES,
  parseSuperblob,
  type Superblob,
} from "./superblob.js";

/** What verification reads: the image file (never the virtual disk) and its trailer. */
export interface SignatureInput {
  koly: Koly;
  /** Size of the image file. */
  size: number;
  /** Exactly the bytes `[offset, offset + length)` of the image file. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Working-memory accounting for a page hashed in one piece (SHA-384 only). */
  memory?: { acquire(bytes: number, what: string): void; release(bytes: number): void };
  /**
   * The pace of the check: the signed range is the whole file before the signature (a
   * gigabyte hashed in JavaScript from memory would hold the event loop for seconds), so it
   * gives the loop a turn between pieces and stops when the signal fires.
   */
  work?: Work;
  /** Roots the signer's chain must reach (parsed by parseTrustRoots); none: not checked. */
  trustRoots?: readonly Certificate[];
  /** The time certificates are checked at when the signature states no signing time. */
  now?: Date;
}

/** What the embedded code signature says and what checking it found. */
export interface SignatureReport {
  /** The trailer points at a code signature. */
  signed: boolean;
  /** Signed without an identity: no CMS signature, or an empty one. */
  adHoc: boolean;
  /** Hash type of the CodeDirectory (e.g. "SHA-256"). */
  hashType?: string;
  /** End of the signed bytes of the file. */
  codeLimit?: number;
  identifier?: string;
  teamId?: string;
  /** Hex hash of each CodeDirectory (the primary first), by its own hash type. */
  cdHashes: string[];
  verified: {
    /** Every code slot matches the file's bytes. */
    codeHashes: boolean;
    /** The rep-specific slot matches the trailer. */
    trailer: boolean;
  };
  requirements: boolean;
  entitlements: boolean;
  /** A notarization ticket is stapled (a blob in slot 0x10002). Its Apple signature is not checked. */
  ticket: boolean;
  /** Size of the stapled ticket's payload. */
  ticketBytes?: number;
  /** The CMS blob: its certificates, chain and what verifying it found. */
  cms?: CmsReport;
  findings: Finding[];
}

/** Pieces the code range is read in. */
const PIECE = 1024 * 1024;
/** Bad pages reported one by one; the rest are counted in the last finding. */
const MAX_HASH_FINDINGS = 16;

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function emptyReport(signed: boolean): SignatureReport {
  return {
    signed,
    adHoc: false,
    cdHashes: [],
    verified: { codeHashes: false, trailer: false },
    requirements: false,
    entitlements: false,
    ticket: false,
    findings: [],
  };
}

/**
 * Inspect and verify the embedded code signature. Problems become findings of the report;
 * only a failure to read the file (IO_ERROR), a budget or cancellation is thrown.
 */
export async function inspectSignature(input: SignatureInput): Promise<SignatureReport> {
  const k = input.koly;
  if (k.codeSignatureOffset === 0 && k.codeSignatureLength === 0) {
    const r = emptyReport(false);
    r.findings.push(
      warning(
        "CODESIGN_UNSIGNED",
        "the image has no embedded code signature",
        k.fileOffset + KOLY_FIELD.codeSignatureOffset,
      ),
    );
    return r;
  }
  const r = emptyReport(true);
  try {
    await check(input, r);
  } catch (e) {
    if (!(e instanceof DmgError) || !e.code.startsWith("CODESIGN_")) throw e;
    r.findings.push(errorFinding(e));
  }
  return r;
}

/** The superblob's bytes, after checking where the trailer says it lies. */
async function superblob(input: SignatureInput): Promise<Superblob> {
  const k = input.koly;
  const fieldAt = k.fileOffset + KOLY_FIELD.codeSignatureOffset;
  // A signature must lie between the signed bytes and the trailer: one overlapping the trailer
  // or past the file would be read from bytes that mean something else (or none).
  if (
    k.codeSignatureLength < BLOB_HEADER ||
    k.codeSignatureOffset + k.codeSignatureLength > k.fileOffset
  ) {
    throw new DmgError(
      "CODESIGN_MALFORMED",
      `the trailer puts the code signature at ${at(k.codeSignatureOffset)}, ${k.codeSignatureLength} bytes, not between the data and the trailer at ${at(k.fileOffset)}`,
      fieldAt,
    );
  }
  // A declared length of gigabytes is an allocation attack.
  if (k.codeSignatureLength > MAX_SUPERBLOB_BYTES) {
    throw new DmgError(
      "CODESIGN_MALFORMED",
      `the code signature is ${k.codeSignatureLength} bytes; at most ${MAX_SUPERBLOB_BYTES} are read`,
      fieldAt + 8,
    );
  }
  const bytes = await input.read(k.codeSignatureOffset, k.codeSignatureLength);
  return parseSuperblob(bytes, k.codeSignatureOffset);
}

async function check(input: SignatureInput, r: SignatureReport): Promise<void> {
  const k = input.koly;
  const sb = await superblob(input);
  const cdBlob = blobOf(sb, CSSLOT.codeDirectory);
  // Without a CodeDirectory nothing is signed: a superblob of only a CMS blob proves nothing.
  if (!cdBlob) {
    throw new DmgError(
      "CODESIGN_MALFORMED",
      "the code signature has no CodeDirectory",
      sb.fileOffset,
    );
  }
  const cd = parseCodeDirectory(cdBlob.bytes, sb.fileOffset + cdBlob.offset);
  r.hashType = HASH_TYPES[cd.hashType].name;
  r.codeLimit = cd.codeLimit;
  r.identifier = cd.identifier;
  if (cd.teamId !== undefined) r.teamId = cd.teamId;
  const ticket = blobOf(sb, CSSLOT.ticket);
  r.ticket = ticket !== undefined;
  if (ticket) r.ticketBytes = ticket.length - BLOB_HEADER;
  const cdHashes = [await digest(cd.hashType, cd.bytes)];
  for (let t = CSSLOT.alternateCodeDirectoryFirst; t <= CSSLOT.alternateCodeDirectoryLast; t++) {
    const alt = blobOf(sb, t);
    if (!alt) continue;
    const acd = parseCodeDirectory(alt.bytes, sb.fileOffset + alt.offset);
    cdHashes.push(await digest(acd.hashType, acd.bytes));
  }
  r.cdHashes = cdHashes.map(hex);
  // The signed bytes must end where the signature begins at the latest: a limit past it would
  // make the signature hash itself (impossible to produce) or the trailer twice.
  if (cd.codeLimit > k.codeSignatureOffset) {
    throw new DmgError(
      "CODESIGN_MALFORMED",
      `code limit ${cd.codeLimit} runs past the start of the code signature at ${at(k.codeSignatureOffset)}`,
      cdBlob.offset + sb.fileOffset + 32,
    );
  }
  checkSlotCount(cd, sb.fileOffset + cdBlob.offset);
  r.verified.codeHashes = await checkCode(input, cd, r.findings);
  r.verified.trailer = await checkTrailer(input, cd, r.findings);
  await checkSpecial(sb, cd, r);
  const cms = blobOf(sb, CSSLOT.signature);
  const payload = cms ? cms.bytes.subarray(BLOB_HEADER) : new Uint8Array(0);
  r.adHoc = payload.length === 0 || (cd.flags & CS_ADHOC) !== 0;
  if (payload.length > 0) {
    // Loaded when a CMS blob is there: the ASN.1 and X.509 code is most of the library's size.
    const { verifyCms } = await import("./cms.js");
    // The CMS library knows no file offsets: its findings point at the CMS blob.
    const cmsAt = sb.fileOffset + (cms as { offset: number }).offset;
    const located = (e: DmgError) => (e.offset >= 0 ? e : new DmgError(e.code, e.message, cmsAt));
    const got = await verifyCms(payload, {
      content: cd.bytes,
      cdHashes,
      ...(input.trustRoots ? { trustRoots: input.trustRoots } : {}),
      ...(input.now ? { now: input.now } : {}),
    }).catch((e: unknown) => {
      throw e instanceof DmgError ? located(e) : e;
    });
    r.cms = got.report;
    for (const p of got.problems) r.findings.push(errorFinding(located(p)));
  } else if (input.trustRoots && input.trustRoots.length > 0) {
    // Roots were given to require a chain: an ad-hoc signature has none, whoever made it.
    r.findings.push(
      errorFinding(
        new DmgError(
          "CODESIGN_UNTRUSTED",
          "the signature is ad hoc: it has no certificate chain to reach the trust roots",
          sb.fileOffset,
        ),
      ),
    );
  }
}

/** The number of code slots must be the number of pages up to the limit. */
function checkSlotCount(cd: CodeDirectory, cdAt: number): void {
  const page = cd.pageSizeLog2 === 0 ? 0 : 2 ** cd.pageSizeLog2;
  const want = page === 0 ? (cd.codeLimit > 0 ? 1 : 0) : Math.ceil(cd.codeLimit / page);
  // Fewer slots than pages leaves bytes unsigned; more would hash past the limit.
  if (cd.nCodeSlots !== want) {
    throw new DmgError(
      "CODESIGN_MALFORMED",
      `code directory has ${cd.nCodeSlots} code slots for a ${cd.codeLimit}-byte limit; ${want} were expected`,
      cdAt + 28,
    );
  }
}

/** Hash `[offset, offset + length)` of the file, in pieces when the hash allows it. */
async function hashRange(
  input: SignatureInput,
  type: number,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const h = length > PIECE ? incremental(type) : undefined;
  if (!h) {
    input.memory?.acquire(length, "code signature page");
    try {
      return await digest(type, await input.read(offset, length));
    } finally {
      input.memory?.release(length);
    }
  }
  for (let p = offset; p < offset + length; p += PIECE) {
    await input.work?.pace(p);
    h.update(await input.read(p, Math.min(PIECE, offset + length - p)));
  }
  return h.finish();
}

async function checkCode(
  input: SignatureInput,
  cd: CodeDirectory,
  findings: Finding[],
): Promise<boolean> {
  const page = cd.pageSizeLog2 === 0 ? cd.codeLimit : 2 ** cd.pageSizeLog2;
  let bad = 0;
  for (let i = 0; i < cd.nCodeSlots; i++) {
    const start = i * page;
    await input.work?.pace(start);
    const len = Math.min(page, cd.codeLimit - start);
    const got = await hashRange(input, cd.hashType, start, len);
    if (equal(got, slotHash(cd, i))) continue;
    bad++;
    // A single changed byte anywhere in the signed range must fail here.
    if (bad <= MAX_HASH_FINDINGS) {
      findings.push(
        errorFinding(
          new DmgError(
            "CODESIGN_HASH",
            `page ${i} of the signed bytes (${len} bytes at ${at(start)}) hashes to ${hex(got)}, the code directory says ${hex(slotHash(cd, i))}`,
            start,
          ),
        ),
      );
    }
  }
  if (bad > MAX_HASH_FINDINGS) {
    findings.push(
      errorFinding(
        new DmgError("CODESIGN_HASH", `${bad - MAX_HASH_FINDINGS} more pages do not match`, -1),
      ),
    );
  }
  return bad === 0;
}

/**
 * The koly trailer as the rep-specific slot hashes it: codeSignatureLength zeroed (it is
 * written after the signature is made), every other byte as stored.
 */
export function trailerForHash(trailer: Uint8Array): Uint8Array {
  // A copy made by the constructor: a source may hand out views of its bytes (a Node Buffer's
  // slice() is one), and the caller's file must never change.
  const t = new Uint8Array(trailer);
  t.fill(0, KOLY_FIELD.codeSignatureLength, KOLY_FIELD.codeSignatureLength + 8);
  return t;
}

async function checkTrailer(
  input: SignatureInput,
  cd: CodeDirectory,
  findings: Finding[],
): Promise<boolean> {
  const k = input.koly;
  // Without the trailer's hash, its fields (where the tables lie) could be changed at will.
  if (cd.nSpecialSlots < CSSLOT.repSpecific) {
    findings.push(
      errorFinding(
        new DmgError(
          "CODESIGN_TRAILER",
          "the code directory holds no hash of the koly trailer (rep-specific slot 6)",
          k.fileOffset,
        ),
      ),
    );
    return false;
  }
  const stored = slotHash(cd, -CSSLOT.repSpecific);
  const got = await digest(cd.hashType, trailerForHash(await input.read(k.fileOffset, KOLY_SIZE)));
  if (equal(got, stored)) return true;
  findings.push(
    errorFinding(
      new DmgError(
        "CODESIGN_TRAILER",
        `the koly trailer hashes to ${hex(got)}, the code directory says ${hex(stored)}`,
        k.fileOffset,
      ),
    ),
  );
  return false;
}

/** Special slots with a blob beside them: requirements (2), entitlements (5, 7). */
async function checkSpecial(sb: Superblob, cd: CodeDirectory, r: SignatureReport): Promise<void> {
  for (const slot of [CSSLOT.requirements, CSSLOT.entitlements, CSSLOT.entitlementsDer]) {
    const blob = blobOf(sb, slot);
    const hashed = slot <= cd.nSpecialSlots && slotHash(cd, -slot).some((b) => b !== 0);
    if (blob && slot === CSSLOT.requirements) r.requirements = true;
    if (blob && slot !== CSSLOT.requirements) r.entitlements = true;
    if (!blob && !hashed) continue;
    // A blob its slot does not hash (or a hash with no blob) was added or removed after
    // signing: the requirements or entitlements shown would not be the signed ones.
    const got = blob ? await digest(cd.hashType, blob.bytes) : undefined;
    if (got && hashed && equal(got, slotHash(cd, -slot))) continue;
    r.findings.push(
      errorFinding(
        new DmgError(
          "CODESIGN_HASH",
          `special slot ${slot} (${blob ? `blob at ${at(sb.fileOffset + blob.offset)}` : "no blob"}) does not match its hash in the code directory`,
          blob ? sb.fileOffset + blob.offset : sb.fileOffset,
        ),
      ),
    );
  }
}

/**
 * Add the findings of the signature `inspect` reports to a validation: its own, and the
 * absence of a signature only when `required` (then as an error). Failures that
 * stop it (a budget, an unreadable file) become findings too; cancellation is thrown.
 */
export async function collectSignatureFindings(
  inspect: () => Promise<SignatureReport>,
  add: (f: Finding) => void,
  required: boolean,
): Promise<void> {
  let r: SignatureReport;
  try {
    r = await inspect();
  } catch (e) {
    // A deadline ends the whole validation: the caller reports it once.
    const stop = ["ABORTED", "INVALID_ARGUMENT", "BUDGET_TIME"];
    if (!(e instanceof DmgError) || stop.includes(e.code)) throw e;
    add(errorFinding(e));
    return;
  }
  for (const f of r.findings) {
    // Most images are unsigned: a validation says so only when a signature is required.
    if (f.code !== "CODESIGN_UNSIGNED") add(f);
    else if (required) add({ ...f, severity: "error" });
  }
}
