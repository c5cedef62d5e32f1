#!/usr/bin/env bash
# scripts/start.sh — `npm start`: install what is missing, build pkg/, serve the demo page.
#
#   http://127.0.0.1:8080/       -> www/  (also at /www/)
#   http://127.0.0.1:8080/pkg/   -> pkg/  (wasm-pack output)
#
# Env: HOST, PORT (server address), START_SKIP_BUILD=1 (serve the existing pkg/ as is).
# Extend here (e.g. start a local PDS first) when the demo needs it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${START_SKIP_BUILD:-0}" != 1 ]; then
  bash scripts/setup.sh
  bash scripts/build.sh
fi
[ -f www/index.html ] || echo "start: note: www/index.html does not exist yet; the server lists www/ instead"
exec node scripts/serve.mjs --host "${HOST:-127.0.0.1}" --port "${PORT:-8080}"
