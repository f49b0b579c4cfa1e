/**
 * LZFSE block magics: the little-endian u32 of their four characters. Apart from the decoder
 * so that the writer can name them without loading it.
 */
export const LZFSE_ENDOFSTREAM_BLOCK_MAGIC = 0x24787662; // bvx$
export const LZFSE_UNCOMPRESSED_BLOCK_MAGIC = 0x2d787662; // bvx-
export const LZFSE_COMPRESSEDV1_BLOCK_MAGIC = 0x31787662; // bvx1
export const LZFSE_COMPRESSEDV2_BLOCK_MAGIC = 0x32787662; // bvx2
export const LZFSE_COMPRESSEDLZVN_BLOCK_MAGIC = 0x6e787662; // bvxn
