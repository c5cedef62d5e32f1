#!/usr/bin/env bash
# scripts/start.sh — `npm start`: install what is missing, build pkg/, then scripts/demo.mjs
# (the local PDS with demo accounts + the demo page on http://127.0.0.1:8080).
#
# Env: DEMO_NETWORK=bsky (real network, no local PDS), HOST, PORT,
#      START_SKIP_BUILD=1 (serve the existing pkg/ as is).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${START_SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/setup.sh
  bash scripts/build.sh
fi
exec node scripts/demo.mjs
