#!/usr/bin/env node
import { setFlagsFromString } from "node:v8";

// The command streams: a piece is decoded, written and dropped, so almost nothing survives a
// young-generation collection, and a new space that doubles (V8's default once the few bytes
// surviving since its last growth pass its capacity) buys no speed, only ~3 MiB of peak
// memory. V8 reads the growth factor each time it would grow, so setting it here holds; before
// the command's modules load, as loading them is what would first grow it.
setFlagsFromString("--semi-space-growth-factor=1");
const { main } = await import("../dist/cli/main.js");

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
