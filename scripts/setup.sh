#!/usr/bin/env bash
# scripts/setup.sh — install everything needed to build this crate for wasm32 and run its tests.
#
# Idempotent and fast (a few seconds) when everything is already there. No tty needed.
# Long steps log to .tools/logs/<step>.log; on failure the tail of the log is printed.
#
# Two routes to a wasm32 Rust toolchain (see /work/shared/TOOLCHAIN.md for the Debian one):
#   rustup  — rustup's wasm32-unknown-unknown target is installed and works (normal laptop), or
#             can be added with `rustup target add` (tried when the Debian route is not taken).
#   debian  — Debian 12 as root without rustup downloads: apt packages rustc-web cargo-web
#             rust-web-src rust-web-clippy lld-22, and a wasm32 std built once with -Z build-std and copied into
#             /usr/lib/rustlib/wasm32-unknown-unknown/lib (re-built when `/usr/bin/rustc -vV` changes).
# Force a route with ATPROTO_WASM_ROUTE=rustup|debian.
#
# Also installs: Chromium + chromedriver + Firefox ESR, and WebKitGTK's WebDriver (webkit2gtk-driver,
# which brings libwebkit2gtk-4.1-0 and its MiniBrowser) + Xvfb (apt, when root on Debian), wasm-bindgen-cli
# at exactly the version in Cargo.lock, wasm-pack, geckodriver (cargo install, host toolchain),
# and the npm devDependencies (binaryen for wasm-opt, playwright-core).
#
# Afterwards, `source scripts/env.sh` gives the environment (scripts/build.sh and test.sh do this).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools"
LOGS="$TOOLS/logs"
mkdir -p "$LOGS"

WASM_PACK_VERSION="${WASM_PACK_VERSION:-0.15.1}"
GECKODRIVER_VERSION="${GECKODRIVER_VERSION:-0.37.1}"
CARGO_FUZZ_VERSION="${CARGO_FUZZ_VERSION:-0.13.2}"
# rust-web-clippy: the lint stage runs clippy on the wasm32-only code (browser glue, JS surface).
DEBIAN_RUST_PKGS=(rustc-web cargo-web rust-web-src rust-web-clippy lld-22)
# webkit2gtk-driver: WebKitWebDriver and (through libwebkit2gtk-4.1-0) MiniBrowser, the WebKit of
# the `webkit` test stage; xvfb + xauth (xvfb-run): WebKitGTK has no headless mode.
DEBIAN_BROWSER_PKGS=(chromium chromium-driver firefox-esr webkit2gtk-driver xvfb xauth)
STD_DIR=/usr/lib/rustlib/wasm32-unknown-unknown/lib
STD_STAMP="$STD_DIR/.atproto-wasm32-std.stamp"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac

