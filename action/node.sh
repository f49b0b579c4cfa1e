#!/usr/bin/env bash
# The action's Node.js check: a node already on the runner that the package supports
# (^20.19.0 || >=22.12.0) is used as it is, so that the action does not change the Node.js
# version of the steps after it; otherwise setup-node installs one for the action.
set -euo pipefail
usable=false
if version=$(node -p 'process.versions.node' 2>/dev/null); then
  IFS=. read -r major minor _ <<<"$version"
  if { [ "$major" -eq 20 ] && [ "$minor" -ge 19 ]; } || { [ "$major" -eq 22 ] && [ "$minor" -ge 12 ]; } || [ "$major" -ge 23 ]; then
    usable=true
  fi
fi
echo "usable=$usable" >>"$GITHUB_OUTPUT"
