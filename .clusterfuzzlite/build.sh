#!/bin/bash -eu
# Builds the jazzer.js fuzz targets of fuzz/targets/ for ClusterFuzzLite / OSS-Fuzz.
#
# Runs in the image of .clusterfuzzlite/Dockerfile, with $SRC, $OUT and $WORK set and OSS-Fuzz's
# compile_javascript_fuzzer on the PATH. That helper copies the project (built, with its
# node_modules/) to $OUT/dmg-validate/ on its first call and writes, for each target, a launcher
# $OUT/<target> that starts jazzer.js's CLI from that copy. For every target of the TARGETS table
# in fuzz/jazzer.mjs this script leaves in $OUT:
#
#   <target>                  the launcher (preloading the glibc shim where the image needs it)
#   <target>.options          libFuzzer's max_len and rss_limit_mb for the target
#   <target>.dict             the shared dictionary fuzz/dmg.dict
#   <target>_seed_corpus.zip  corpus/fuzz/<target>/, plus the real and regression images for the
#                             targets whose input is a whole file (fileSeeds in fuzz/jazzer.mjs)
#
# fuzz/oss-fuzz/emulate.sh runs this script and the targets it builds without Docker.
set -o pipefail

PROJECT=dmg-validate
cd "$SRC/$PROJECT"

# fuzz/.build/ holds what fuzz/setup-jazzer.mjs compiles on the machine it runs on; one copied in
# with the sources would be another machine's.
rm -rf fuzz/.build

npm ci
npm run build

# jazzer.js's Linux prebuilt needs glibc 2.38. Where this image's glibc is older (the Ubuntu 20.04
# images), setup-jazzer.mjs marks that need weak in the prebuilt under node_modules/ and compiles
# the shim that stands in for the three missing symbols; elsewhere it changes nothing. It runs
# before the first compile_javascript_fuzzer, so that the copy in $OUT has both.
node fuzz/setup-jazzer.mjs
shim=$(node --input-type=module -e '
import { relative } from "node:path";
import { needsShim, SHIM } from "./fuzz/setup-jazzer.mjs";
if (needsShim()) console.log(relative(process.cwd(), SHIM));
')
if [[ -n "$shim" && ! -f "$shim" ]]; then
  echo "fuzz/setup-jazzer.mjs did not build $shim" >&2
  exit 1
fi

# Make launcher $1 preload the shim: a line after the interpreter line sets LD_PRELOAD to the
# shim in the copy beside the launcher, when that copy has one.
preload_shim() {
  local launcher=$1 tmp
  if [[ "$(head -c 2 "$launcher")" != "#!" ]] || ! grep -q LLVMFuzzerTestOneInput "$launcher"; then
    echo "$launcher is not the launcher compile_javascript_fuzzer writes" >&2
    exit 1
  fi
  tmp=$(mktemp)
  {
    head -n 1 "$launcher"
    echo "# jazzer.js's prebuilt needs glibc 2.38; on an older glibc it runs with the shim $shim."
    echo "shim=\"\$(cd \"\$(dirname \"\$0\")\" && pwd)/$PROJECT/$shim\""
    echo "if [ -f \"\$shim\" ]; then export LD_PRELOAD=\"\$shim\${LD_PRELOAD:+:\$LD_PRELOAD}\"; fi"
    tail -n +2 "$launcher"
  } >"$tmp"
  cat "$tmp" >"$launcher"
  rm -f "$tmp"
}

# One line per target: name, sync or async, max_len, per-input timeout (ms), and the extra seed
# directories ("-" for none), all from fuzz/jazzer.mjs.
targets=$(node --input-type=module -e '
import { relative } from "node:path";
import { fileSeeds, ROOT, TARGETS } from "./fuzz/jazzer.mjs";
for (const [name, t] of Object.entries(TARGETS)) {
  const seeds = fileSeeds(name).map((d) => relative(ROOT, d));
  console.log(name, t.sync ? "sync" : "async", t.maxLen, t.timeout, seeds.join(",") || "-");
}
')
if [[ -z "$targets" ]]; then
  echo "fuzz/jazzer.mjs lists no targets" >&2
  exit 1
fi

while read -r name mode max_len timeout seeds; do
  target="fuzz/targets/$name.js"
  if [[ ! -f "$target" ]]; then
    echo "$target is missing" >&2
    exit 1
  fi

  # The jazzer.js options fuzz/jazzer.mjs passes: instrument the compiled library only (a
  # substring of the absolute path: the copy in $OUT, not node_modules/*/dist/), the per-input
  # timeout, and --sync for targets that call only synchronous functions.
  args=(--instrumentation_includes "$PROJECT/dist/" --timeout "$timeout")
  if [[ "$mode" == sync ]]; then args+=(--sync); fi
  compile_javascript_fuzzer "$PROJECT" "$target" "${args[@]}"
  if [[ -n "$shim" ]]; then preload_shim "$OUT/$name"; fi

  printf '[libfuzzer]\nmax_len = %s\nrss_limit_mb = 1536\n' "$max_len" >"$OUT/$name.options"
  cp fuzz/dmg.dict "$OUT/$name.dict"

  # Seed corpus: flat, the extra directories' files prefixed with the directory's name.
  stage="$WORK/seeds/$name"
  rm -rf "$stage"
  mkdir -p "$stage"
  if [[ -d "corpus/fuzz/$name" ]]; then
    find "corpus/fuzz/$name" -maxdepth 1 -type f -exec cp -t "$stage" {} +
  fi
  if [[ "$seeds" != - ]]; then
    IFS=, read -r -a dirs <<<"$seeds"
    for dir in "${dirs[@]}"; do
      for file in "$dir"/*; do
        if [[ -f "$file" ]]; then cp "$file" "$stage/$(basename "$dir")-$(basename "$file")"; fi
      done
    done
  fi
  rm -f "$OUT/${name}_seed_corpus.zip"
  if [[ -n "$(ls -A "$stage")" ]]; then
    (cd "$stage" && zip -q -X -r "$OUT/${name}_seed_corpus.zip" .)
  fi
done <<<"$targets"
