/** `dmg-validate info FILE`: the trailer, layout, tables and warnings of one image. */

import type { ContainerInfo } from "../containers/container.js";
import { DmgError } from "../core/errors.js";
import { jsonText, sanitize } from "../core/text.js";
import { KOLY_FLAG_FLATTENED, KOLY_FLAG_INTERNET_ENABLED, type Koly } from "../format/koly.js";
import type { FileSystemInfo } from "../inspect/fs/identify.js";
import type { PartitionMap } from "../inspect/partitions.js";
import type { CmsCertificate, CmsReport, CmsTrust } from "../inspect/signature/cms.js";
import type { SignatureReport } from "../inspect/signature/verify.js";
import type { ChunkInfo, DmgImage, SignatureOptions } from "../node/index.js";
import { findingJson } from "../report/json.js";
import type { Args } from "./args.js";
import { EXIT_OK, exitCodeFor, reportFailure } from "./exit.js";
import { type Io, TextOut, writeOut } from "./io.js";
import {
  checksumJson,
  checksumText,
  errorJson,
  errorText,
  findingLine,
  hex,
  humanBytes,
} from "./output.js";
import { isUrl, openOperand, urlName } from "./remote.js";
import { deadline } from "./signals.js";

const VARIANTS: Record<number, string> = { 1: "device image", 2: "partition image" };

function flagsText(flags: number): string {
  const names: string[] = [];
  if (flags & KOLY_FLAG_FLATTENED) names.push("flattened");
  if (flags & KOLY_FLAG_INTERNET_ENABLED) names.push("internet-enabled");
  return names.length ? `${hex(flags)} (${names.join(", ")})` : hex(flags);
}

function kolyJson(k: Koly): Record<string, unknown> {
  return {
    ...k,
    dataForkChecksum: checksumJson(k.dataForkChecksum),
    masterChecksum: checksumJson(k.masterChecksum),
  };
}

function histogramText(h: Record<string, number>): string {
  return Object.entries(h)
    .map(([name, n]) => `${name} ${n}`)
    .join(", ");
}

function infoJson(file: string, image: DmgImage): Record<string, unknown> {
  return {
    file,
    ok: true,
    size: image.size,
    sectorCount: image.sectorCount,
    container: image.container,
    layout: image.layout,
    koly: kolyJson(image.koly),
    tables: image.tables.map((t) => ({ ...t, checksum: checksumJson(t.checksum) })),
    chunkCount: image.chunkCount,
    warnings: image.warnings.map(findingJson),
  };
}

/**
 * The containers around the image, outermost first, each with its fields (nothing for a plain
 * UDIF file). Field values may come from the file: sanitised.
 */
function containerText(c: ContainerInfo): string[] {
  const lines: string[] = [];
  let pad = "";
  for (let at: ContainerInfo | undefined = c; at && at.kind !== "UDIF"; at = at.inner) {
    lines.push(`${"container".padEnd(17)}${pad}${sanitize(at.kind)}`);
    for (const [name, value] of Object.entries(at.fields)) {
      lines.push(`  ${pad}${sanitize(name).padEnd(15)}${sanitize(String(value))}`);
    }
    pad += "  ";
  }
  return lines;
}

function infoText(file: string, image: DmgImage): string[] {
  const k = image.koly;
  const range = (offset: number, length: number) =>
    length ? `${hex(offset)}, ${length} bytes` : "none";
  const lines = [
    `file             ${sanitize(file)}`,
    `virtual size     ${image.size} bytes (${humanBytes(image.size)}), ${image.sectorCount} sectors`,
    ...containerText(image.container),
    `layout           ${image.layout}`,
    `trailer          koly at ${hex(k.fileOffset)}, version ${k.version}, flags ${flagsText(k.flags)}`,
    `  data fork      ${range(k.dataForkOffset, k.dataForkLength)}, checksum ${checksumText(k.dataForkChecksum)}`,
    `  resource fork  ${range(k.rsrcForkOffset, k.rsrcForkLength)}`,
    `  XML plist      ${range(k.xmlOffset, k.xmlLength)}`,
    `  code signature ${range(k.codeSignatureOffset, k.codeSignatureLength)}`,
    `  segment        ${k.segmentNumber} of ${k.segmentCount}, id ${k.segmentId}`,
    `  master         checksum ${checksumText(k.masterChecksum)}`,
    `  image variant  ${k.imageVariant}${VARIANTS[k.imageVariant] ? ` (${VARIANTS[k.imageVariant]})` : ""}`,
    `  sectors        ${k.sectorCount}`,
    `tables           ${image.tables.length}`,
  ];
  for (const t of image.tables) {
    lines.push(
      `  ${t.index}: ${sanitize(t.name)}`,
      `     first sector ${t.firstSector}, ${t.sectorCount} sectors, checksum ${checksumText(t.checksum)}`,
      `     entries: ${histogramText(t.histogram)}`,
    );
  }
  lines.push(`chunks           ${image.chunkCount}`);
  lines.push(`warnings         ${image.warnings.length || "none"}`);
  for (const w of image.warnings) lines.push(`  ${findingLine(w)}`);
  return lines;
}

