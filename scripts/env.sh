# scripts/env.sh — sourced (not executed) by scripts/build.sh, test.sh, size.sh, start.sh.
#
# Sets up the environment for building this crate for wasm32 and for running its browser tests.
# Cheap: it only reads what scripts/setup.sh recorded in .tools/ (falls back to a quick detection).
#
# Exports:
#   ATPROTO_ROOT          repo root
#   ATPROTO_WASM_ROUTE    "rustup" (rustup's wasm32-unknown-unknown target) or
#                         "debian" (Debian's rustc-web + a wasm32 std built once by setup.sh)
#   NATIVE_PATH           PATH as it was before this file changed it: run native `cargo test` with
#                         `PATH="$NATIVE_PATH" cargo test` to get the rustup host toolchain.
#   PATH                  debian route: .tools/debian-rust/bin (cargo, rustc, rustdoc -> /usr/bin)
#                         first, then ~/.cargo/bin (wasm-pack, wasm-bindgen, geckodriver), node_modules/.bin
#   RUSTC, RUSTDOC        debian route only: /usr/bin/rustc, /usr/bin/rustdoc
#   ATPROTO_CHROMEDRIVER, ATPROTO_GECKODRIVER, ATPROTO_WEBKITDRIVER, ATPROTO_CHROMIUM, ATPROTO_FIREFOX
#                         paths of the WebDriver servers / browsers (empty when not found;
#                         WebKitWebDriver starts WebKitGTK's MiniBrowser itself).
#                         Deliberately NOT exported as CHROMEDRIVER/GECKODRIVER/SAFARIDRIVER:
#                         wasm-bindgen-test-runner picks the first of GECKODRIVER, SAFARIDRIVER,
#                         CHROMEDRIVER that is set, so exporting them would send `wasm-pack test
#                         --chrome` to Firefox.
#   WASM_BINDGEN_TEST_WEBDRIVER_JSON   absolute path of webdriver.json (browser flags for headless/root)
#   WASM_OPT              node_modules/.bin/wasm-opt (npm binaryen)

if [ -z "${ATPROTO_ENV_LOADED:-}" ]; then
  ATPROTO_ENV_LOADED=1
  ATPROTO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  export ATPROTO_ROOT ATPROTO_ENV_LOADED
  export NATIVE_PATH="${NATIVE_PATH:-$PATH}"

  _cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

  if [ -z "${ATPROTO_WASM_ROUTE:-}" ]; then
    if [ -s "$ATPROTO_ROOT/.tools/route" ]; then
      ATPROTO_WASM_ROUTE="$(cat "$ATPROTO_ROOT/.tools/route")"
    elif command -v rustup >/dev/null 2>&1 \
         && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
      ATPROTO_WASM_ROUTE=rustup
    elif [ -f /usr/lib/rustlib/wasm32-unknown-unknown/lib/.atproto-wasm32-std.stamp ]; then
      ATPROTO_WASM_ROUTE=debian
    else
      ATPROTO_WASM_ROUTE=rustup   # build will fail with a clear error; run scripts/setup.sh
    fi
  fi
  export ATPROTO_WASM_ROUTE

  case ":$PATH:" in *":$_cargo_bin:"*) ;; *) PATH="$_cargo_bin:$PATH" ;; esac
  PATH="$ATPROTO_ROOT/node_modules/.bin:$PATH"
  if [ "$ATPROTO_WASM_ROUTE" = debian ]; then
    # Only cargo/rustc/rustdoc are taken from /usr/bin (via a shim dir), so nothing else in
    # /usr/bin shadows the user's PATH (pyenv, /usr/local/bin, ...).
    PATH="$ATPROTO_ROOT/.tools/debian-rust/bin:$PATH"
    export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
  fi
  export PATH

  _first() { for _p in "$@"; do if [ -n "$_p" ] && [ -x "$_p" ]; then echo "$_p"; return 0; fi; done; echo ""; }
  export ATPROTO_CHROMEDRIVER="${ATPROTO_CHROMEDRIVER:-$(_first "${CHROMEDRIVER:-}" /usr/bin/chromedriver "$(command -v chromedriver 2>/dev/null)")}"
  export ATPROTO_GECKODRIVER="${ATPROTO_GECKODRIVER:-$(_first "${GECKODRIVER:-}" "$_cargo_bin/geckodriver" "$(command -v geckodriver 2>/dev/null)")}"
  export ATPROTO_WEBKITDRIVER="${ATPROTO_WEBKITDRIVER:-$(_first /usr/bin/WebKitWebDriver "$(command -v WebKitWebDriver 2>/dev/null)")}"
  export ATPROTO_CHROMIUM="${ATPROTO_CHROMIUM:-$(_first /usr/bin/chromium "$(command -v chromium 2>/dev/null)" "$(command -v google-chrome 2>/dev/null)")}"
  export ATPROTO_FIREFOX="${ATPROTO_FIREFOX:-$(_first /usr/bin/firefox-esr "$(command -v firefox 2>/dev/null)")}"
  export WASM_BINDGEN_TEST_WEBDRIVER_JSON="${WASM_BINDGEN_TEST_WEBDRIVER_JSON:-$ATPROTO_ROOT/webdriver.json}"
  export WASM_OPT="$ATPROTO_ROOT/node_modules/.bin/wasm-opt"
  unset -f _first
  unset _cargo_bin _p
fi

# Run directly (`bash scripts/env.sh`), print the environment as shell exports, e.g. for
# `eval "$(bash scripts/env.sh)"`.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  for _v in ATPROTO_ROOT ATPROTO_WASM_ROUTE PATH NATIVE_PATH RUSTC RUSTDOC ATPROTO_CHROMEDRIVER \
            ATPROTO_GECKODRIVER ATPROTO_WEBKITDRIVER ATPROTO_CHROMIUM ATPROTO_FIREFOX WASM_BINDGEN_TEST_WEBDRIVER_JSON WASM_OPT; do
    if [ -n "${!_v+x}" ]; then printf 'export %s=%q\n' "$_v" "${!_v}"; fi
  done
  unset _v
fi
