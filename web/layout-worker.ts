/**
 * The page's second worker: opens the image (structure only, through the core), aggregates its
 * chunks into the picture's buckets, and then answers where findings lie. Validation runs in
 * the core's own worker; this one never decodes a chunk.
 */
import {
  type Budget,
  type Checksum,
  DmgError,
  type DmgImage,
  type Finding,
  httpSource,
  openDmg,
  SECTOR_SIZE,
} from "./core.js";
import { addSpan, type Layout, newBar, type Span } from "./layout.js";

/** Buckets per bar: more than the widest bar has pixels at 2x on a laptop. */
const BUCKETS = 720;

/** What the page asks. */
export type LayoutRequest =
  | { open: { source: Blob | { url: string }; budget: Partial<Budget>; password?: string } }
  | { locate: Finding[] };

/** What this worker answers. */
export type LayoutReply =
  | { layout: Layout }
  | { failed: { code: string; message: string } }
  | { located: Array<{ sector: number; sectors: number } | null> };

interface Scope {
  onmessage: ((event: { data: LayoutRequest }) => void) | null;
  postMessage(message: LayoutReply): void;
}

const scope = globalThis as unknown as Scope;
let image: DmgImage | undefined;

scope.onmessage = (event) => {
  const m = event.data;
  if ("open" in m) {
    void open(m.open).then(
      (layout) => scope.postMessage({ layout }),
      (e) =>
        scope.postMessage({
          failed: {
            code: e instanceof DmgError ? e.code : "INTERNAL_ERROR",
            message: e instanceof Error ? e.message : String(e),
          },
        }),
    );
  } else if ("locate" in m) {
    scope.postMessage({ located: locate(m.locate) });
  }
};

async function open(o: {
  source: Blob | { url: string };
  budget: Partial<Budget>;
  password?: string;
}): Promise<Layout> {
  const source = o.source instanceof Blob ? o.source : await httpSource(o.source.url);
  image = await openDmg(source, { budget: o.budget, password: o.password });
  return describe(image, await partitionSpans(image));
}

function checksumText(c: Checksum): string {
  let hex = "";
  for (const b of c.value.subarray(0, Math.ceil(c.bits / 8))) {
    hex += b.toString(16).padStart(2, "0");
  }
  return c.type === 0 ? "none" : `type ${c.type}, ${c.bits} bits: ${hex}`;
}

async function partitionSpans(img: DmgImage): Promise<{ scheme: string; spans: Span[] }> {
  try {
    const map = await img.partitions();
    const spans = map.partitions.map((p) => ({
      label: p.name || p.typeName || p.type,
      start: p.start / SECTOR_SIZE,
      length: p.length / SECTOR_SIZE,
    }));
    return { scheme: map.scheme, spans };
  } catch (e) {
    return { scheme: `unreadable (${e instanceof DmgError ? e.code : "error"})`, spans: [] };
  }
}

function describe(img: DmgImage, parts: { scheme: string; spans: Span[] }): Layout {
  const koly = img.koly;
  const trailer: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(koly)) {
    if (typeof v === "number" || typeof v === "string") trailer.push([k, String(v)]);
    else if (v && typeof v === "object" && "bits" in v) trailer.push([k, checksumText(v)]);
  }
  const histogram: Record<string, number> = {};
  for (const t of img.tables) {
    for (const [k, v] of Object.entries(t.histogram)) histogram[k] = (histogram[k] ?? 0) + v;
  }
  const names = new Set(Object.keys(histogram));
  names.delete("terminator");
  names.delete("comment");
  const types = [...names];
  const regions = ["XML plist", "resource fork", "code signature", "koly trailer"];
  const disk = newBar(img.sectorCount, BUCKETS, types);
  const fileEnd = koly.fileOffset + 512;
  const file = newBar(fileEnd, BUCKETS, [...types, ...regions]);
  const row = new Map(types.map((t, i) => [t, i]));
  for (let i = 0; i < img.chunkCount; i++) {
    const c = img.chunk(i);
    const t = row.get(c.typeName);
    if (t === undefined) continue;
    addSpan(disk, t, c.sector, c.sectorCount, c);
    addSpan(file, t, c.offset, c.length, c);
  }
  const n = types.length;
  addSpan(file, n, koly.xmlOffset, koly.xmlLength, null);
  addSpan(file, n + 1, koly.rsrcForkOffset, koly.rsrcForkLength, null);
  addSpan(file, n + 2, koly.codeSignatureOffset, koly.codeSignatureLength, null);
  addSpan(file, n + 3, koly.fileOffset, 512, null);
  const tables = img.tables.map((t) => ({
    label: t.name,
    start: t.firstSector,
    length: t.sectorCount,
  }));
  const tableRows = img.tables.map((t) => ({
    "#": String(t.index),
    name: t.name,
    "first sector": String(t.firstSector),
    sectors: String(t.sectorCount),
    "data offset": String(t.dataOffset),
    entries: String(t.entryCount),
    checksum: checksumText(t.checksum),
  }));
  return {
    disk,
    file,
    tables,
    partitions: parts.spans,
    scheme: parts.scheme,
    trailer,
    tableRows,
    chunkCount: img.chunkCount,
    histogram,
    container: containerText(img),
  };
}

function containerText(img: DmgImage): string {
  const kinds: string[] = [];
  for (let c: typeof img.container | undefined = img.container; c; c = c.inner) kinds.push(c.kind);
  return kinds.join(" > ");
}

/** Where each finding lies on the disk: its chunk's sectors, its table's, or null. */
function locate(findings: Finding[]): Array<{ sector: number; sectors: number } | null> {
  const img = image;
  if (!img) return findings.map(() => null);
  const wanted = new Map<string, number[]>();
  findings.forEach((f, i) => {
    if (f.table === undefined || f.chunk === undefined) return;
    const key = `${f.table}:${f.chunk}`;
    wanted.set(key, [...(wanted.get(key) ?? []), i]);
  });
  const out: Array<{ sector: number; sectors: number } | null> = findings.map((f) => {
    // A table's own errors mark the table; its warnings (an absent checksum) would paint
    // the whole disk, so they are left to the list of findings.
    const t = f.table === undefined || f.severity !== "error" ? undefined : img.tables[f.table];
    return t ? { sector: t.firstSector, sectors: t.sectorCount } : null;
  });
  if (wanted.size === 0) return out;
  for (let i = 0; i < img.chunkCount; i++) {
    const c = img.chunk(i);
    const hits = wanted.get(`${c.table}:${c.tableChunk}`);
    if (hits) for (const h of hits) out[h] = { sector: c.sector, sectors: c.sectorCount };
  }
  return out;
}