/** The "partition map" section: as JSON, and as lines of text. */
interface Section {
  json: unknown;
  text: string[];
}

/**
 * The disk's partition map, its partitions (with their file systems) and its findings. A disk
 * that cannot be read there (a chunk that fails to decode) gives the error in the section, not
 * a failed `info`. Names come from the disk: sanitised.
 */
async function partitionSection(image: DmgImage): Promise<Section> {
  let map: PartitionMap;
  try {
    map = await image.partitions();
  } catch (e) {
    if (!(e instanceof DmgError)) throw e;
    return {
      json: { error: errorJson(e) },
      text: [`partition map    unreadable: ${errorText(e)}`],
    };
  }
  const fs = (f: FileSystemInfo | undefined) =>
    f && f.type !== "unknown" ? `, ${f.type}${f.label ? ` "${sanitize(f.label)}"` : ""}` : "";
  const text = [
    `partition map    ${map.scheme}${map.diskGuid ? `, disk ${map.diskGuid}` : ""}${map.scheme === "none" ? fs(map.fileSystem) : ""}`,
  ];
  for (const p of map.partitions) {
    const type = p.typeName && p.typeName !== p.type ? `${p.typeName} (${p.type})` : p.type;
    text.push(
      `  ${p.index}: ${sanitize(type)}${p.name ? ` "${sanitize(p.name)}"` : ""}${fs(p.fileSystem)}`,
      `     offset ${p.start}, ${p.length} bytes (${humanBytes(p.length)})`,
    );
  }
  for (const f of map.findings) text.push(`  ${findingLine(f)}`);
  const json = { ...map, findings: map.findings.map(findingJson) };
  return { json, text };
}

/** A certificate of the signature, its strings from the file sanitised. */
function certificateJson(c: CmsCertificate): CmsCertificate {
  return {
    ...c,
    subject: sanitize(c.subject),
    issuer: sanitize(c.issuer),
    ...(c.organizationalUnit === undefined
      ? {}
      : { organizationalUnit: sanitize(c.organizationalUnit) }),
  };
}

/** The embedded code signature, for JSON (its strings come from the file: sanitised). */
function signatureJson(r: SignatureReport): Record<string, unknown> {
  const cms = r.cms && {
    ...r.cms,
    signers: r.cms.signers.map(certificateJson),
    chain: r.cms.chain.map(certificateJson),
    teamId: r.cms.teamId === undefined ? undefined : sanitize(r.cms.teamId),
  };
  return {
    ...r,
    identifier: r.identifier === undefined ? undefined : sanitize(r.identifier),
    teamId: r.teamId === undefined ? undefined : sanitize(r.teamId),
    cms,
    findings: r.findings.map(findingJson),
  };
}

const TRUST_TEXT: Readonly<Record<CmsTrust, string>> = {
  trusted: "reaches a trust root",
  untrusted: "reaches NO trust root",
  "not-checked": "not checked (no --trust-roots)",
};

