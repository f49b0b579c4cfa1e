#!/bin/bash -eu
# Builds every fuzz target of fuzz/targets/ for ClusterFuzzLite (OSS-Fuzz's JavaScript engine,
# jazzer.js). Each target gets the shared dictionary and its libFuzzer options; the targets
# import the compiled library from dist/.
cd "$SRC/dmg-validate"
npm ci
npm run build

# Targets that call only synchronous functions run in jazzer's faster --sync mode; the limits
# match fuzz/jazzer.mjs.
declare -A SYNC=([plist]=1 [rsrc]=1 [mish]=1)
declare -A MAX_LEN=([trailer]=163840 [plist]=65536 [rsrc]=65536 [mish]=65536 [pipeline]=1048576)

for target in fuzz/targets/*.js; do
  name=$(basename "$target" .js)
  args="--instrumentation_includes dist/"
  if [[ -n "${SYNC[$name]:-}" ]]; then args="$args --sync"; fi
  # shellcheck disable=SC2086 # the jazzer arguments are meant to be split
  compile_javascript_fuzzer dmg-validate "fuzz/targets/$name.js" $args
  cp fuzz/dmg.dict "$OUT/$name.dict"
  printf '[libfuzzer]\nmax_len = %s\nrss_limit_mb = 1536\n' "${MAX_LEN[$name]:-131072}" > "$OUT/$name.options"
  # Seed corpus: the committed inputs of the target.
  if [[ -d "corpus/fuzz/$name" ]]; then
    (cd "corpus/fuzz/$name" && zip -q -r "$OUT/${name}_seed_corpus.zip" .)
  fi
done
