/**
 * Containers: the formats around a UDIF image (or around a raw disk) that Apple's disk-image
 * stack also writes. Each is a layer between a byte source and the UDIF reader: it checks its
 * own structures and presents what it holds to the layers above, so that reading, validation,
 * `info`, `cat`, `extract` and workers work on it unchanged, with the same budgets and codes.
 *
 * A container presents either a UDIF file (an encrypted image decrypted block by block, the
 * parts of a segmented set joined) or a disk (a sparse image's bands), which the image layer
 * reads as raw and zero chunks over the container's own bytes.
 */
import type { Finding } from "../core/errors.js";
import type { Budget } from "../core/limits.js";
import type { Work } from "../core/work.js";
import type { ByteSource } from "../sources/source.js";
import type { CipherProvider } from "./encrypted/ciphers.js";

/** What a container is, for `info` and reports: its kind and the fields worth showing. */
export interface ContainerInfo {
  /** "UDIF" for a plain image; else the container: "UDSP", "sparsebundle", "segmented", ... */
  kind: string;
  /** Fields of the container's own header, as plain values. */
  fields: Record<string, string | number | boolean>;
  /** What the container holds when that is a container too (a UDIF inside an encrypted image). */
  inner?: ContainerInfo;
}

/** What opening a container needs besides its bytes. */
export interface ContainerContext {
  budget: Budget;
  work: Work;
  /** The password of an encrypted image, as UTF-8 bytes (undefined: none given). */
  password?: Uint8Array;
  /** The platform's ciphers for encrypted images (undefined: WebCrypto's). */
  ciphers?: CipherProvider;
}

/** A container opened: the UDIF file it presents. */
export interface OpenedContainer {
  info: ContainerInfo;
  /**
   * The bytes of the UDIF image inside. Its `close()` releases what the container holds and
   * closes the source the container was opened on.
   */
  source: ByteSource;
  warnings: Finding[];
}

/** One container format: one file (or folder) per format, one line in the registry. */
export interface Container {
  /** Its name in messages. */
  name: string;
  /**
   * Whether `src` holds this container, judged from its first and last bytes (`head` and
   * `tail`, each up to 512 bytes): cheap, no other read.
   */
  detect(head: Uint8Array, tail: Uint8Array, src: ByteSource): boolean;
  /** Check the container's structures and present what it holds. */
  open(src: ByteSource, ctx: ContainerContext): Promise<OpenedContainer>;
}