/** The CMS part of the signature, as text lines. */
function cmsText(cms: CmsReport): string[] {
  const lines = [`  CMS signature  ${cms.verified ? "verified" : "FAILED"}`];
  cms.chain.forEach((c, i) => {
    const kind = c.developerId ? " (Developer ID Application)" : "";
    lines.push(
      `  ${i === 0 ? "chain         " : "              "} ${i}: ${sanitize(c.subject)}${kind}`,
      `                    valid ${c.notBefore} to ${c.notAfter}`,
    );
  });
  if (cms.teamId !== undefined) lines.push(`  signer team    ${sanitize(cms.teamId)}`);
  const when =
    cms.checkedAtSource === "signing-time" ? "the signing time" : "now (no signing time)";
  lines.push(
    `  dates checked  at ${when}, ${cms.checkedAt}`,
    `  trust          ${TRUST_TEXT[cms.trust]}`,
  );
  return lines;
}

/** The embedded code signature, as text lines. */
function signatureText(r: SignatureReport): string[] {
  if (!r.signed) return ["signature        none"];
  const yes = (b: boolean) => (b ? "ok" : "FAILED");
  const lines = [
    `signature        ${r.adHoc ? "ad hoc" : "CMS"}, ${r.hashType ?? "?"}`,
    `  identifier     ${sanitize(r.identifier ?? "")}`,
  ];
  if (r.teamId !== undefined) lines.push(`  team ID        ${sanitize(r.teamId)}`);
  if (r.codeLimit !== undefined) lines.push(`  code limit     ${r.codeLimit}`);
  for (const h of r.cdHashes) lines.push(`  cdhash         ${h}`);
  lines.push(
    `  code hashes    ${yes(r.verified.codeHashes)}`,
    `  trailer hash   ${yes(r.verified.trailer)}`,
  );
  for (const line of r.cms ? cmsText(r.cms) : []) lines.push(line);
  lines.push(
    `  ticket         ${r.ticket ? `stapled, ${r.ticketBytes} bytes (not verified)` : "none"}`,
  );
  for (const f of r.findings) lines.push(`  ${findingLine(f)}`);
  return lines;
}

function chunkLine(c: ChunkInfo): string {
  return [
    String(c.index).padStart(7),
    String(c.table).padStart(5),
    String(c.tableChunk).padStart(6),
    c.typeName.padEnd(10),
    String(c.sector).padStart(12),
    String(c.sectorCount).padStart(8),
    hex(c.offset).padStart(12),
    String(c.length).padStart(10),
  ].join(" ");
}

function signatureOptions(args: Args): SignatureOptions {
  return args.trustRoots ? { trustRoots: args.trustRoots } : {};
}

/** Print what opening one image (a file or a URL) finds. */
export async function runInfo(args: Args, io: Io): Promise<number> {
  const path = args.operands[0];
  const file = args.shownAs ?? (isUrl(path) ? urlName(path) : path);
  let image: DmgImage;
  try {
    image = await openOperand(path, args, deadline(args));
  } catch (e) {
    if (args.json && e instanceof DmgError) {
      await writeOut(io.stdout, `${jsonText({ file, ok: false, errors: [errorJson(e)] })}\n`);
      return exitCodeFor(e);
    }
    return reportFailure(io, file, e);
  }
  try {
    const out = new TextOut(io.stdout);
    const partitions = await partitionSection(image);
    if (args.json) {
      const head = jsonText({
        ...infoJson(file, image),
        partitionMap: partitions.json,
        signature: signatureJson(await image.signature(signatureOptions(args))),
      });
      if (!args.chunks) {
        await out.line(head);
      } else {
        // Streamed: a table of millions of chunks is never one string.
        await out.put(`${head.slice(0, -1)},"chunks":[`);
        let first = true;
        for (const c of image.chunks()) {
          await out.put(`${first ? "" : ","}${jsonText(c)}`);
          first = false;
        }
        await out.line("]}");
      }
    } else {
      for (const line of infoText(file, image)) await out.line(line);
      const signature = await image.signature(signatureOptions(args));
      for (const line of signatureText(signature)) await out.line(line);
      for (const line of partitions.text) await out.line(line);
      if (args.chunks) {
        await out.line(
          "  index table entry type             sector  sectors       offset     length",
        );
        for (const c of image.chunks()) await out.line(chunkLine(c));
      }
    }
    await out.flush();
    return EXIT_OK;
  } finally {
    await image.close();
  }
}
