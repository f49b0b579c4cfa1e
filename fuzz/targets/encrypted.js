/**
 * Fuzz target: encrypted images ("encrcdsa" version 2, "cdsaencr" version 1). The input is a
 * whole file, opened with the password "pw" (the seeds' password) under a budget of at most 64
 * PBKDF2 iterations, so a mutated iteration count costs no CPU; what opens is read through
 * whole. Opening either fails with a DmgError or presents a source of exactly the header's data
 * size (version 1: the whole 4096-byte blocks before the 1276-byte trailer).
 */

import { sessionOf } from "../../dist/image/image.js";
import { openDmg } from "../../dist/node/index.js";
import { BUDGET, invariant, tolerate } from "../harness.js";

const budget = { ...BUDGET, maxKdfIterations: 64 };

export async function fuzz(data) {
  await tolerate(async () => {
    const image = await openDmg(data, { password: "pw", budget });
    try {
      const src = sessionOf(image).source;
      if (image.container?.kind === "encrypted") {
        const size =
          image.container.fields.version === 1
            ? BigInt(Math.floor((data.length - 1276) / 4096) * 4096)
            : new DataView(data.buffer, data.byteOffset).getBigUint64(0x38);
        invariant(BigInt(src.size) === size, `source of ${src.size} bytes, header says ${size}`);
      }
      for await (const _ of image.stream()) {
        // Reading through decrypts every block the tables reach.
      }
    } finally {
      await image.close();
    }
  });
}
