/**
 * The GitHub Action (action.yml), run the way the runner runs a composite action, locally: its
 * inputs (with their defaults), each `run` step in order with its `env`, `${{ }}` expressions
 * and `if` conditions evaluated, step outputs through GITHUB_OUTPUT. Steps that `use` another
 * action (setup-node, the SARIF upload) are not run here: the test records whether they would.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const REAL = join(ROOT, "corpus", "real");
const tmp = mkdtempSync(join(tmpdir(), "dmg-action-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Step {
  name?: string;
  id?: string;
  if?: string;
  uses?: string;
  run?: string;
  env: Record<string, string>;
}

interface Action {
  inputs: Record<string, { default?: string }>;
  steps: Step[];
}

/** The value of a `key: value` line, unquoted. */
function scalar(s: string): string {
  const v = s.trim();
  return /^".*"$/.test(v) ? JSON.parse(v) : v;
}

/** action.yml read as the small subset of YAML it is written in (maps, a list, `|` blocks). */
function readAction(text: string): Action {
  const lines = text.split("\n");
  const action: Action = { inputs: {}, steps: [] };
  let section = "";
  let input = "";
  let step: Step | undefined;
  let inEnv = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\S/.test(line)) {
      section = line.replace(/:.*/, "");
      continue;
    }
    if (section === "inputs") {
      const name = /^ {2}([\w-]+):$/.exec(line);
      if (name) {
        input = name[1];
        action.inputs[input] = {};
      }
      const def = /^ {4}default:(.*)$/.exec(line);
      if (def) action.inputs[input].default = scalar(def[1]);
    }
    if (section !== "runs") continue;
    const item = /^ {4}- (\w+):(.*)$/.exec(line);
    const field = /^ {6}(\w+):(.*)$/.exec(line);
    if (item) {
      step = { env: {} };
      action.steps.push(step);
    }
    const [key, value] = item ? [item[1], item[2]] : field ? [field[1], field[2]] : ["", ""];
    if (key && step) {
      inEnv = key === "env";
      if (key === "run" && value.trim() === "|") {
        const body: string[] = [];
        while (i + 1 < lines.length && (/^ {8}/.test(lines[i + 1]) || lines[i + 1] === "")) {
          body.push(lines[++i].slice(8));
        }
        step.run = body.join("\n");
      } else if (key !== "env" && key !== "with") {
        (step as unknown as Record<string, string>)[key] = scalar(value);
      }
      continue;
    }
    const env = /^ {8}(\w+):(.*)$/.exec(line);
    if (inEnv && env && step) step.env[env[1]] = scalar(env[2]);
  }
  return action;
}

/** What an expression inside `${{ }}` stands for. */
function evaluate(expr: string, ctx: Record<string, string>): string {
  const e = expr.trim();
  const or = e.split("&&");
  if (or.length > 1) {
    return String(or.every((p) => truthy(evaluate(p, ctx))));
  }
  const cmp = /^(.+?)\s*(==|!=)\s*(.+)$/.exec(e);
  if (cmp) {
    const [a, b] = [evaluate(cmp[1], ctx), evaluate(cmp[3], ctx)];
    return String(cmp[2] === "==" ? a === b : a !== b);
  }
  if (e === "always()") return "true";
  if (/^'.*'$/.test(e)) return e.slice(1, -1);
  return ctx[e] ?? "";
}

function truthy(v: string): boolean {
  return v !== "" && v !== "false" && v !== "0";
}

function substitute(s: string, ctx: Record<string, string>): string {
  return s.replace(/\$\{\{(.*?)\}\}/g, (_, e: string) => evaluate(e, ctx));
}

