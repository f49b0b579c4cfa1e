/**
 * The XZ index: one record (unpadded size, uncompressed size) per block, read after the last
 * block and compared with the blocks actually decoded, in constant memory whatever the count.
 */
import { crc32 } from "../../bytes/crc32.js";
import { type DecodeContext, decodeError } from "../codec.js";
import { le32 } from "./xz-format.js";
import type { XzInput } from "./xz-input.js";

/**
 * Count and CRC32 of a list of (unpadded size, uncompressed size) records, so the index can
 * be compared with the blocks decoded in constant memory (the spec's suggested method; a
 * forged index gains nothing, as every size is also checked where it is used).
 */
export class RecordDigest {
  count = 0;
  private crc = 0;
  private readonly scratch = new DataView(new ArrayBuffer(16));

  add(unpadded: number, unpacked: number): void {
    this.scratch.setFloat64(0, unpadded, true);
    this.scratch.setFloat64(8, unpacked, true);
    this.crc = crc32(new Uint8Array(this.scratch.buffer), this.crc);
    this.count++;
  }

  equals(other: RecordDigest): boolean {
    return this.count === other.count && this.crc === other.crc;
  }
}

/**
 * Read the index at the input's position (its indicator byte, 0, not yet consumed) and check
 * it against `blocks`, the digest of the blocks decoded (E29): count, records, padding and
 * CRC32. Returns the index's size in bytes, which the stream footer must repeat.
 */
export async function readIndex(
  ctx: DecodeContext,
  input: XzInput,
  blocks: RecordDigest,
): Promise<number> {
  const corrupt = (message: string): never =>
    decodeError(ctx, "DECODE_CORRUPT", message, input.fileOffset);
  const start = input.consumed;
  let crc = 0;
  const take = async (): Promise<number> => {
    const from = input.pos;
    const value = await input.varint("index");
    crc = crc32(input.buf.subarray(from, input.pos), crc);
    return value;
  };
  await take(); // the index indicator
  const count = await take();
  // Checked before the records are read, so the loop below is bounded by blocks decoded.
  if (count !== blocks.count)
    corrupt(`XZ index lists ${count} blocks; the stream has ${blocks.count}`);
  const records = new RecordDigest();
  for (let i = 0; i < count; i++) records.add(await take(), await take());
  const pad = (4 - ((input.consumed - start) % 4)) % 4;
  await input.need(pad + 4, "index");
  for (let i = 0; i < pad; i++) {
    if (input.buf[input.pos + i] !== 0) corrupt("XZ index padding is not zero");
  }
  crc = crc32(input.buf.subarray(input.pos, input.pos + pad), crc);
  input.pos += pad;
  if (le32(input.buf, input.pos) !== crc) corrupt("XZ index fails its CRC32");
  if (!records.equals(blocks)) corrupt("XZ index records differ from the blocks' real sizes");
  input.pos += 4;
  return input.consumed - start;
}
