/**
 * Finding the koly trailer, and telling apart the files that have none: encrypted images,
 * ISO 9660 images named .dmg, and everything else.
 */

import { at, DmgError, type Finding, warning } from "../core/errors.js";
import { isKolyAt, KOLY_SIZE, type Koly, parseKoly } from "../format/koly.js";
import { type ByteSource, readExact } from "../sources/source.js";

/** QEMU also searches the last 515 bytes, for files whose size is not a multiple of 512. */
export const KOLY_TAIL_WINDOW = 515;

const ENCRCDSA = "encrcdsa";

/** Locate and parse the trailer, adding a warning for the unusual places it may sit. */
export async function locateKoly(src: ByteSource, warnings: Finding[]): Promise<Koly> {
  const size = src.size;
  const head = await readExact(src, 0, Math.min(size, KOLY_SIZE), "file header");
  // Attack class A1: too short to hold a trailer at all.
  if (size < KOLY_SIZE) {
    if (ascii(head, 0, 8) === ENCRCDSA) return encrypted();
    throw new DmgError(
      "NOT_UDIF",
      `file is ${size} bytes, too short for the 512-byte koly trailer of a UDIF image`,
      0,
    );
  }
  const tailLen = Math.min(size, KOLY_TAIL_WINDOW);
  const tail = await readExact(src, size - tailLen, tailLen, "koly trailer");
  const tailBase = size - tailLen;
  if (isKolyAt(tail, tailLen - KOLY_SIZE)) {
    return parseKoly(tail.subarray(tailLen - KOLY_SIZE), size - KOLY_SIZE);
  }
  // Attack class A1 and real files: a trailer a few bytes before the end.
  for (let p = tailLen - KOLY_SIZE - 1; p >= 0; p--) {
    if (isKolyAt(tail, p)) {
      warnings.push(
        warning(
          "KOLY_IN_TAIL",
          `koly trailer found at ${at(tailBase + p)}, ${size - tailBase - p - KOLY_SIZE} bytes before the end of the file`,
          tailBase + p,
        ),
      );
      return parseKoly(tail.subarray(p, p + KOLY_SIZE), tailBase + p);
    }
  }
  // Attack class A2: 7-Zip also accepts a trailer at offset 0.
  // Attack class F33: an encrypted image is not garbage; say what it is.
  // (Checked after the end: a raw chunk at offset 0 of an honest image may hold these bytes.)
  if (ascii(head, 0, 8) === ENCRCDSA) return encrypted();
  if (isKolyAt(head, 0)) {
    warnings.push(
      warning("KOLY_AT_START", "koly trailer found at offset 0 instead of the end of the file", 0),
    );
    return parseKoly(head.subarray(0, KOLY_SIZE), 0);
  }
  throw new DmgError(
    "NOT_UDIF",
    `not a UDIF image: no koly trailer at the end of the file${await hint(src)}`,
    size - KOLY_SIZE,
  );
}

function encrypted(): never {
  throw new DmgError(
    "ENCRYPTED",
    "image is encrypted (encrcdsa header); decrypt it first (hdiutil convert, or a tool that knows the password)",
    0,
  );
}

/** What the file looks like instead, for the NOT_UDIF message (attack class F34). */
async function hint(src: ByteSource): Promise<string> {
  if (src.size >= 0x8006) {
    const pvd = await readExact(src, 0x8001, 5, "ISO 9660 volume descriptor");
    if (ascii(pvd, 0, 5) === "CD001")
      return ' (it is an ISO 9660 image: "CD001" at 0x8001; open it as an ISO)';
  }
  const head = await readExact(src, 0, Math.min(src.size, 4), "file header");
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) {
    return " (it is a zip archive)";
  }
  return " (the file may be truncated, or not a disk image)";
}

function ascii(b: Uint8Array, start: number, n: number): string {
  if (b.length < start + n) return "";
  let s = "";
  for (let i = start; i < start + n; i++) s += String.fromCharCode(b[i]);
  return s;
}
