/**
 * What the native zlib codec needs beyond an honest chunk read from its start: pako (the judge
 * of any chunk native zlib finds fault with, and the path for budgets too tight for native
 * buffers) and the index-point machinery (block boundaries, points, snapshots).
 *
 * A sequential extract or check of an honest image needs none of it, so it is loaded only when
 * a read records or resumes points or a chunk needs judging. On Node that keeps about 95 KB of
 * module source out of memory: source text survives young-generation collections, and enough of
 * it makes V8 double its new space for the rest of a run (a few MiB of peak RSS).
 */
export { zlibCodec } from "../../codecs/zlib/zlib.js";
export { pointByte, resumePrefix } from "../../codecs/zlib/zlib-boundary.js";
export { zlibPoint } from "../../codecs/zlib/zlib-points.js";
export { InflateSnapshot } from "../../codecs/zlib/zlib-snapshot.js";
export { boundariesSupported } from "./native-zlib-bits.js";
export { BoundaryRecorder } from "./native-zlib-points.js";