/** Run the action's steps with `inputs`; what each step did, and the outputs. */
function runAction(inputs: Record<string, string>) {
  const action = readAction(readFileSync(join(ROOT, "action.yml"), "utf8"));
  const ctx: Record<string, string> = {};
  for (const [k, v] of Object.entries(action.inputs)) ctx[`inputs.${k}`] = v.default ?? "";
  for (const [k, v] of Object.entries(inputs)) ctx[`inputs.${k}`] = v;
  const summary = join(tmp, `summary-${Object.keys(ctx).length}.md`);
  writeFileSync(summary, "");
  const log: Array<{ name: string; ran: boolean; status?: number; out?: string }> = [];
  for (const step of action.steps) {
    const name = step.name ?? "";
    if (step.if !== undefined && !truthy(evaluate(step.if.replace(/^\$\{\{|\}\}$/g, ""), ctx))) {
      log.push({ name, ran: false });
      continue;
    }
    if (step.uses) {
      log.push({ name, ran: true, out: `uses ${step.uses}` });
      continue;
    }
    const output = join(tmp, `output-${log.length}`);
    writeFileSync(output, "");
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(step.env)) env[k] = substitute(v, ctx);
    const r = spawnSync("bash", ["-c", substitute(step.run ?? "", ctx)], {
      cwd: tmp,
      env: {
        ...process.env,
        ...env,
        GITHUB_ACTIONS: "true",
        GITHUB_ACTION_PATH: ROOT,
        GITHUB_OUTPUT: output,
        GITHUB_STEP_SUMMARY: summary,
      },
    });
    for (const line of readFileSync(output, "utf8").split("\n")) {
      const m = /^([\w-]+)=(.*)$/.exec(line);
      if (m && step.id) ctx[`steps.${step.id}.outputs.${m[1]}`] = m[2];
    }
    log.push({ name, ran: true, status: r.status ?? -1, out: r.stdout.toString() });
    if (r.status !== 0) break;
  }
  return { log, ctx, summary: readFileSync(summary, "utf8") };
}

describe("the GitHub Action", () => {
  it("annotates an invalid image, writes its SARIF log and fails the job", () => {
    const bad = join(tmp, "bad.dmg");
    const bytes = new Uint8Array(
      readFileSync(join(REAL, "jhermsmeier_node-udif_zlib-compressed.dmg")),
    );
    bytes[100] ^= 0xff;
    writeFileSync(bad, bytes);
    copyFileSync(join(REAL, "jhermsmeier_node-udif_compression-raw.dmg"), join(tmp, "good.dmg"));
    const { log, ctx, summary } = runAction({
      files: "good.dmg\n  bad.dmg  \n",
      args: "--threads 1",
    });
    const check = log.find((s) => s.name === "Check the images");
    expect(check?.status).toBe(0);
    expect(check?.out).toMatch(/^::error file=bad\.dmg,title=CRC_DATA_FORK::/m);
    expect(check?.out).toMatch(/^OK {2}good\.dmg/m);
    expect(ctx["steps.check.outputs.exit-code"]).toBe("1");
    const sarif = JSON.parse(readFileSync(join(tmp, "dmg-validate.sarif"), "utf8"));
    expect(sarif.version).toBe("2.1.0");
    expect(
      sarif.runs[0].artifacts.map((a: { location: { uri: string } }) => a.location.uri),
    ).toEqual(["good.dmg", "bad.dmg"]);
    expect(log.find((s) => s.name === "Upload the SARIF log")?.ran).toBe(false);
    // The runner's own Node.js is supported: the caller's Node.js version is left alone.
    expect(log.find((s) => s.name === "Set up Node.js")?.ran).toBe(false);
    const fail = log.find((s) => s.name === "Fail on invalid images");
    expect(fail?.ran).toBe(true);
    expect(fail?.status).toBe(1);
    expect(summary).toContain("| bad.dmg | invalid |");
  }, 60_000);

  it("passes valid images, and would upload the log when asked", () => {
    copyFileSync(join(REAL, "jhermsmeier_node-udif_compression-bz2.dmg"), join(tmp, "ok.dmg"));
    const { log, ctx } = runAction({ files: "ok.dmg", "upload-sarif": "true" });
    expect(ctx["steps.check.outputs.exit-code"]).toBe("0");
    expect(log.find((s) => s.name === "Upload the SARIF log")?.ran).toBe(true);
    expect(log.find((s) => s.name === "Fail on invalid images")?.ran).toBe(false);
  }, 60_000);
});
