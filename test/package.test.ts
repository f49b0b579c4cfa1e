/**
 * The package as users get it. The built tree (dist must exist: nothing is rebuilt here) is
 * packed with `npm pack --ignore-scripts`, the tarball is installed into a fresh project, and
 * both entries are used from ESM, from CommonJS (`require` of an ES module, Node >= 20.19) and
 * from TypeScript under NodeNext and bundler resolution, each validating a real image; the bin
 * runs from the install. The tarball holds what runs and what is read at run time, and nothing
 * of the repository's tests, sources or corpus.
 *
 * The fresh project gets a lockfile made from ours (dmg-validate's own dependencies, at the
 * versions and integrity we lock), so `npm ci --prefer-offline` installs them from the npm
 * cache that our own `npm ci` or `npm install` filled, without asking the registry.
 */
import { type SpawnSyncReturns, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const SAMPLE = join(ROOT, "corpus", "real", "jhermsmeier_node-udif_zlib-compressed.dmg");
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";
const tmp = mkdtempSync(join(tmpdir(), "dmg-package-"));
const APP = join(tmp, "app");
const INSTALLED = join(APP, "node_modules", "dmg-validate");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface PackageJson {
  name: string;
  version: string;
  license?: string;
  main?: string;
  types?: string;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  exports?: unknown;
  imports?: unknown;
  sideEffects?: boolean | string[];
  dependencies?: Record<string, string>;
}

const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;

/** Runs a command; the test fails with its output when it exits non-zero. */
function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync(command, args, {
    cwd,
    encoding: "utf8",
    shell: process.platform === "win32",
    env: { ...process.env, NO_COLOR: "1", npm_config_audit: "false", npm_config_fund: "false" },
  });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(
      `${command} ${args.join(" ")} exited ${r.status}\n${r.stdout ?? ""}\n${r.stderr ?? ""}`,
    );
  }
  return r;
}

/** The fresh project: a package.json and a lockfile that name the tarball and our locked deps. */
function writeApp(tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dependencies?: Record<string, string> }>;
  };
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    "": { name: "consumer", dependencies: { "dmg-validate": spec } },
    "node_modules/dmg-validate": {
      version: PKG.version,
      resolved: spec,
      license: PKG.license,
      dependencies: PKG.dependencies,
      bin: PKG.bin,
      engines: PKG.engines,
    },
  };
  const todo = Object.keys(PKG.dependencies ?? {});
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    const key = `node_modules/${name}`;
    if (key in packages) continue;
    const entry = lock.packages[key];
    if (!entry) throw new Error(`${name} is not hoisted in package-lock.json`);
    packages[key] = entry;
    todo.push(...Object.keys(entry.dependencies ?? {}));
  }
  const app = {
    name: "consumer",
    private: true,
    type: "module",
    dependencies: { "dmg-validate": spec },
  };
  writeFileSync(join(APP, "package.json"), `${JSON.stringify(app, null, 2)}\n`);
  const appLock = { name: "consumer", lockfileVersion: 3, requires: true, packages };
  writeFileSync(join(APP, "package-lock.json"), `${JSON.stringify(appLock, null, 2)}\n`);
}

/** What every consumer prints: the Node entry validated the sample, the core entry too. */
const EXPECTED = { ok: true, coreOk: true, nodeOnly: "function", coreHasNodeOnly: false };

const ESM = `import { readFileSync } from "node:fs";
import * as node from "dmg-validate";
import * as core from "dmg-validate/core";

const file = process.argv[2];
const report = await node.validateDmg(file);
const coreReport = await core.validateDmg(core.bytesSource(readFileSync(file)));
console.log(JSON.stringify({
  ok: report.ok,
  coreOk: coreReport.ok,
  nodeOnly: typeof node.fileSource,
  coreHasNodeOnly: "fileSource" in core,
}));
`;

const CJS = `const { readFileSync } = require("node:fs");
const node = require("dmg-validate");
const core = require("dmg-validate/core");

async function main() {
  const file = process.argv[2];
  const report = await node.validateDmg(file);
  const coreReport = await core.validateDmg(core.bytesSource(readFileSync(file)));
  console.log(JSON.stringify({
    ok: report.ok,
    coreOk: coreReport.ok,
    nodeOnly: typeof node.fileSource,
    coreHasNodeOnly: "fileSource" in core,
  }));
}
main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
`;

/** A typed consumer; the expected errors prove the types are ours, not \`any\`. */
const TS_BODY = `
export async function main(file: string): Promise<void> {
  const report: ValidationReport = await node.validateDmg(file);
  const coreReport: CoreReport = await core.validateDmg(core.bytesSource(readFileSync(file)));
  // @ts-expect-error: ok is a boolean
  const wrong: string = report.ok;
  // @ts-expect-error: the core entry takes no file paths
  core.fileSource;
  void wrong;
  console.log(JSON.stringify({
    ok: report.ok,
    coreOk: coreReport.ok,
    nodeOnly: typeof node.fileSource,
    coreHasNodeOnly: "fileSource" in core,
  }));
}
`;
const TS_IMPORTS = `import { readFileSync } from "node:fs";
import * as node from "dmg-validate";
import type { ValidationReport } from "dmg-validate";
import * as core from "dmg-validate/core";
import type { ValidationReport as CoreReport } from "dmg-validate/core";
`;
const TS_ESM = `${TS_IMPORTS}${TS_BODY}\nawait main(process.argv[2]);\n`;
const TS_CJS = `${TS_IMPORTS}${TS_BODY}\nmain(process.argv[2]).catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});\n`;

