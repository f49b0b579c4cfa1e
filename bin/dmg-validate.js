#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

// The command streams: a piece is decoded, written and dropped, so almost nothing survives a
// young-generation collection, and a new space that doubles (V8's default once the few bytes
// surviving since its last growth pass its capacity) buys no speed, only ~3 MiB of peak
// memory. V8 reads the growth factor each time it would grow, so setting it here holds; before
// the command's modules load, as loading them is what would first grow it.
setFlagsFromString("--semi-space-growth-factor=1");
// The engine's full collection, for decoders' dead buffers (src/node/gc-pacer.ts): got now,
// while the process has one thread, as V8's flags are the process's. The flag only decides
// whether a new context gets `gc`, and is set back at once.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");
setFlagsFromString("--no-expose-gc");
// The CLI's bundle (scripts/build-cli.mjs): a few files rather than the 80 modules an extract
// would load one by one.
const { useCollector } = await import("../dist/bin/gc-pacer.js");
if (typeof gc === "function") useCollector(gc);
const { main } = await import("../dist/bin/main.js");

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
