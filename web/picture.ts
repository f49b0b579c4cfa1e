/**
 * One bar of the picture: an SVG of at most one rectangle per run of buckets (never one per
 * chunk), labelled spans above it, findings marked, and a detail line that follows the pointer
 * and the keyboard (arrow keys, Home, End, Page Up/Down) to show the chunk entry under it.
 */
import type { ChunkInfo } from "./core.js";
import { h, s } from "./dom.js";
import {
  type Bar,
  bucketOf,
  bucketWidth,
  covered,
  dominant,
  type Segment,
  type Span,
  segments,
  TYPE_COLOURS,
} from "./layout.js";

/** A finding drawn on a bar: its span in the bar's units and what it says. */
export interface Mark {
  start: number;
  length: number;
  text: string;
}

/** What to draw. */
export interface BarView {
  title: string;
  bar: Bar;
  /** "sector" or "byte": what one unit of the bar is. */
  unit: string;
  /** Show gaps and overlaps (the file view). */
  coverage: boolean;
  /** Rows of labelled spans above the bar. */
  rows: Array<{ name: string; spans: Span[] }>;
  marks: Mark[];
}

const HEIGHT = 24;
const MARK = 5;

/** The CSS colour of a type name (an unknown code gets the "other" colour). */
export function colourOf(name: string): string {
  return `var(${TYPE_COLOURS[name] ?? "--c-other"})`;
}

function chunkText(c: ChunkInfo): string {
  return (
    `chunk ${c.index} (table ${c.table}, entry ${c.tableChunk}): ${c.typeName}, ` +
    `sectors ${c.sector}..${c.sector + c.sectorCount - 1} (${c.sectorCount}), ` +
    `at file offset ${c.offset}, ${c.length} bytes`
  );
}

/** The figure of `view`. */
export function renderBar(view: BarView): HTMLElement {
  const { bar } = view;
  const segs = segments(bar, view.coverage);
  const svg = s("svg", {
    viewBox: `0 0 ${bar.buckets} ${HEIGHT}`,
    preserveAspectRatio: "none",
    class: "bar-svg",
    tabindex: 0,
    role: "img",
    "aria-label": `${view.title}: ${segs.length} segments; arrow keys move along it`,
  });
  for (const seg of segs) svg.append(segmentRect(bar, seg, view.coverage));
  const markBuckets = new Map<number, string[]>();
  for (const m of view.marks) {
    const b0 = bucketOf(bar, m.start);
    const b1 = bucketOf(bar, m.start + Math.max(1, m.length) - 1);
    for (let b = b0; b <= b1; b++) markBuckets.set(b, [...(markBuckets.get(b) ?? []), m.text]);
  }
  for (const b of markBuckets.keys()) {
    svg.append(s("rect", { class: "mark", x: b, y: 0, width: 1, height: MARK }));
  }
  const cursor = s("rect", { class: "cursor", x: 0, y: 0, width: 1, height: HEIGHT });
  cursor.setAttribute("visibility", "hidden");
  svg.append(cursor);
  const detail = h(
    "p",
    { class: "detail", "aria-live": "polite" },
    "Point at the bar or focus it.",
  );
  let at = 0;
  const show = (b: number) => {
    at = Math.max(0, Math.min(bar.buckets - 1, b));
    cursor.setAttribute("x", String(at));
    cursor.setAttribute("visibility", "visible");
    detail.textContent = bucketText(view, at, markBuckets.get(at));
  };
  svg.addEventListener("pointermove", (e) => {
    const r = svg.getBoundingClientRect();
    if (r.width > 0) show(Math.floor(((e.clientX - r.left) / r.width) * bar.buckets));
  });
  svg.addEventListener("focus", () => show(at));
  svg.addEventListener("keydown", (e) => {
    const page = Math.max(1, Math.round(bar.buckets / 10));
    const moves: Record<string, number> = {
      ArrowLeft: at - 1,
      ArrowRight: at + 1,
      PageUp: at - page,
      PageDown: at + page,
      Home: 0,
      End: bar.buckets - 1,
    };
    if (!(e.key in moves)) return;
    e.preventDefault();
    show(moves[e.key]);
  });
  const labels = view.rows
    .filter((r) => r.spans.length > 0)
    .map((r) =>
      h(
        "div",
        { class: "span-row", "aria-label": r.name },
        ...r.spans.map((sp) => {
          const left = (sp.start / bar.total) * 100;
          const width = (sp.length / bar.total) * 100;
          // Too narrow for its words: the label stays in the title and the tables below.
          const narrow = width < 4;
          return h(
            "span",
            {
              class: narrow ? "span narrow" : "span",
              "aria-label": sp.label,
              style: `left:${clampPct(left)}%;width:${clampPct(Math.min(width, 100 - left))}%`,
              title: `${r.name}: ${sp.label}`,
            },
            narrow ? "" : sp.label,
          );
        }),
      ),
    );
  return h(
    "figure",
    {
      class: "bar",
      "data-segments": segs.length,
      "data-marks": markBuckets.size,
      "data-buckets": bar.buckets,
    },
    h("figcaption", {}, view.title),
    ...labels,
    svg,
    detail,
  );
}

function clampPct(p: number): string {
  return Math.max(0, Math.min(100, p)).toFixed(3);
}

function segmentRect(bar: Bar, seg: Segment, coverage: boolean): SVGElement {
  const name = seg.type >= 0 ? bar.types[seg.type] : "gap";
  const cls = seg.overlap ? "seg overlap" : seg.type < 0 ? "seg gap" : "seg";
  const rect = s("rect", {
    class: cls,
    x: seg.from,
    y: MARK,
    width: seg.to - seg.from,
    height: HEIGHT - MARK,
    "data-type": coverage && seg.overlap ? "overlap" : name,
  });
  if (seg.type >= 0 && !seg.overlap) rect.setAttribute("style", `fill:${colourOf(name)}`);
  return rect;
}

function bucketText(view: BarView, b: number, marks: string[] | undefined): string {
  const { bar } = view;
  const lo = Math.floor((b * bar.total) / bar.buckets);
  const hi = Math.max(lo, Math.floor(((b + 1) * bar.total) / bar.buckets) - 1);
  const parts = [`${view.unit}s ${lo}..${hi}:`];
  const t = dominant(bar, b);
  const chunk = bar.first[b];
  const n = bar.count[b];
  if (t < 0) parts.push("nothing stored here.");
  else if (chunk)
    parts.push(n > 1 ? `${n} chunks; the first is ${chunkText(chunk)}.` : `${chunkText(chunk)}.`);
  else parts.push(`${bar.types[t]}.`);
  if (view.coverage) {
    const c = covered(bar, b);
    const w = bucketWidth(bar, b);
    if (c > w + 1e-6) parts.push("Overlap: some bytes here belong to more than one chunk.");
    else if (c < w - 1e-6) parts.push(`Gap: ${Math.round(w - c)} bytes here belong to nothing.`);
  }
  if (marks) parts.push(`Findings: ${marks.join("; ")}`);
  return parts.join(" ");
}

/** A legend: one swatch per name, with a count. */
export function legend(entries: Array<[string, number]>, what: string): HTMLElement {
  return h(
    "ul",
    { class: "legend", "aria-label": `Legend: ${what}` },
    ...entries.map(([name, n]) =>
      h(
        "li",
        { "data-type": name },
        h("span", {
          class: "swatch",
          style: `background:${colourOf(name)}`,
          "aria-hidden": "true",
        }),
        `${name} (${n})`,
      ),
    ),
  );
}
