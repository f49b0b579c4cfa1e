#!/usr/bin/env bash
# The action's check step: dmg-validate check on the files given, one per line, with the
# runner's annotations and job summary (--format github), and a SARIF log when asked. The exit
# code becomes the step's output; failing on it is the next step's decision.
set -uo pipefail
files=()
while IFS= read -r line; do
  line="${line#"${line%%[![:space:]]*}"}"
  line="${line%"${line##*[![:space:]]}"}"
  [ -n "$line" ] && files+=("$line")
done <<< "${INPUT_FILES:-}"
if [ "${#files[@]}" -eq 0 ]; then
  echo "::error::dmg-validate: no files given (the files input is empty)"
  echo "exit-code=2" >> "${GITHUB_OUTPUT:-/dev/null}"
  exit 0
fi
extra=()
# The extra options are words, split as a shell would split them (no globbing).
if [ -n "${INPUT_ARGS:-}" ]; then
  set -f
  read -r -a extra <<< "$INPUT_ARGS"
  set +f
fi
sarif=()
[ -n "${INPUT_SARIF_FILE:-}" ] && sarif=(--sarif "$INPUT_SARIF_FILE")
node "$GITHUB_ACTION_PATH/bin/dmg-validate.js" check --format github "${sarif[@]}" "${extra[@]}" -- "${files[@]}"
code=$?
echo "exit-code=$code" >> "${GITHUB_OUTPUT:-/dev/null}"
exit 0
