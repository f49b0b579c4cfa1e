#!/usr/bin/env bash
# Builds the ClusterFuzzLite / OSS-Fuzz fuzz targets without Docker, then runs each one from $OUT
# the way OSS-Fuzz's runner does: a check of .clusterfuzzlite/build.sh and of the launchers it
# leaves in $OUT.
#
#   bash fuzz/oss-fuzz/emulate.sh [--time S | --runs N] [--targets a,b] [--keep]
#
#   --time S       fuzz each target for S seconds (libFuzzer -max_total_time; default 5)
#   --runs N       run each target for N inputs instead (libFuzzer -runs)
#   --targets a,b  only these targets (default: every target of fuzz/jazzer.mjs)
#   --keep         keep the temporary directory (its path is printed)
#
# In a temporary directory it lays out what the builder image has:
#   src/   $SRC: the project at $SRC/<project> (the Dockerfile's COPY, less node_modules/, dist/,
#          .git/ and fuzz/.build/, which build.sh makes anew) and build.sh at $SRC/build.sh
#   out/   $OUT, where build.sh leaves the targets
#   work/  $WORK
# defines compile_javascript_fuzzer to do what OSS-Fuzz's helper of that name does (below), runs
# build.sh from $SRC/<project>, and then, for each target, unzips <target>_seed_corpus.zip into a
# corpus directory and runs, from $OUT,
#   ./<target> <CIFuzz's libFuzzer flags> <-max_total_time or -runs> <corpus> <.options flags>
#              -dict=<target>.dict
# in the order of OSS-Fuzz's run_fuzzer script. It fails when the build fails, a target of
# fuzz/jazzer.mjs has no launcher, or a target does not start, exits non-zero, leaves a crash,
# timeout or leak artifact, or does not reach libFuzzer's closing "Done N runs" line.
#
# Not emulated: the image's OS. The build and the targets use this machine's glibc and Node.js, so
# on a glibc older than 2.38 this checks the path of the Ubuntu 20.04 images (the shim built by
# fuzz/setup-jazzer.mjs, preloaded by the launchers) and on a newer one that of Ubuntu 24.04.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TIME=5
RUNS=
ONLY=
KEEP=0

usage() {
  echo "usage: bash fuzz/oss-fuzz/emulate.sh [--time S | --runs N] [--targets a,b] [--keep]" >&2
  exit 2
}

positive() {
  [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || { echo "$1 needs a positive integer" >&2; usage; }
}

while (($# > 0)); do
  case "$1" in
    --time) positive "$1" "${2:-}"; TIME=$2; RUNS=; shift 2 ;;
    --runs) positive "$1" "${2:-}"; RUNS=$2; shift 2 ;;
    --targets) [[ -n "${2:-}" ]] || usage; ONLY=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

for tool in node npm tar zip unzip timeout; do
  command -v "$tool" >/dev/null || { echo "emulate.sh needs $tool" >&2; exit 1; }
done

# The project's directory under $SRC, as the Dockerfile's COPY names it.
PROJECT=$(sed -n 's|^COPY \. \$SRC/\([A-Za-z0-9._-]*\)$|\1|p' "$ROOT/.clusterfuzzlite/Dockerfile")
if [[ -z "$PROJECT" ]]; then
  echo ".clusterfuzzlite/Dockerfile has no 'COPY . \$SRC/<project>' line" >&2
  exit 1
fi

TMP=$(mktemp -d -t cflite-emulate.XXXXXX)
cleanup() {
  if ((KEEP)); then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

export SRC="$TMP/src" OUT="$TMP/out" WORK="$TMP/work"
export FUZZING_LANGUAGE=javascript FUZZING_ENGINE=libfuzzer SANITIZER=none ARCHITECTURE=x86_64
mkdir -p "$SRC/$PROJECT" "$OUT" "$WORK"
unset LD_PRELOAD JAZZERJS_EXTRA_ARGS

tar -C "$ROOT" --exclude=./node_modules --exclude=./dist --exclude=./.git \
  --exclude=./fuzz/.build -cf - . | tar -C "$SRC/$PROJECT" -xf -
cp "$ROOT/.clusterfuzzlite/build.sh" "$SRC/build.sh"

# OSS-Fuzz's compile_javascript_fuzzer PROJECT FUZZ_TARGET [JAZZER_ARGS...], in its own terms:
# - PROJECT is a directory under $SRC; the first call copies it whole (built, with node_modules/)
#   to $OUT/PROJECT, later calls find the copy there and leave it;
# - FUZZ_TARGET is the target's module, relative to PROJECT; the launcher is $OUT/<its name
#   without .js>, a bash script that marks itself a fuzz target with the word
#   LLVMFuzzerTestOneInput in a comment and, without changing directory, runs jazzer.js's CLI
#   (node_modules/@jazzer.js/core/dist/cli.js, by its #! line) from the copy beside the launcher
#   ($(dirname $0)/PROJECT) on the module, with JAZZER_ARGS, then $JAZZERJS_EXTRA_ARGS, then "--"
#   and the launcher's own arguments, which go to libFuzzer. Like the helper, the arguments are
#   written into the script unquoted.
compile_javascript_fuzzer() {
  local project=$1 fuzz_target=$2
  shift 2
  local name
  name=$(basename "$fuzz_target" .js)
  if [[ ! -d "$OUT/$project" ]]; then
    cp -r "$SRC/$project" "$OUT/$project"
  fi
  cat >"$OUT/$name" <<EOF
#!/bin/bash
# LLVMFuzzerTestOneInput: marks this script as a fuzz target (emulated compile_javascript_fuzzer).
project_dir=\$(dirname "\$0")/$project
\$project_dir/node_modules/@jazzer.js/core/dist/cli.js \$project_dir/$fuzz_target $* \$JAZZERJS_EXTRA_ARGS -- \$@
EOF
  chmod +x "$OUT/$name"
}
export -f compile_javascript_fuzzer

glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null || echo "no glibc")
echo "== build: .clusterfuzzlite/build.sh ($PROJECT; $glibc, node $(node --version))"
start=$SECONDS
if ! (cd "$SRC/$PROJECT" && bash -eu "$SRC/build.sh") >"$TMP/build.log" 2>&1; then
  tail -n 60 "$TMP/build.log"
  echo "build.sh failed (the last lines of its output are above)" >&2
  exit 1
