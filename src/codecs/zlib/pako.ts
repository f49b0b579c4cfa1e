/**
 * The parts of pako (exactly 3.0.3, pinned: zlib-snapshot.ts reads its inflate state) that
 * this package uses, from one place.
 *
 * Imported from pako's minified ES module build, the same code as its main entry in half the
 * source text (46 KB, not 97 KB). Module source stays on the heap for the life of the process,
 * and on Node it is one of the first things a command loads: the extra 50 KB survived enough
 * young-generation collections to make V8 double the new space (+4 MiB resident) during a
 * plain `extract`. Decoding speed is the same.
 */
export {
  deflate,
  Z_BLOCK,
  Z_BUF_ERROR,
  Z_DEFAULT_STRATEGY,
  Z_NEED_DICT,
  Z_NO_FLUSH,
  Z_OK,
  Z_STREAM_END,
  Z_SYNC_FLUSH,
  ZStream,
  zlibDeflate,
  zlibDeflateEnd,
  zlibDeflateInit2,
  zlibDeflateReset,
  zlibInflate,
  zlibInflateEnd,
  zlibInflateInit,
  zlibInflateInit2,
} from "pako/browser";
