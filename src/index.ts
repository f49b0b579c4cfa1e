/**
 * dmg-validate: a strict, bounds-checked reader and validator for Apple disk images (UDIF).
 *
 * This entry point needs no Node-only API and runs in browsers and workers. On Node, the
 * package's main entry adds file paths as sources and file output.
 *
 * @packageDocumentation
 */

export { crc32 } from "./bytes/crc32.js";
export type {
  ChunkCursor,
  Codec,
  DecodeContext,
  PointRecorder,
  ResumePoint,
} from "./codecs/codec.js";
export type { InputBuffers } from "./codecs/input.js";
export type { ContainerInfo } from "./containers/container.js";
export { segmentedSource } from "./containers/segments/set.js";
export {
  DmgError,
  type ErrorCode,
  ErrorCodes,
  type ErrorLocation,
  type Finding,
  isBudgetCode,
  type WarningCode,
  WarningCodes,
} from "./core/errors.js";
export {
  BUDGET_KEYS,
  type Budget,
  type BudgetSpec,
  DEFAULT_BUDGET,
  MemoryMeter,
  resolveBudget,
} from "./core/limits.js";
export type { Checksum } from "./format/checksum.js";
export type { Koly } from "./format/koly.js";
export {
  CHUNK_TYPE_NAMES,
  COMMENT,
  chunkTypeName,
  TERMINATOR,
  UDBZ,
  UDCO,
  UDIG,
  UDRW,
  UDZE,
  UDZO,
  ULFO,
  ULMO,
} from "./format/types.js";
export { DmgImage, type ReadOptions, type SignatureOptions } from "./image/image.js";
export type { MapLayout } from "./image/map.js";
export { type OpenOptions, openDmg } from "./image/open.js";
export type { ChunkInfo, ImageStats, PartitionTable } from "./image/tables.js";
export {
  type ChecksumOutcome,
  type ImageSummary,
  type ValidateOptions,
  type ValidationReport,
  validateDmg,
} from "./image/validate.js";
export {
  type FileSystemInfo,
  type FileSystemType,
  identifyFileSystem,
  type ReadAt,
} from "./inspect/fs/identify.js";
export type { Partition, PartitionMap, PartitionScheme } from "./inspect/partitions.js";
export type { CmsCertificate, CmsReport, CmsTrust } from "./inspect/signature/cms.js";
export type { SignatureReport } from "./inspect/signature/verify.js";
export {
  type HttpSource,
  type HttpSourceOptions,
  type HttpStats,
  httpSource,
} from "./sources/http.js";
export {
  type ByteSource,
  blobSource,
  bytesSource,
  type SourceLike,
  toSource,
} from "./sources/source.js";
export { type BrowserWorkerOptions, validateInWorker } from "./worker/browser.js";
export type { WorkerValidateOptions } from "./worker/protocol.js";