T_START=$SECONDS
say() { echo "setup: $*"; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# run_logged NAME CMD... — run CMD with output to .tools/logs/NAME.log; on failure print its tail.
run_logged() {
  local name="$1"; shift
  local log="$LOGS/$name.log" t0=$SECONDS rc=0
  say "$name ... (log: ${log#"$ROOT"/})"
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "setup: $name FAILED (exit $rc) after $((SECONDS - t0))s; last 60 lines of $log:" >&2
    tail -n 60 "$log" >&2
    return "$rc"
  fi
  say "$name ok ($((SECONDS - t0))s)"
}

is_root() { [ "$(id -u)" = 0 ]; }
is_debian() { [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; }
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
apt_install_missing() {
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! is_root; then
    say "WARNING: missing Debian packages (${missing[*]}) and not root; install them yourself:"
    say "         sudo apt-get install ${missing[*]}"
    return 0
  fi
  if [ "$APT_UPDATED" = 0 ]; then
    run_logged apt-update env DEBIAN_FRONTEND=noninteractive apt-get update
    APT_UPDATED=1
  fi
  run_logged "apt-install" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -o Dpkg::Use-Pty=0 "${missing[@]}"
}

# try_wasm_build RUSTC — compile a tiny cdylib for wasm32 (needs std + linker); quiet.
try_wasm_build() {
  local rustc="$1" d
  d="$(mktemp -d)"
  printf 'pub fn f(v: &[u8]) -> usize { v.iter().filter(|b| **b > 7).count() }\n' >"$d/lib.rs"
  if "$rustc" --edition 2021 --crate-type cdylib --target wasm32-unknown-unknown -C opt-level=1 \
       -o "$d/t.wasm" "$d/lib.rs" >"$d/log" 2>&1 && [ -s "$d/t.wasm" ]; then
    rm -rf "$d"; return 0
  fi
  cp "$d/log" "$LOGS/try-wasm-build.log" 2>/dev/null || true
  rm -rf "$d"; return 1
}

rustup_wasm_ok() {
  command -v rustup >/dev/null 2>&1 || return 1
  rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown || return 1
  try_wasm_build rustc
}

debian_std_current() {
  [ -x /usr/bin/rustc ] && [ -f "$STD_STAMP" ] && [ "$(cat "$STD_STAMP")" = "$(/usr/bin/rustc -vV)" ]
}

build_debian_std() {
  local d; d="$(mktemp -d)"
  mkdir -p "$d/src"
  cat >"$d/Cargo.toml" <<'EOF'
[package]
name = "atproto_wasm32_std_build"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]
EOF
  printf '#[test]\nfn t() { assert_eq!(1 + 1, 2); }\n' >"$d/src/lib.rs"
  # Debian cargo/rustc explicitly; RUSTC_BOOTSTRAP for -Z build-std; embed-bitcode so that
  # `lto = true` builds can use these rlibs; `test` so that wasm-pack test finds crate `test`.
  (cd "$d" && env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
      RUSTFLAGS="-C embed-bitcode=yes --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/=" CARGO_TARGET_DIR="$d/target" \
      /usr/bin/cargo test --no-run --release --target wasm32-unknown-unknown \
      -Z build-std=std,panic_abort,test) || { rm -rf "$d"; return 1; }
  mkdir -p "$STD_DIR"
  rm -f "$STD_DIR"/*.rlib "$STD_STAMP"
  local n=0 f
  for f in "$d"/target/wasm32-unknown-unknown/release/deps/*.rlib; do
    case "$(basename "$f")" in libatproto_wasm32_std_build-*) continue ;; esac
    cp "$f" "$STD_DIR/" || return 1; n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { rm -rf "$d"; echo "no rlibs produced" >&2; return 1; }
  /usr/bin/rustc -vV >"$STD_STAMP"
  echo "installed $n rlibs into $STD_DIR"
  rm -rf "$d"
}

setup_debian_route() {
  is_debian || die "the Debian route needs Debian (apt-get); install rustup's wasm32 target instead"
  is_root || die "the Debian route needs root (apt-get, /usr/lib/rustlib); or use ATPROTO_WASM_ROUTE=rustup"
  apt_install_missing "${DEBIAN_RUST_PKGS[@]}"
  if ! debian_std_current; then
    say "building the wasm32 std for $(/usr/bin/rustc -V) (about a minute)"
    run_logged wasm32-std build_debian_std
    # Cargo's fingerprints do not cover the sysroot: wasm32 artifacts built against the previous
    # std would fail with "can't find crate" (E0463), so drop them.
    rm -rf "$ROOT/target/wasm32-unknown-unknown"
  fi
  mkdir -p "$TOOLS/debian-rust/bin"
  local b
  for b in cargo rustc rustdoc cargo-clippy clippy-driver; do ln -sfn "/usr/bin/$b" "$TOOLS/debian-rust/bin/$b"; done
  try_wasm_build /usr/bin/rustc || { tail -n 30 "$LOGS/try-wasm-build.log" >&2; die "Debian rustc cannot build for wasm32 even after installing the std"; }
}

# ---------------------------------------------------------------- 1. wasm32 Rust toolchain
ROUTE="${ATPROTO_WASM_ROUTE:-auto}"
if [ "$ROUTE" = auto ]; then
  if rustup_wasm_ok; then
    ROUTE=rustup
  elif debian_std_current && try_wasm_build /usr/bin/rustc; then
    ROUTE=debian
  elif is_debian && is_root; then
    ROUTE=debian
  else
    ROUTE=rustup
  fi
fi
case "$ROUTE" in
  rustup)
    if ! rustup_wasm_ok; then
      command -v rustup >/dev/null 2>&1 || die "no rustup and no Debian route; install rustup (https://rustup.rs)"
      run_logged rustup-target-add timeout 300 rustup target add wasm32-unknown-unknown
      rustup_wasm_ok || { tail -n 30 "$LOGS/try-wasm-build.log" >&2 || true; die "rustup's wasm32 target does not build"; }
    fi
    # scripts/build.sh rebuilds std with panic=immediate-abort from the toolchain's std source.
    [ -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ] \
      || run_logged rustup-rust-src timeout 300 rustup component add rust-src \
      || say "WARNING: no rust-src: the build links the prebuilt std (see wasm-pack.toml, std)"
    ;;
  debian) setup_debian_route ;;
  *) die "ATPROTO_WASM_ROUTE must be rustup or debian, not '$ROUTE'" ;;
esac
echo "$ROUTE" >"$TOOLS/route"
say "wasm32 route: $ROUTE"

# ---------------------------------------------------------------- 2. browsers for tests
if is_debian; then
  apt_install_missing "${DEBIAN_BROWSER_PKGS[@]}"
fi

# ---------------------------------------------------------------- 3. cargo-installed tools
# Native (host) cargo: rustup's, i.e. whatever `cargo` is on the caller's PATH.
command -v cargo >/dev/null 2>&1 || die "no cargo on PATH (install rustup's host toolchain)"

if [ ! -f Cargo.lock ]; then
  run_logged generate-lockfile cargo generate-lockfile
fi
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
[ -n "$WBG_VERSION" ] || die "could not read the wasm-bindgen version from Cargo.lock"

# cargo_install NAME VERSION CRATE_ARGS... — --locked first; fall back to a fresh resolution
# (a crate's published lock file can name a dependency version the registry no longer serves,
# e.g. wasm-bindgen-cli 0.2.130's webpki-roots 1.0.11).
cargo_install() {
  local name="$1" version="$2"; shift 2
  if run_logged "install-$name" cargo install "$@" --version "$version" --locked; then return 0; fi
  say "retrying $name without --locked"
  run_logged "install-$name-unlocked" cargo install "$@" --version "$version"
}
tool_version() { "$1" --version 2>/dev/null | head -n1 | awk '{print $2}' | sed 's/^v//'; }

if [ "$(tool_version "$CARGO_BIN/wasm-bindgen" || true)" != "$WBG_VERSION" ] \
   || [ "$(tool_version "$CARGO_BIN/wasm-bindgen-test-runner" || true)" != "$WBG_VERSION" ]; then
  say "wasm-bindgen-cli $WBG_VERSION (matches Cargo.lock) is missing; installing (about 5 minutes)"
  cargo_install wasm-bindgen-cli "$WBG_VERSION" wasm-bindgen-cli --force
fi

if ! command -v wasm-pack >/dev/null 2>&1; then
  say "wasm-pack is missing; installing $WASM_PACK_VERSION (about 5 minutes)"
  cargo_install wasm-pack "$WASM_PACK_VERSION" wasm-pack
fi

if ! command -v cargo-fuzz >/dev/null 2>&1; then
  say "cargo-fuzz is missing; installing $CARGO_FUZZ_VERSION (a few minutes)"
  cargo_install cargo-fuzz "$CARGO_FUZZ_VERSION" cargo-fuzz
fi

GD="$(command -v geckodriver 2>/dev/null || true)"
if [ -z "$GD" ]; then
  say "geckodriver is missing; installing $GECKODRIVER_VERSION (a few minutes)"
  cargo_install geckodriver "$GECKODRIVER_VERSION" geckodriver
fi

# ---------------------------------------------------------------- 4. npm devDependencies
command -v npm >/dev/null 2>&1 || die "npm not found (need Node.js >= 18 and npm)"
NPM_STAMP="$ROOT/node_modules/.atproto-setup.stamp"
npm_want="$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$NPM_STAMP" ] || [ "$(cat "$NPM_STAMP")" != "$npm_want" ] || [ ! -x node_modules/.bin/wasm-opt ]; then
  if [ -f package-lock.json ]; then
    run_logged npm-ci npm ci --no-audit --no-fund
  else
    run_logged npm-install npm install --no-audit --no-fund
    npm_want="$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"
  fi
  echo "$npm_want" >"$NPM_STAMP"
fi

# ---------------------------------------------------------------- 5. summary
# shellcheck source=scripts/env.sh
export ATPROTO_WASM_ROUTE="$ROUTE"
source "$ROOT/scripts/env.sh"
say "rust (wasm32): $(rustc -V) [$ATPROTO_WASM_ROUTE route]"
say "rust (native): $(PATH="$NATIVE_PATH" rustc -V)"
say "wasm-bindgen: $(tool_version wasm-bindgen)  wasm-pack: $(tool_version wasm-pack)  wasm-opt: $("$WASM_OPT" --version 2>/dev/null | head -n1)"
say "chromedriver: ${ATPROTO_CHROMEDRIVER:-MISSING}  geckodriver: ${ATPROTO_GECKODRIVER:-MISSING}  WebKitWebDriver: ${ATPROTO_WEBKITDRIVER:-MISSING}"
say "browsers: ${ATPROTO_CHROMIUM:-no chromium}  ${ATPROTO_FIREFOX:-no firefox}"
say "done in $((SECONDS - T_START))s"
