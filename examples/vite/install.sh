#!/usr/bin/env bash
# examples/vite/install.sh — installs the example app's dependencies the way a user would:
#   1. `npm ci` from the committed package-lock.json (vite, @atproto/api, @atcute/client);
#   2. the package from this repository's pkg/ (run `npm run build` first): `npm pack`, then
#      `npm install --no-save` of that tarball — a real copy in node_modules, as from the registry
#      (`npm install /path/to/pkg` would make a symlink, whose .wasm the Vite dev server refuses:
#      403 "outside of Vite serving allow list"). Not saved: the tarball's hash changes with every
#      build, and a lockfile naming it could not be `npm ci`-ed.
# Idempotent: stamps (hash of package.json + package-lock.json; hash of pkg/) make it a no-op
# afterwards; a new pkg/ only re-installs the package (and clears Vite's pre-bundle cache).
# Env: EXAMPLE_FORCE_INSTALL=1 reinstalls regardless of the stamps.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKG="$(cd "$HERE/../.." && pwd)/pkg"
DEPS_STAMP="$HERE/node_modules/.example-deps.stamp"
PKG_STAMP="$HERE/node_modules/.example-pkg.stamp"
say() { echo "[examples/vite/install] $*" >&2; }

[ -f "$PKG/package.json" ] || { say "ERROR: $PKG is not built (npm run build)"; exit 1; }
cd "$HERE"
deps_want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
pkg_want="$(cd "$PKG" && find . -maxdepth 1 -type f ! -name '.*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
force="${EXAMPLE_FORCE_INSTALL:-}"

if [ "$force" = 1 ] || [ ! -f "$DEPS_STAMP" ] || [ "$(cat "$DEPS_STAMP")" != "$deps_want" ]; then
  say "npm ci (first use: ~15 s)"
  # (--loglevel=error: @atproto/api declares node >= 22 and npm warns on Node 20; it is only
  # bundled here, for the browser.)
  npm ci --no-audit --no-fund --loglevel=error 1>&2
  echo "$deps_want" >"$DEPS_STAMP"
  rm -f "$PKG_STAMP"
fi

if [ "$force" = 1 ] || [ ! -f "$PKG_STAMP" ] || [ "$(cat "$PKG_STAMP")" != "$pkg_want" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  tarball="$(npm pack "$PKG" --pack-destination "$tmp" --loglevel=error | tail -n1)"
  say "npm install --no-save $tarball (from pkg/)"
  npm install --no-save --no-audit --no-fund --loglevel=error "$tmp/$tarball" 1>&2
  [ -f node_modules/atproto-oauth-wasm/package.json ] && [ ! -L node_modules/atproto-oauth-wasm ] \
    || { say "ERROR: node_modules/atproto-oauth-wasm is missing or a symlink"; exit 1; }
  rm -rf node_modules/.vite # Vite's pre-bundled copy of the previous package
  echo "$pkg_want" >"$PKG_STAMP"
fi
