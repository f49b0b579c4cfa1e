/**
 * The page: pick, drop or name an image; validate it in a Web Worker through the library
 * (nothing is uploaded: a File is read by range, a URL with range requests from this page);
 * show the verdict, the findings, the picture of the disk and the file, and the report
 * downloads. Every string from a file reaches the page as text, never as markup.
 */
import {
  BUDGET_KEYS,
  type Budget,
  DEFAULT_BUDGET,
  type Finding,
  humanBytes,
  outcomeJson,
  sarifLog,
  type ValidationReport,
  validateInWorker,
} from "./core.js";
import { byId, h, table } from "./dom.js";
import type { Layout } from "./layout.js";
import type { LayoutReply, LayoutRequest } from "./layout-worker.js";
import { legend, type Mark, renderBar } from "./picture.js";

declare const DMG_VALIDATE_VERSION: string;

/** What is being checked: a File (a Blob) or an http(s) URL. */
type Input = { name: string; source: Blob } | { name: string; url: URL };

/** The verdict as the page words it. */
export type PageVerdict = "valid" | "invalid" | "over budget" | "encrypted";

const status = byId<HTMLElement>("status");
const progress = byId<HTMLProgressElement>("progress");
const cancel = byId<HTMLButtonElement>("cancel");
const result = byId<HTMLElement>("result");
const budgetBox = byId<HTMLElement>("budgets");

let running: { abort: AbortController; layout: Worker } | undefined;

buildBudgetForm();
wireInputs();

function buildBudgetForm(): void {
  // The CLI's budget table drives these fields: same keys, same defaults, same words.
  for (const spec of BUDGET_KEYS) {
    const id = `budget-${spec.key}`;
    const def = DEFAULT_BUDGET[spec.key];
    budgetBox.append(
      h(
        "div",
        { class: "field" },
        h("label", { for: id }, `${spec.key} (${spec.what}; CLI ${spec.flag})`),
        h("input", {
          id,
          name: spec.key,
          type: "number",
          min: 0,
          step: 1,
          inputmode: "numeric",
          placeholder: String(def),
          "aria-describedby": `${id}-default`,
        }),
        h(
          "small",
          { id: `${id}-default` },
          `default ${spec.bytes ? humanBytes(def) : def.toLocaleString("en")}`,
        ),
      ),
    );
  }
}

