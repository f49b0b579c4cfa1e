/**
 * The password of an encrypted image, on the command line's terms: from a file
 * (`--password-file`), from the environment (`--password-env`), or typed at a prompt that does
 * not echo. Never from an argument, and never printed.
 */
import { open as openFile } from "node:fs/promises";
import { DmgError } from "../core/errors.js";
import { sanitize } from "../core/text.js";
import { UsageError } from "./args.js";
import type { Io } from "./io.js";
import { isUrl } from "./remote.js";

/** Bytes of a password file read, at most: a password is its first line. */
const MAX_PASSWORD_FILE = 64 * 1024;

/**
 * The password the command line gives, or undefined: read from `--password-file`, from
 * `--password-env`, or asked for when standard input is a terminal and an operand is an
 * encrypted image.
 */
export async function resolvePassword(
  a: { passwordFile?: string; passwordEnv?: string; operands: string[]; command: string },
  io: Io,
): Promise<string | undefined> {
  if (a.passwordFile !== undefined) return readPasswordFile(a.passwordFile);
  if (a.passwordEnv !== undefined) {
    const v = io.env[a.passwordEnv];
    if (v === undefined) {
      throw new UsageError(`--password-env: environment variable ${a.passwordEnv} is not set`);
    }
    return v;
  }
  if (a.command === "create") return undefined;
  const stdin = io.stdin as (NodeJS.ReadStream & { isTTY?: boolean }) | undefined;
  if (stdin !== process.stdin || !stdin.isTTY || typeof stdin.setRawMode !== "function") {
    return undefined;
  }
  const inputs = a.command === "check" ? a.operands : a.operands.slice(0, 1);
  for (const op of inputs) {
    if (await isEncryptedFile(op)) return prompt(io, op, stdin);
  }
  return undefined;
}

/** The first line of `path`, without its line ending. */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    const h = await openFile(path, "r");
    try {
      const buf = new Uint8Array(MAX_PASSWORD_FILE);
      const { bytesRead } = await h.read(buf, 0, buf.length, 0);
      text = new TextDecoder().decode(buf.subarray(0, bytesRead));
    } finally {
      await h.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code ?? "error";
    throw new DmgError("IO_ERROR", `cannot read the password file ${sanitize(path)} (${code})`);
  }
  const nl = text.indexOf("\n");
  const line = nl < 0 ? text : text.slice(0, nl);
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}

/**
 * True when the local file `op` is an encrypted image: "encrcdsa" at its start (version 2) or
 * "cdsaencr" at its end (version 1).
 */
async function isEncryptedFile(op: string): Promise<boolean> {
  if (op === "-" || isUrl(op)) return false;
  try {
    const h = await openFile(op, "r");
    try {
      const sig = async (at: number) => {
        const buf = new Uint8Array(8);
        const { bytesRead } = await h.read(buf, 0, 8, at);
        return bytesRead === 8 ? new TextDecoder("latin1").decode(buf) : "";
      };
      if ((await sig(0)) === "encrcdsa") return true;
      const { size } = await h.stat();
      return size >= 8 && (await sig(size - 8)) === "cdsaencr";
    } finally {
      await h.close();
    }
  } catch {
    // A file that cannot be read is reported by the command itself.
    return false;
  }
}

/** Ask for the password on the terminal, without echo; Ctrl-C cancels (exit as usage). */
function prompt(io: Io, op: string, stdin: NodeJS.ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    io.stderr.write(`Password for ${sanitize(op)}: `, () => undefined);
    let typed = "";
    const done = (err?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write("\n", () => undefined);
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return done();
        if (ch === "\u0003") return done(new UsageError("password prompt cancelled"));
        if (ch === "\u007f" || ch === "\b") typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", onData);
  });
}
