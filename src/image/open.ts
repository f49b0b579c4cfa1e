/**
 * Opening an image: trailer, partition map, tables, chunk index and the codec table, checked
 * whole before anything is decoded; then an {@link DmgImage} over its session.
 */
import type { Codec } from "../codecs/codec.js";
import { CORE_CODECS, type CodecDefaults, codecTable } from "../codecs/registry.js";
import { passwordOption } from "../containers/encrypted/password.js";
import { unwrap } from "../containers/registry.js";
import { DmgError, warning } from "../core/errors.js";
import { type Budget, checkBudget, overBudget, resolveBudget } from "../core/limits.js";
import { booleanOption, codecsOption, optionsObject, readOption } from "../core/options.js";
import { checkSignal, runPaced, Work } from "../core/work.js";
import { checkKolyRanges, KOLY_FIELD } from "../format/koly.js";
import { checkMishLayout, parseMishSteps } from "../format/mish.js";
import { type SourceLike, toSource } from "../sources/source.js";
import { buildChunkIndex, type LocatedTable } from "./chunk-index.js";
import { type DmgImage, newImage } from "./image.js";
import { locateKoly } from "./locate.js";
import { readMap } from "./map.js";
import { newSession } from "./session.js";
import { type PartitionTable, partitionTable } from "./tables.js";

/** Options for {@link openDmg}. */
export interface OpenOptions {
  /** Budget overrides; the rest keep their defaults ({@link DEFAULT_BUDGET}). */
  budget?: Partial<Budget>;
  /**
   * Codecs for this image only, each replacing the default for its chunk type (`codec.type`).
   * The defaults are frozen: nothing a caller passes affects another image.
   */
  codecs?: readonly Codec[];
  /** Cancels opening: it then fails with ABORTED (BUDGET_TIME for a timeout signal). */
  signal?: AbortSignal;
  /**
   * When the image has both an XML property list and a resource fork that describe different
   * tables: true (default) refuses it with MAP_MISMATCH, false reads the XML (as Apple's tools
   * and 7-Zip do) with a RSRC_XML_DISAGREE warning.
   */
  strict?: boolean;
  /**
   * The password of an encrypted image ("encrcdsa"): a string (used as UTF-8) or its bytes.
   * Without it an encrypted image is refused with ENCRYPTED; a wrong one is PASSWORD_WRONG.
   */
  password?: string | Uint8Array;
}

/** Options as read once at the API boundary. */
export interface ResolvedOpenOptions {
  budget: Budget;
  codecs: readonly Codec[] | undefined;
  signal: AbortSignal | undefined;
  strict: boolean;
  /** The password as bytes (undefined: none given). */
  password: Uint8Array | undefined;
}

/**
 * Read and check `options` once: a value of the wrong type, or a getter that throws, is
 * INVALID_ARGUMENT.
 */
export function resolveOpenOptions(options: unknown): ResolvedOpenOptions {
  const o = optionsObject(options);
  const budget = resolveBudget(
    optionsObject(readOption(o, "budget"), "options.budget") as Partial<Budget>,
  );
  const codecs = codecsOption(o);
  return {
    budget,
    codecs,
    signal: checkSignal(readOption(o, "signal")),
    strict: booleanOption(o, "strict", true),
    password: passwordOption(o),
  };
}

/**
 * Open a UDIF image. Checks the whole structure (trailer, map, tables, chunk layout, budgets)
 * but decodes no chunk. Throws a {@link DmgError} for anything malformed or over budget.
 */
export async function openDmg(source: SourceLike, options: OpenOptions = {}): Promise<DmgImage> {
  return openWith(source, resolveOpenOptions(options), CORE_CODECS);
}

/**
 * Open with options already resolved and a platform's default codecs (the Node entry point
 * passes its node:zlib table).
 *
 * @internal
 */
export async function openWith(
  source: SourceLike,
  options: ResolvedOpenOptions,
  defaults: CodecDefaults,
): Promise<DmgImage> {
  const { budget } = options;
  const work = new Work(options.signal);
  const outer = toSource(source);
  work.check();
  // An encrypted image, a segmented set...: the UDIF image they hold is read through them.
  const {
    source: src,
    container,
    warnings,
  } = await unwrap(outer, {
    budget,
    work,
    password: options.password,
    ciphers: defaults.ciphers,
  });
  const koly = await locateKoly(src, warnings);
  checkKolyRanges(koly, src.size);
  await work.pace();
  const { map, layout } = await readMap(src, koly, budget, warnings, work, options.strict);
  // Attack class B12: a map without partition tables would read as an empty disk whatever the
  // trailer says (a resource fork whose 'blkx' type was renamed, an empty blkx array).
  if (map.blkx.length === 0) {
    throw new DmgError(
      layout === "rsrc" ? "RSRC_MALFORMED" : "PLIST_STRUCTURE",
      `the ${layout === "rsrc" ? "resource fork" : "property list"} holds no blkx (partition table) entries`,
      layout === "rsrc" ? koly.rsrcForkOffset : koly.xmlOffset,
    );
  }
  // Attack class B11: a million blkx entries.
  checkBudget(budget, "maxTables", map.blkx.length);
  const located: LocatedTable[] = [];
  const tables: PartitionTable[] = [];
  /** Every chunk type code of the image, for the decoders to load. */
  const types = new Set<number>();
  let entries = 0;
  for (let t = 0; t < map.blkx.length; t++) {
    await work.pace();
    const res = map.blkx[t];
    const mish = await runPaced(parseMishSteps(res.data, res.fileOffset, { table: t }), work);
    entries += mish.count;
    // Entries (comments and terminators included) are bounded before more tables are parsed.
    const most = budget.maxChunks + 2 * budget.maxTables;
    if (entries > most) {
      throw overBudget("maxChunks", entries, most, {
        offset: res.fileOffset,
        table: t,
        subject: `entries of tables 0..${t} (a comment and a terminator per table allowed)`,
      });
    }
    checkMishLayout(mish, res.fileOffset, t);
    located.push({ mish, fileOffset: res.fileOffset });
    tables.push(partitionTable(t, res, mish, types));
  }
  const index = await buildChunkIndex(located, koly, budget, work);
  const codecs = await codecTable(types, defaults, options.codecs);
  // Attack class A8 and real files: one file in the wild states a sector count of 0.
  if (koly.sectorCount !== index.totalSectors) {
    warnings.push(
      warning(
        "SECTOR_COUNT_MISMATCH",
        `trailer states ${koly.sectorCount} sectors, the tables cover ${index.totalSectors}; the tables are used`,
        koly.fileOffset + KOLY_FIELD.sectorCount,
      ),
    );
  }
  work.check();
  return newImage(
    newSession({ source: src, container, koly, layout, tables, index, budget, codecs, warnings }),
  );
}
