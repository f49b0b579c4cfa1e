/**
 * Makes the jazzer.js native fuzzer load on Linux machines whose glibc is older than 2.38.
 *
 * The prebuilt `.node` library of @jazzer.js/fuzzer is linked against glibc 2.38 and
 * libstdc++ 13 and asks the dynamic loader for the version nodes GLIBC_2.38 and
 * GLIBCXX_3.4.32, which older systems lack, so loading it fails. Only three symbols come
 * from those versions. This script, idempotently and only where glibc is older than 2.38:
 *
 * 1. marks those two version needs weak (VER_FLG_WEAK in the Vernaux entries of the ELF
 *    `.gnu.version_r` section), so that the loader accepts their absence;
 * 2. compiles fuzz/glibc-shim.cpp, which defines the three symbols, into fuzz/.build/;
 *
 * and tells the caller to preload the shim (LD_PRELOAD). Run it on its own with
 * `node fuzz/setup-jazzer.mjs`; the fuzz scripts call {@link jazzerEnv} before each run.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const FUZZ = dirname(fileURLToPath(import.meta.url));
const ROOT = join(FUZZ, "..");
const JAZZER = join(ROOT, "node_modules", "@jazzer.js");
const SHIM_SOURCE = join(FUZZ, "glibc-shim.cpp");
const BUILD = join(FUZZ, ".build");
export const SHIM = join(BUILD, "libjazzer-glibc-shim.so");

/** The version needs the shim stands in for. */
const WEAKEN = new Set(["GLIBC_2.38", "GLIBCXX_3.4.32"]);
const SHT_GNU_VERNEED = 0x6ffffffe;
const VER_FLG_WEAK = 2;

/** The glibc version as [major, minor], or undefined when the C library is not glibc. */
export function glibcVersion() {
  try {
    const out = execFileSync("ldd", ["--version"], { encoding: "utf8", stdio: "pipe" });
    const m = /(\d+)\.(\d+)\s*$/m.exec(out.split("\n")[0]);
    if (m && /glibc|gnu libc/i.test(out)) return [Number(m[1]), Number(m[2])];
  } catch {
    // No ldd (or a musl one that exits non-zero): fall back to what Node reports.
  }
  const v = process.report?.getReport().header.glibcVersionRuntime;
  if (typeof v !== "string") return undefined;
  const [major, minor] = v.split(".").map(Number);
  return [major, minor];
}

/** True when this machine needs the weak version needs and the shim. */
export function needsShim() {
  if (process.platform !== "linux") return false;
  const v = glibcVersion();
  return v !== undefined && (v[0] < 2 || (v[0] === 2 && v[1] < 38));
}

/** Every prebuilt Linux `.node` file of the installed jazzer.js packages. */
export function prebuilts(dir = JAZZER) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...prebuilts(path));
    else if (entry.name.endsWith(".node") && entry.name.includes("linux")) out.push(path);
  }
  return out;
}

function cString(buf, at) {
  let end = at;
  while (end < buf.length && buf[end] !== 0) end++;
  return buf.toString("latin1", at, end);
}

/**
 * Set VER_FLG_WEAK on the Vernaux entries named in {@link WEAKEN} of a 64-bit little-endian
 * ELF file. Returns the names newly marked (empty when the file already had them weak or
 * needs neither version, or is not a 64-bit little-endian ELF file).
 */
export function weakenVersionNeeds(file) {
  const buf = readFileSync(file);
  // e_ident: magic, EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian.
  if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) return [];
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const section = (i) => {
    const at = shoff + i * shentsize;
    return {
      type: buf.readUInt32LE(at + 4),
      offset: Number(buf.readBigUInt64LE(at + 24)),
      size: Number(buf.readBigUInt64LE(at + 32)),
      link: buf.readUInt32LE(at + 40),
      info: buf.readUInt32LE(at + 44),
    };
  };
  const changed = [];
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_GNU_VERNEED) continue;
    const strtab = section(s.link).offset;
    // Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32.
    // Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32.
    let need = s.offset;
    for (let n = 0; n < s.info; n++) {
      const cnt = buf.readUInt16LE(need + 2);
      let aux = need + buf.readUInt32LE(need + 8);
      for (let a = 0; a < cnt; a++) {
        const name = cString(buf, strtab + buf.readUInt32LE(aux + 8));
        const flags = buf.readUInt16LE(aux + 4);
        if (WEAKEN.has(name) && (flags & VER_FLG_WEAK) === 0) {
          buf.writeUInt16LE(flags | VER_FLG_WEAK, aux + 4);
          changed.push(name);
        }
        aux += buf.readUInt32LE(aux + 12);
      }
      need += buf.readUInt32LE(need + 12);
    }
  }
  if (changed.length > 0) writeFileSync(file, buf);
  return changed;
}

/** Compile the shim unless an up-to-date one exists. Returns its path. */
export function buildShim() {
  if (existsSync(SHIM) && statSync(SHIM).mtimeMs >= statSync(SHIM_SOURCE).mtimeMs) return SHIM;
  mkdirSync(BUILD, { recursive: true });
  execFileSync("g++", ["-shared", "-fPIC", "-O2", "-o", SHIM, SHIM_SOURCE], { stdio: "inherit" });
  return SHIM;
}

/**
 * Prepare jazzer.js for this machine and return the environment variables a jazzer process
 * needs (LD_PRELOAD of the shim where glibc is older than 2.38; none elsewhere).
 */
export function jazzerEnv(log = () => {}) {
  if (!needsShim()) return {};
  for (const file of prebuilts()) {
    const changed = weakenVersionNeeds(file);
    if (changed.length > 0) log(`marked ${changed.join(", ")} weak in ${file}`);
  }
  const shim = buildShim();
  const preload = process.env.LD_PRELOAD;
  return { LD_PRELOAD: preload ? `${shim}:${preload}` : shim };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const env = jazzerEnv((m) => console.log(m));
  console.log(
    env.LD_PRELOAD
      ? `jazzer.js needs LD_PRELOAD=${env.LD_PRELOAD} on this machine (the fuzz scripts set it)`
      : "jazzer.js runs as installed on this machine",
  );
}
