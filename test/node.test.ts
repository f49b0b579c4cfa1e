/**
 * The Node-only module: file sources (refusing what is not a regular file, without hanging),
 * atomic file output, and the path-taking wrappers of the Node entry point.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { setWasmMode } from "../src/codecs/wasm/embedded.js";
import { sessionOf } from "../src/image/image.js";
import {
  createDmg,
  DmgError,
  extractDmg,
  nodeDeflate,
  openDmg,
  validateDmg,
} from "../src/node/index.js";
import { MIN_HOLE, writeFileAtomic } from "../src/node/io/file-sink.js";
import { fileSource } from "../src/node/io/file-source.js";
import { workersMayPay } from "../src/node/io/write-disk.js";

const REAL = join(import.meta.dirname, "..", "corpus", "real");
const ZLIB = join(REAL, "jhermsmeier_node-udif_zlib-compressed.dmg");
const ZLIB_DISK_SHA256 = "308bcbc833f18ef17c01a3e6798c6de475329710168bd5d3d1cf89f9501b8930";

const dir = mkdtempSync(join(tmpdir(), "dmg-node-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run `fn` and return what it threw. */
async function thrown(fn: () => Promise<unknown>): Promise<DmgError> {
  const e = await fn().then(
    () => undefined,
    (x) => x,
  );
  expect(e).toBeInstanceOf(DmgError);
  return e as DmgError;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("fileSource", () => {
  it("reads exact ranges of a regular file", async () => {
    const p = join(dir, "bytes.bin");
    const data = new Uint8Array(10_000).map((_, i) => i * 7);
    writeFileSync(p, data);
    const src = await fileSource(p);
    expect(src.size).toBe(10_000);
    const got = await src.read(1234, 5000);
    expect(got).toEqual(data.subarray(1234, 6234));
    // A plain Uint8Array (whose slice copies), not a Buffer.
    expect(Object.getPrototypeOf(got)).toBe(Uint8Array.prototype);
    expect((await src.read(0, 0)).length).toBe(0);
    await src.close?.();
    await src.close?.(); // twice is fine
  });

  it("reads into the caller's spare buffer when it is big enough, and allocates otherwise", async () => {
    const p = join(dir, "into.bin");
    const data = new Uint8Array(4096).map((_, i) => i * 13);
    writeFileSync(p, data);
    const src = await fileSource(p);
    const spare = new Uint8Array(1000);
    const got = await src.read(100, 600, spare);
    expect(got.buffer).toBe(spare.buffer);
    expect(got.length).toBe(600);
    expect(Buffer.compare(got, data.subarray(100, 700))).toBe(0);
    const big = await src.read(0, 2000, spare);
    expect(big.buffer).not.toBe(spare.buffer);
    expect(Buffer.compare(big, data.subarray(0, 2000))).toBe(0);
    await src.close?.();
  });

  it("refuses a missing path with IO_ERROR naming it", async () => {
    const p = join(dir, "no-such-file.dmg");
    const e = await thrown(() => fileSource(p));
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toContain(p);
    expect(e.message).toMatch(/no such file/);
  });

  it("refuses a directory", async () => {
    const e = await thrown(() => fileSource(dir));
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toMatch(/directory/);
  });

  it.skipIf(process.platform === "win32")("refuses a character device", async () => {
    const e = await thrown(() => fileSource("/dev/null"));
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toMatch(/character device/);
  });

  const hasMkfifo = spawnSync("mkfifo", ["--version"]).error === undefined;
  it.skipIf(!hasMkfifo || process.platform === "win32")(
    "refuses a FIFO at once instead of waiting for a writer",
    async () => {
      const p = join(dir, "fifo");
      expect(spawnSync("mkfifo", [p]).status).toBe(0);
      const start = Date.now();
      const e = await thrown(() => fileSource(p));
      expect(e.code).toBe("IO_ERROR");
      expect(e.message).toMatch(/FIFO/);
      expect(Date.now() - start).toBeLessThan(2000);
      // And the path-taking entry points report it the same way.
      const report = await validateDmg(p);
      expect(report.errors[0].code).toBe("IO_ERROR");
    },
    10_000,
  );

  it("reports a file that shrank after opening as IO_ERROR, not a short read", async () => {
    const p = join(dir, "shrinks.bin");
    writeFileSync(p, new Uint8Array(4096));
    const src = await fileSource(p);
    truncateSync(p, 100);
    const e = await thrown(() => src.read(0, 4096));
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toMatch(/truncated/);
    await src.close?.();
  });

  it("refuses reads outside the file and reads after close", async () => {
    const p = join(dir, "small.bin");
    writeFileSync(p, new Uint8Array(10));
    const src = await fileSource(p);
    expect((await thrown(() => src.read(5, 6))).code).toBe("IO_ERROR");
    await src.close?.();
    expect((await thrown(() => src.read(0, 1))).code).toBe("IO_ERROR");
  });
});

describe("writeFileAtomic", () => {
  it("writes every byte, buffered, and leaves no temporary file", async () => {
    const p = join(dir, "atomic", "out.bin");
    rmSync(join(dir, "atomic"), { recursive: true, force: true });
    mkdirSync(join(dir, "atomic"));
    const pieces = [
      new Uint8Array(3).fill(1),
      new Uint8Array(3 << 20).fill(2),
      new Uint8Array(70_000).fill(3),
    ];
    await writeFileAtomic(p, async (sink) => {
      for (const piece of pieces) {
        await sink.write(piece);
        piece.fill(9); // the sink must have copied (or written) what it was given
      }
    });
    const got = readFileSync(p);
    expect(got.length).toBe(3 + (3 << 20) + 70_000);
    expect(got[0]).toBe(1);
    expect(got[3]).toBe(2);
    expect(got[got.length - 1]).toBe(3);
    expect(got.includes(9)).toBe(false);
    expect(readdirSync(join(dir, "atomic"))).toEqual(["out.bin"]);
  });

  it("on failure leaves neither the file nor a temporary file, and keeps an old file intact", async () => {
    const sub = join(dir, "fails");
    mkdirSync(sub);
    const p = join(sub, "out.bin");
    const boom = new Error("fill failed");
    await expect(
      writeFileAtomic(p, async (sink) => {
        await sink.write(new Uint8Array(2 << 20));
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(readdirSync(sub)).toEqual([]);

    writeFileSync(p, "old");
    await expect(
      writeFileAtomic(p, async (sink) => {
        await sink.write(new Uint8Array(10));
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(readdirSync(sub)).toEqual(["out.bin"]);
    expect(readFileSync(p, "utf8")).toBe("old");
  });

  it("reports a missing directory as IO_ERROR naming the path", async () => {
    const p = join(dir, "missing-dir", "out.bin");
    let called = false;
    const e = await thrown(() =>
      writeFileAtomic(p, async () => {
        called = true;
      }),
    );
    expect(e.code).toBe("IO_ERROR");
    expect(e.message).toContain(p);
    expect(called).toBe(false);
  });

  it("reports a directory in the way as IO_ERROR and removes the temporary file", async () => {
    const sub = join(dir, "blocked");
    mkdirSync(join(sub, "out.bin"), { recursive: true });
    const e = await thrown(() =>
      writeFileAtomic(join(sub, "out.bin"), async (sink) => {
        await sink.write(new Uint8Array(5));
      }),
    );
    expect(e.code).toBe("IO_ERROR");
    expect(readdirSync(sub)).toEqual(["out.bin"]);
  });

  it("sparse: leaves aligned zero blocks as holes, reads back the same bytes, ends in a hole", async () => {
    const sub = join(dir, "sparse");
    mkdirSync(sub);
    // Pieces of odd sizes so that blocks straddle writes; the file ends in 3 MiB of zeros.
    const whole = new Uint8Array(8 << 20);
    for (let i = 0; i < 1 << 20; i++) whole[i] = (i * 31) & 0xff || 1;
    whole[(5 << 20) + 4095] = 7; // a lone byte at the end of an otherwise zero block
    const cuts = [0, 3, 70_001, 1 << 20, (1 << 20) + 5, 4 << 20, 5 << 20, 8 << 20];
    for (const sparse of [true, false]) {
      const p = join(sub, `out-${sparse}.bin`);
      await writeFileAtomic(
        p,
        async (sink) => {
          for (let k = 0; k + 1 < cuts.length; k++)
            await sink.write(whole.slice(cuts[k], cuts[k + 1]));
        },
        { sparse },
      );
      const got = readFileSync(p);
      expect(got.length).toBe(whole.length);
      expect(Buffer.compare(got, whole)).toBe(0);
      const blocks = Number(spawnSync("stat", ["-c", "%b", p], { encoding: "utf8" }).stdout);
      // 512-byte blocks allocated: the sparse file holds little more than its 1 MiB of data.
      if (sparse) expect(blocks * 512).toBeLessThan(2 << 20);
      else expect(blocks * 512).toBeGreaterThanOrEqual(8 << 20);
    }
    expect(readdirSync(sub).sort()).toEqual(["out-false.bin", "out-true.bin"]);
  });

  it("sparse: leaves runs of zero blocks inside data as holes from 64 KiB on, and writes shorter ones", async () => {
    const sub = join(dir, "min-hole");
    mkdirSync(sub);
    // 4 MiB of 128 KiB strides: data, then a zero run of `gap` bytes.
    const disk = (gap: number) => {
      const d = new Uint8Array(4 << 20);
      for (let s = 0; s < d.length; s += 128 << 10) {
        for (let i = s; i < s + (128 << 10) - gap; i++) d[i] = (i * 13) & 0xff || 1;
      }
      return d;
    };
    const allocated = async (gap: number) => {
      const p = join(sub, `gap-${gap}.bin`);
      const whole = disk(gap);
      await writeFileAtomic(p, async (sink) => sink.write(whole), { sparse: true });
      expect(Buffer.compare(readFileSync(p), whole)).toBe(0);
      return Number(spawnSync("stat", ["-c", "%b", p], { encoding: "utf8" }).stdout) * 512;
    };
    // 32 KiB runs are written: the whole file is allocated.
    expect(await allocated(MIN_HOLE / 2)).toBeGreaterThanOrEqual(4 << 20);
    // 64 KiB runs are holes: half of it is.
    expect(await allocated(MIN_HOLE)).toBeLessThanOrEqual((2 << 20) + (64 << 10));
  });

  it("tries another temporary name when one is taken, and never opens what is there", async () => {
    const sub = join(dir, "clash");
    mkdirSync(sub);
    const real = Math.random;
    let calls = 0;
    // The first name drawn is planted in advance; the second is free.
    Math.random = () => (calls++ === 0 ? 0.5 : real());
    const planted = join(sub, `.out.bin.${process.pid}.${(2 ** 47).toString(16)}.tmp`);
    writeFileSync(planted, "planted");
    try {
      await writeFileAtomic(join(sub, "out.bin"), async (sink) => {
        await sink.write(new Uint8Array([1, 2, 3]));
      });
    } finally {
      Math.random = real;
    }
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(readFileSync(planted, "utf8")).toBe("planted");
    expect([...readFileSync(join(sub, "out.bin"))]).toEqual([1, 2, 3]);
  });
});

describe("Node entry point", () => {
  it("starts no worker threads for node:zlib images on two threads, and may otherwise", async () => {
    const zlibOnly = await openDmg(ZLIB);
    try {
      expect(workersMayPay(sessionOf(zlibOnly), 2)).toBe(false);
      expect(workersMayPay(sessionOf(zlibOnly), 3)).toBe(true);
    } finally {
      await zlibOnly.close();
    }
    const bz = await openDmg(join(REAL, "jhermsmeier_node-udif_compression-bz2.dmg"));
    try {
      expect(workersMayPay(sessionOf(bz), 2)).toBe(true);
    } finally {
      await bz.close();
    }
    // LZFSE decodes in WebAssembly as fast as node:zlib; with the TypeScript decoders it does not.
    const lzfse = await openDmg(join(REAL, "jhermsmeier_node-udif_compression-lzfse.dmg"));
    try {
      expect(workersMayPay(sessionOf(lzfse), 2)).toBe(false);
      setWasmMode("js");
      expect(workersMayPay(sessionOf(lzfse), 2)).toBe(true);
    } finally {
      setWasmMode("auto");
      await lzfse.close();
    }
  });

  it("nodeDeflate makes zlib streams", async () => {
    const raw = new Uint8Array(100_000).fill(7);
    const z = await nodeDeflate(raw, 9);
    expect(z).toBeInstanceOf(Uint8Array);
    expect(z[0]).toBe(0x78);
    expect(z.length).toBeLessThan(1000);
    const { inflateSync } = await import("node:zlib");
    expect(new Uint8Array(inflateSync(z))).toEqual(raw);
  });

  it("openDmg and validateDmg take a path", async () => {
    const image = await openDmg(ZLIB);
    expect(image.size).toBe(9_400_320);
    expect(sha256(await image.read(0, image.size))).toBe(ZLIB_DISK_SHA256);
    await image.close();
    const report = await validateDmg(ZLIB);
    expect(report.ok).toBe(true);
    expect(report.checksums.master).toBe("ok");
  });

  it("openDmg on a bad path throws IO_ERROR; validateDmg reports it", async () => {
    const p = join(dir, "absent.dmg");
    expect((await thrown(() => openDmg(p))).code).toBe("IO_ERROR");
    const report = await validateDmg(p, { quick: true });
    expect(report.ok).toBe(false);
    expect(report.overBudget).toBe(false);
    expect(report.mode).toBe("quick");
    expect(report.errors.map((f) => f.code)).toEqual(["IO_ERROR"]);
  });

  it("openDmg on a file that is not UDIF throws the image's error", async () => {
    const e = await thrown(() => openDmg(join(REAL, "brettcs_dtrx_test.dmg")));
    expect(e.code).toBe("NOT_UDIF");
  });

  it("extractDmg writes the virtual disk; createDmg makes an image of it that reads back", async () => {
    const disk = join(dir, "disk.img");
    const seen: number[] = [];
    const { bytes } = await extractDmg(ZLIB, disk, { onProgress: (d) => seen.push(d) });
    expect(bytes).toBe(9_400_320);
    expect(seen[seen.length - 1]).toBe(9_400_320);
    expect(sha256(readFileSync(disk))).toBe(ZLIB_DISK_SHA256);

    const made = join(dir, "made.dmg");
    const summary = await createDmg(disk, made, { chunkSectors: 1000 });
    expect(summary.sectors).toBe(18_360);
    expect(summary.chunks).toBe(19);
    expect(readFileSync(made).length).toBe(summary.fileSize);
    const report = await validateDmg(made);
    expect(report.ok).toBe(true);
    expect(report.checksums.dataFork).toBe("ok");
    const back = join(dir, "back.img");
    await extractDmg(made, back);
    expect(sha256(readFileSync(back))).toBe(ZLIB_DISK_SHA256);
  });

  it("extractDmg of a corrupt image leaves no output and no temporary file", async () => {
    const bytes = new Uint8Array(readFileSync(ZLIB));
    for (let i = 200; i < 400; i++) bytes[i] ^= 0x5a; // inside the first zlib chunk
    const sub = join(dir, "corrupt-out");
    mkdirSync(sub);
    const e = await thrown(() => extractDmg(bytes, join(sub, "disk.img")));
    expect(e.code).toMatch(/^DECODE_/);
    expect(readdirSync(sub)).toEqual([]);
  });
});
