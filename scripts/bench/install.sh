#!/usr/bin/env bash
# scripts/bench/install.sh — installs the benchmark's own npm dependencies (the clients it
# compares against, and esbuild) into scripts/bench/node_modules from the committed lockfile.
# Idempotent: a stamp (hash of package.json + package-lock.json) makes it a no-op afterwards.
# Env: BENCH_FORCE_INSTALL=1 reinstalls regardless of the stamp.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STAMP="$HERE/node_modules/.bench-install.stamp"
want="$(cat "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ "${BENCH_FORCE_INSTALL:-}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
echo "[bench/install] npm ci in scripts/bench (first use: ~30 s)" >&2
cd "$HERE"
npm ci --no-audit --no-fund --loglevel=error 1>&2
# esbuild's JS API finds its binary through the optional @esbuild/<platform> package; check it runs.
node -e 'require("esbuild").transformSync("let a = 1")' \
  || { echo "[bench/install] esbuild does not run" >&2; exit 1; }
echo "$want" > "$STAMP"