fi
grep -E '^(marked|jazzer\.js (needs|runs))' "$TMP/build.log" | sed 's/^/   /' || true
echo "   built in $((SECONDS - start)) s"

# The targets: every executable in $OUT that names LLVMFuzzerTestOneInput (how OSS-Fuzz's runner
# scripts find them); each target of fuzz/jazzer.mjs must be among them.
mapfile -t built < <(cd "$OUT" && for f in *; do
  if [[ -f "$f" && -x "$f" ]] && grep -q LLVMFuzzerTestOneInput "$f"; then echo "$f"; fi
done)
mapfile -t expected < <(cd "$SRC/$PROJECT" && node --input-type=module \
  -e 'import { TARGETS } from "./fuzz/jazzer.mjs"; console.log(Object.keys(TARGETS).join("\n"));')
failed=()
for name in "${expected[@]}"; do
  if [[ " ${built[*]} " != *" $name "* ]]; then failed+=("$name (no launcher in \$OUT)"); fi
done
if [[ -n "$ONLY" ]]; then
  IFS=, read -r -a selected <<<"$ONLY"
else
  selected=("${expected[@]}")
fi

# libFuzzer's [libfuzzer] options of $1.options as -key=value flags (OSS-Fuzz's parse_options).
options_flags() {
  [[ -f "$1.options" ]] || return 0
  awk '
    /^[ \t]*\[/ { section = $0; gsub(/[][ \t]/, "", section); next }
    section == "libfuzzer" && /=/ {
      key = $0; sub(/=.*/, "", key); gsub(/[ \t]/, "", key)
      value = $0; sub(/^[^=]*=[ \t]*/, "", value); sub(/[ \t]+$/, "", value)
      if (key != "") print "-" key "=" value
    }' "$1.options"
}

if [[ -n "$RUNS" ]]; then
  budget=(-runs="$RUNS")
  limit=600
else
  budget=(-max_total_time="$TIME")
  limit=$((TIME + 180))
fi
echo "== run: cd \$OUT && ./<target> ${budget[*]} <seed corpus> (CIFuzz flags, .options, .dict)"
for name in "${selected[@]}"; do
  if [[ " ${built[*]} " != *" $name "* ]]; then
    failed+=("$name (no launcher in \$OUT)")
    echo "   $name: no launcher in \$OUT"
    continue
  fi
  corpus="$WORK/run/$name/corpus"
  artifacts="$WORK/run/$name/artifacts"
  log="$WORK/run/$name/log"
  mkdir -p "$corpus" "$artifacts"
  seeds=0
  if [[ -f "$OUT/${name}_seed_corpus.zip" ]]; then
    unzip -q -o -d "$corpus" "$OUT/${name}_seed_corpus.zip"
    seeds=$(find "$corpus" -type f | wc -l)
  fi
  mapfile -t opts < <(options_flags "$OUT/$name")
  dict=()
  if [[ -f "$OUT/$name.dict" ]]; then dict=(-dict="$name.dict"); fi
  # CIFuzz's FUZZER_ARGS, the budget, the corpus, the .options flags, the dictionary; the target
  # runs without $OUT in its environment, as under run_fuzzer.
  args=(-rss_limit_mb=2560 -timeout=25 "${budget[@]}" -artifact_prefix="$artifacts/" "$corpus"
    "${opts[@]}" "${dict[@]}")
  start=$SECONDS
  status=0
  (cd "$OUT" && env -u OUT timeout -k 10 "$limit" "./$name" "${args[@]}" </dev/null) >"$log" 2>&1 \
    || status=$?
  took=$((SECONDS - start))
  done_line=$(grep -E '^Done [0-9]+ runs in' "$log" | tail -n 1 || true)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
  found=$(find "$artifacts" -type f | wc -l)
  if ((status == 0)) && [[ -n "$done_line" ]] && ((found == 0)); then
    echo "   $name: ok, $seeds seeds, ${cov:-no coverage line}, $done_line (${took} s)"
  else
    why="exit $status"
    if ((status == 124 || status == 137)); then why="still running after $limit s"; fi
    if ((found > 0)); then why="$why, $found artifact(s): $(cd "$artifacts" && ls | head -n 3 | tr '\n' ' ')"; fi
    if [[ -z "$done_line" ]]; then why="$why, no 'Done N runs' line"; fi
    echo "   $name: FAILED ($why; ${took} s); the last lines of its output:"
    tail -n 25 "$log" | sed 's/^/     | /'
    failed+=("$name")
  fi
done

if ((${#failed[@]} > 0)); then
  echo "== ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "== all ${#selected[@]} target(s) started from \$OUT and ran without a finding"
