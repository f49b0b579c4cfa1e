#!/usr/bin/env bash
# The action's install step: the project at the action's path, built (once per job).
set -euo pipefail
cd "$GITHUB_ACTION_PATH"
if [ ! -f dist/cli/main.js ]; then
  npm ci --no-audit --no-fund --ignore-scripts
  npm run build
fi