/** The budget overrides typed into the form; an empty field keeps the default. */
function budgetOverrides(): Partial<Budget> {
  const out: Partial<Budget> = {};
  for (const spec of BUDGET_KEYS) {
    const input = byId<HTMLInputElement>(`budget-${spec.key}`);
    const v = input.value.trim();
    if (v === "") continue;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${spec.key} must be a whole number`);
    out[spec.key] = n;
  }
  return out;
}

function wireInputs(): void {
  const file = byId<HTMLInputElement>("file");
  file.addEventListener("change", () => {
    const f = file.files?.[0];
    if (f) start({ name: f.name, source: f });
  });
  const drop = byId<HTMLElement>("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer?.files?.[0];
    if (f) start({ name: f.name, source: f });
  });
  byId<HTMLFormElement>("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = byId<HTMLInputElement>("url").value.trim();
    let url: URL;
    try {
      url = new URL(text, location.href);
    } catch {
      say("That is not a URL.");
      return;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      say("Only http and https URLs can be read.");
      return;
    }
    start({ name: url.pathname.split("/").pop() || url.host, url });
  });
  cancel.addEventListener("click", () => running?.abort.abort());
}

function say(text: string): void {
  byId<HTMLElement>("status-text").textContent = text;
}

function start(input: Input): void {
  running?.abort.abort();
  running?.layout.terminate();
  let budget: Partial<Budget>;
  try {
    budget = budgetOverrides();
  } catch (e) {
    say((e as Error).message);
    return;
  }
  const password = byId<HTMLInputElement>("password").value || undefined;
  const quick = byId<HTMLInputElement>("quick").checked;
  const timeoutS = Number(byId<HTMLInputElement>("timeout").value) || 600;
  const abort = new AbortController();
  const layoutWorker = new Worker(new URL("./layout.js", import.meta.url), { type: "module" });
  running = { abort, layout: layoutWorker };
  result.hidden = true;
  result.replaceChildren();
  status.dataset.state = "running";
  cancel.disabled = false;
  progress.value = 0;
  progress.removeAttribute("value");
  say(`Checking ${input.name}…`);
  const layout = askLayout(layoutWorker, {
    open: {
      source: "url" in input ? { url: input.url.href } : input.source,
      budget,
      password,
    },
  });
  const began = performance.now();
  const report = validateInWorker("url" in input ? input.url : input.source, {
    workerUrl: new URL("./worker.js", import.meta.url),
    signal: abort.signal,
    budget,
    quick,
    password,
    timeoutMs: Math.max(1, Math.round(timeoutS * 1000)),
    onProgress: (done, total) => {
      const secs = (performance.now() - began) / 1000;
      progress.max = total || 1;
      progress.value = done;
      const rate = secs > 0 ? `${humanBytes(Math.round(done / secs))}/s` : "";
      say(`Decoding ${input.name}: ${humanBytes(done)} of ${humanBytes(total)}, ${rate}`);
    },
  });
  abort.signal.addEventListener("abort", () => layoutWorker.terminate());
  report.then(
    async (r) => {
      const secs = (performance.now() - began) / 1000;
      const l = await layout;
      if (abort.signal.aborted) return;
      await show(input, r, l, layoutWorker, secs);
      layoutWorker.terminate();
    },
    (e) => {
      layoutWorker.terminate();
      cancel.disabled = true;
      status.dataset.state = e?.code === "ABORTED" ? "cancelled" : "failed";
      say(e?.code === "ABORTED" ? "Cancelled." : `Failed: ${e?.message ?? e}`);
    },
  );
}

/** One question to the layout worker, one answer. */
function askLayout(worker: Worker, request: LayoutRequest): Promise<LayoutReply> {
  return new Promise((resolve) => {
    worker.onmessage = (e: MessageEvent<LayoutReply>) => resolve(e.data);
    worker.onerror = (e) => resolve({ failed: { code: "INTERNAL_ERROR", message: e.message } });
    worker.postMessage(request);
  });
}

/** The page's verdict of `r`. */
export function pageVerdict(r: ValidationReport): PageVerdict {
  // Locked, or its key wrapped with a cipher this browser lacks (3DES: no WebCrypto for it).
  if (r.errors.some((f) => f.code === "ENCRYPTED" || f.code === "CIPHER_UNAVAILABLE")) {
    return "encrypted";
  }
  return r.ok ? "valid" : r.overBudget ? "over budget" : "invalid";
}

const VERDICT_WORDS: Record<PageVerdict, string> = {
  valid: "Valid",
  invalid: "Invalid",
  "over budget": "Over budget",
  encrypted: "Encrypted",
};

async function show(
  input: Input,
  r: ValidationReport,
  layoutReply: LayoutReply,
  worker: Worker,
  secs: number,
): Promise<void> {
  cancel.disabled = true;
  status.dataset.state = "done";
  progress.max = 1;
  progress.value = 1;
  const v = pageVerdict(r);
  say(`Checked ${input.name} in ${secs.toFixed(2)} s.`);
  const findings = [...r.errors, ...r.warnings];
  result.append(
    h(
      "h2",
      { id: "verdict", class: `verdict ${v.replace(" ", "-")}`, "data-verdict": v },
      `${VERDICT_WORDS[v]}: ${input.name}`,
    ),
    h(
      "p",
      {},
      r.mode === "quick"
        ? "Structure only (quick)."
        : r.summary
          ? checksumsText(r)
          : "The image could not be opened.",
      ` ${r.errors.length} error(s), ${r.warnings.length} warning(s).`,
    ),
  );
  const hint = "url" in input ? urlHint(r) : undefined;
  if (hint) result.append(h("p", { class: "hint", id: "hint" }, hint));
  if (v === "encrypted" && r.errors.some((f) => f.code === "ENCRYPTED")) {
    result.append(
      h("p", { class: "hint" }, "Type its password under Options to check the image inside."),
    );
  }
  if (findings.length > 0) {
    result.append(
      h(
        "ul",
        { id: "findings", class: "findings" },
        ...findings.map((f) =>
          h(
            "li",
            { class: f.severity, "data-code": f.code },
            h("strong", {}, `${f.severity} ${f.code}`),
            f.offset >= 0 ? ` at offset ${f.offset} (0x${f.offset.toString(16)})` : "",
            f.table !== undefined
              ? ` (table ${f.table}${f.chunk !== undefined ? `, chunk ${f.chunk}` : ""})`
              : "",
            `: ${f.message}`,
          ),
        ),
      ),
    );
  }
  result.append(downloads(input.name, r));
  if ("layout" in layoutReply) {
    const located =
      findings.length > 0 ? await askLayout(worker, { locate: findings }) : { located: [] };
    const where = "located" in located ? located.located : [];
    result.append(...layoutViews(layoutReply.layout, findings, where));
  } else if ("failed" in layoutReply && v !== "encrypted") {
    result.append(
      h(
        "p",
        { class: "hint" },
        `No picture: ${layoutReply.failed.code}: ${layoutReply.failed.message}`,
      ),
    );
  }
  if (r.summary) {
    const rows = Object.entries(r.summary.histogram).sort((a, b) => b[1] - a[1]);
    result.append(
      table(
        "Chunk types",
        ["type", "chunks"],
        rows.map(([k, n]) => [k, String(n)]),
      ),
    );
  }
  result.hidden = false;
  byId<HTMLElement>("verdict").setAttribute("tabindex", "-1");
  byId<HTMLElement>("verdict").focus();
}

function checksumsText(r: ValidationReport): string {
  const c = r.checksums;
  const tables = c.tables.length === 0 ? "none" : [...new Set(c.tables)].join("/");
  return `Checksums: data fork ${c.dataFork}, tables ${tables}, master ${c.master}.`;
}

/** Why a URL could not be read, in words. */
function urlHint(r: ValidationReport): string | undefined {
  const e = r.errors[0];
  if (!e) return undefined;
  if (e.code === "IO_ERROR" && /request failed|opening the HTTP source/.test(e.message)) {
    return (
      "The server did not allow this page to read it (CORS), or could not be reached. " +
      "A server must answer this page's origin with Access-Control-Allow-Origin and expose " +
      "Content-Range and Content-Length for range requests."
    );
  }
  if (e.code === "HTTP_NO_RANGES" || e.code === "HTTP_BAD_RESPONSE") {
    return (
      "The server did not answer range requests as this page needs (or hid their headers " +
      "from it: CORS must expose Content-Range)."
    );
  }
  return undefined;
}

function downloads(name: string, r: ValidationReport): HTMLElement {
  const json = `${JSON.stringify(outcomeJson(name, { report: r }), null, 2)}\n`;
  const sarif = `${JSON.stringify(
    sarifLog([[name, { report: r }]], { version: DMG_VALIDATE_VERSION }),
    null,
    2,
  )}\n`;
  const link = (text: string, body: string, file: string, type: string, id: string) =>
    h(
      "a",
      {
        id,
        class: "button",
        download: file,
        href: URL.createObjectURL(new Blob([body], { type })),
      },
      text,
    );
  return h(
    "p",
    { class: "downloads" },
    link("Download JSON report", json, `${name}.report.json`, "application/json", "dl-json"),
    " ",
    link("Download SARIF", sarif, `${name}.sarif`, "application/sarif+json", "dl-sarif"),
  );
}

function layoutViews(
  l: Layout,
  findings: Finding[],
  where: Array<{ sector: number; sectors: number } | null>,
): HTMLElement[] {
  const text = (f: Finding) => `${f.severity} ${f.code}: ${f.message}`;
  const diskMarks: Mark[] = [];
  const fileMarks: Mark[] = [];
  findings.forEach((f, i) => {
    const w = where[i];
    if (w) diskMarks.push({ start: w.sector, length: w.sectors, text: text(f) });
    if (f.offset >= 0 && f.offset < l.file.total) {
      fileMarks.push({ start: f.offset, length: 1, text: text(f) });
    }
  });
  const diskTypes: Array<[string, number]> = l.disk.types.map((t) => [t, l.histogram[t] ?? 0]);
  const out: HTMLElement[] = [
    h("h3", {}, "The virtual disk"),
    h(
      "p",
      {},
      `${l.chunkCount.toLocaleString("en")} chunks over ${l.disk.total.toLocaleString("en")} sectors; ` +
        `partition map: ${l.scheme}; container: ${l.container}. Marks above the bar are findings.`,
    ),
    legend(diskTypes, "chunk types, with chunk counts"),
    renderBar({
      title: "Virtual disk by sector, coloured by chunk type",
      bar: l.disk,
      unit: "sector",
      coverage: false,
      rows: [
        { name: "UDIF partition tables", spans: l.tables },
        { name: "Partition map", spans: l.partitions },
      ],
      marks: diskMarks,
    }),
    h("h3", {}, "The file"),
    h(
      "p",
      {},
      "Where each chunk's stored bytes sit in the image file. Hatched: bytes that belong to " +
        "nothing (a gap). Striped red: bytes claimed by more than one chunk (an overlap).",
    ),
    renderBar({
      title: "Image file by byte offset",
      bar: l.file,
      unit: "byte",
      coverage: true,
      rows: [],
      marks: fileMarks,
    }),
    table("Trailer (koly)", ["field", "value"], l.trailer),
  ];
  if (l.tableRows.length > 0) {
    const head = Object.keys(l.tableRows[0]);
    out.push(
      table(
        "Partition tables (blkx)",
        head,
        l.tableRows.map((r) => head.map((k) => r[k])),
      ),
    );
  }
  return out;
}
