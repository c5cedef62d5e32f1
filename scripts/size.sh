#!/usr/bin/env bash
# scripts/size.sh — `npm run bench:size`: size of what a browser downloads (a benchmark, not a test).
#
# Builds first when pkg/ is missing or older than the sources (src/, Cargo.toml, Cargo.lock,
# wasm-pack.toml), then prints raw, gzip -9 and brotli (q11) bytes of pkg/*.wasm, the JS glue
# (pkg/*.js and pkg/snippets/**.js) and the total. The last line is one JSON object for tooling.
#   SIZE_REBUILD=1  always rebuild first      SIZE_NO_BUILD=1  never build
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

OUT_DIR="$(sed -n -E 's/^[[:space:]]*out_dir[[:space:]]*=[[:space:]]*"([^"]*)".*/\1/p' wasm-pack.toml 2>/dev/null | tail -n1)"
OUT_DIR="${OUT_DIR:-pkg}"

needs_build() {
  [ "${SIZE_REBUILD:-0}" = 1 ] && return 0
  local wasm
  wasm="$(ls "$OUT_DIR"/*_bg.wasm 2>/dev/null | head -n1)"
  [ -n "$wasm" ] || return 0
  [ -n "$(find src Cargo.toml Cargo.lock wasm-pack.toml -newer "$wasm" -type f 2>/dev/null | head -n1)" ]
}

if [ "${SIZE_NO_BUILD:-0}" != 1 ] && needs_build; then
  echo "size: $OUT_DIR/ missing or stale; building" >&2
  bash scripts/setup.sh >&2
  bash scripts/build.sh >&2
fi

node scripts/sizes.mjs "$OUT_DIR"