/** tsconfig of a consumer: strict, with our .d.ts files checked too. */
function tsconfig(module: string, moduleResolution: string, outDir: string, files: string[]) {
  return {
    compilerOptions: {
      strict: true,
      target: "ES2022",
      module,
      moduleResolution,
      // Our .d.ts files and @types/node are checked; TypeScript's own lib files need not be.
      skipLibCheck: false,
      skipDefaultLibCheck: true,
      outDir,
      // @types/node from this repository: the fresh project installs only dmg-validate.
      typeRoots: [join(ROOT, "node_modules", "@types")],
      types: ["node"],
    },
    files,
  };
}

let packedFiles: string[] = [];

beforeAll(() => {
  mkdirSync(APP);
  const pack = run(NPM, ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], ROOT);
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  packedFiles = packed.files.map((f) => f.path.replaceAll("\\", "/"));
  copyFileSync(join(tmp, packed.filename), join(APP, packed.filename));
  writeApp(packed.filename);
  run(NPM, ["ci", "--prefer-offline", "--no-audit", "--no-fund"], APP);
  writeFileSync(join(APP, "esm.mjs"), ESM);
  writeFileSync(join(APP, "cjs.cjs"), CJS);
  writeFileSync(join(APP, "consumer.ts"), TS_ESM);
  writeFileSync(join(APP, "consumer-cjs.cts"), TS_CJS);
  const configs = {
    "tsconfig.nodenext.json": tsconfig("NodeNext", "NodeNext", "out-nodenext", [
      "consumer.ts",
      "consumer-cjs.cts",
    ]),
    "tsconfig.bundler.json": tsconfig("preserve", "bundler", "out-bundler", ["consumer.ts"]),
  };
  for (const [name, config] of Object.entries(configs)) {
    writeFileSync(join(APP, name), `${JSON.stringify(config, null, 2)}\n`);
  }
}, 300_000);

describe("the packed tarball", () => {
  it("holds what runs and what is read at run time", () => {
    for (const f of [
      "package.json",
      "README.md",
      "LICENSE",
      "CHANGELOG.md",
      "SECURITY.md",
      "bin/dmg-validate.js",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/node/index.js",
      "dist/node/index.d.ts",
      "dist/worker/entry.js",
      "core/package.json",
      "worker/package.json",
      "schema/report.schema.json",
    ]) {
      expect(packedFiles, f).toContain(f);
    }
  });

  it("holds nothing of the tests, sources, corpus or fuzzing", () => {
    const stray = packedFiles.filter((f) =>
      /^(test|src|corpus|fuzz|bench|docs|node_modules|coverage)\//.test(f),
    );
    expect(stray).toEqual([]);
    expect(packedFiles.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
  });

  it("holds every file package.json and the stubs point at", () => {
    const targets = new Set<string>();
    const walk = (v: unknown): void => {
      if (typeof v === "string") {
        if (v.startsWith("./")) targets.add(v.slice(2));
      } else if (v && typeof v === "object") {
        for (const x of Object.values(v)) walk(x);
      }
    };
    walk(PKG.exports);
    walk(PKG.imports);
    walk(PKG.sideEffects);
    for (const f of [PKG.main, PKG.types, ...Object.values(PKG.bin ?? {})]) {
      if (f) targets.add(f.replace(/^\.\//, ""));
    }
    for (const stub of ["core", "worker"]) {
      const s = JSON.parse(readFileSync(join(ROOT, stub, "package.json"), "utf8")) as PackageJson;
      for (const f of [s.main, s.types]) {
        if (f) targets.add(join(stub, f).replaceAll("\\", "/"));
      }
    }
    expect(targets.size).toBeGreaterThan(10);
    expect([...targets].filter((t) => !packedFiles.includes(t))).toEqual([]);
  });

  it("ships source maps that carry their sources", () => {
    const maps = packedFiles.filter((f) => f.endsWith(".js.map"));
    expect(maps.length).toBeGreaterThan(50);
    for (const m of maps) {
      const map = JSON.parse(readFileSync(join(INSTALLED, m), "utf8")) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      expect(map.sourcesContent?.length, m).toBe(map.sources.length);
      for (const text of map.sourcesContent ?? []) expect(typeof text, m).toBe("string");
    }
  });
});

describe("installed from the tarball", () => {
  it("imports both entries from ESM", () => {
    const r = run(process.execPath, ["esm.mjs", SAMPLE], APP);
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
  });

  it("requires both entries from CommonJS", () => {
    const r = run(process.execPath, ["cjs.cjs", SAMPLE], APP);
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
  });

  it("type-checks in strict TypeScript under NodeNext, as ESM and CommonJS, and runs", () => {
    const tsc = run(process.execPath, [TSC, "-p", "tsconfig.nodenext.json"], APP);
    expect(tsc.stdout).toBe("");
    const esm = run(process.execPath, [join("out-nodenext", "consumer.js"), SAMPLE], APP);
    expect(JSON.parse(esm.stdout)).toEqual(EXPECTED);
    const cjs = run(process.execPath, [join("out-nodenext", "consumer-cjs.cjs"), SAMPLE], APP);
    expect(JSON.parse(cjs.stdout)).toEqual(EXPECTED);
  });

  it("type-checks in strict TypeScript under module preserve and bundler resolution", () => {
    const tsc = run(process.execPath, [TSC, "-p", "tsconfig.bundler.json"], APP);
    expect(tsc.stdout).toBe("");
    const r = run(process.execPath, [join("out-bundler", "consumer.js"), SAMPLE], APP);
    expect(JSON.parse(r.stdout)).toEqual(EXPECTED);
  });

  it("runs the bin", () => {
    const bin = join(APP, "node_modules", ".bin", "dmg-validate");
    const r = spawnSync(bin, ["check", SAMPLE], {
      encoding: "utf8",
      shell: process.platform === "win32",
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
