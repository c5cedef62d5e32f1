#!/usr/bin/env bash
# scripts/build.sh — build the crate to WebAssembly with wasm-pack, then shrink it with wasm-opt.
#
# Settings come from wasm-pack.toml (read here; wasm-pack does not read that file):
#   targets, out_dir, profile, rustflags, wasm_opt, wasm_opt_features, wasm_opt_extra, std.
# The "web" target goes to out_dir (pkg/): pkg/atproto_oauth_wasm.js, _bg.wasm, .d.ts, package.json.
# Needs the tools from scripts/setup.sh (not run from here; `npm test` runs it first).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

say() { echo "build: $*"; }
die() { echo "build: ERROR: $*" >&2; exit 1; }

# cfg KEY [DEFAULT] — value of `KEY = "value"` in wasm-pack.toml (last one wins).
cfg() {
  local v
  v="$(sed -n -E "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\"[[:space:]]*(#.*)?\$/\\1/p" wasm-pack.toml 2>/dev/null | tail -n1)"
  if [ -z "$v" ] && ! grep -qE "^[[:space:]]*$1[[:space:]]*=" wasm-pack.toml 2>/dev/null; then v="${2:-}"; fi
  printf '%s' "$v"
}

TARGETS="$(cfg targets web)"
OUT_DIR="$(cfg out_dir pkg)"
PROFILE="$(cfg profile release)"
OPT_LEVEL="$(cfg wasm_opt -Oz)"
OPT_FEATURES="$(cfg wasm_opt_features)"
OPT_EXTRA="$(cfg wasm_opt_extra)"
EXTRA_RUSTFLAGS="$(cfg rustflags)"
STD_MODE="$(cfg std immediate-abort)"
ORDER_FUNCTIONS="$(cfg order_functions)"

case "$PROFILE" in
  release) PROFILE_FLAG=--release ;;
  dev) PROFILE_FLAG=--dev ;;
  profiling) PROFILE_FLAG=--profiling ;;
  *) die "wasm-pack.toml: profile must be release, dev or profiling (got '$PROFILE')" ;;
esac
command -v wasm-pack >/dev/null 2>&1 || die "wasm-pack not found; run scripts/setup.sh"
command -v wasm-bindgen >/dev/null 2>&1 || die "wasm-bindgen not found; run scripts/setup.sh"

# Everything the output depends on, hashed: when pkg/ was built from exactly these inputs, there
# is nothing to do (so `npm start` does not spend half a minute rebuilding and re-optimizing).
# BUILD_FORCE=1 rebuilds anyway.
inputs_hash() {
  {
    find src -type f | LC_ALL=C sort | xargs sha256sum
    sha256sum Cargo.toml Cargo.lock wasm-pack.toml scripts/build.sh scripts/pkg-json.mjs scripts/inline-snippets.mjs scripts/minify-glue.mjs scripts/short-names.mjs scripts/order-functions.mjs scripts/guard-freed.mjs
    rustc -vV
    wasm-bindgen --version
    [ -x "$WASM_OPT" ] && "$WASM_OPT" --version
    echo "$TARGETS $OUT_DIR $PROFILE $EXTRA_RUSTFLAGS $OPT_LEVEL $OPT_FEATURES $OPT_EXTRA $ORDER_FUNCTIONS ${RUSTFLAGS:-} ${CARGO_ENCODED_RUSTFLAGS:-}"
  } 2>/dev/null | sha256sum | cut -d' ' -f1
}
STAMP="$OUT_DIR/.build-inputs"
WANT="$(inputs_hash)"
if [ "${BUILD_FORCE:-0}" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] \
   && ls "$OUT_DIR"/*_bg.wasm >/dev/null 2>&1; then
  say "$OUT_DIR/ is up to date (same sources, toolchain and settings); BUILD_FORCE=1 rebuilds"
  exit 0
fi
rm -f "$STAMP"

# std rebuilt with panic=immediate-abort (wasm-pack.toml `std`): a panic is then the bare trap it
# already was in the browser (panic = "abort", no hook: nothing is ever printed), without the
# formatting, locations and messages std's panic machinery links in (about 20 KB gzip). The same
# rebuild turns on std's `optimize_for_size` feature (smaller variants of sorting, formatting and
# other core/alloc code; same behavior): 194,746 -> 191,401 B gzip, measured in the sixth session.
# Needs the compiler's std source (Debian: rust-web-src; rustup: `rustup component add rust-src`)
# and `-Zbuild-std`, i.e. RUSTC_BOOTSTRAP=1 (set for this cargo run only).
BUILD_STD=0
if [ "$STD_MODE" = immediate-abort ] && [ "$PROFILE" != dev ]; then
  std_src="$(rustc --print sysroot)/lib/rustlib/src/rust/library/std"
  if [ -d "$std_src" ] && RUSTC_BOOTSTRAP=1 rustc -Zunstable-options -Cpanic=immediate-abort \
       --target wasm32-unknown-unknown --print cfg >/dev/null 2>&1; then
    BUILD_STD=1
  else
    echo "build: WARNING: std is not rebuilt with panic=immediate-abort (no std source at $std_src," \
      "or rustc $(rustc -V | cut -d' ' -f2) has no -Cpanic=immediate-abort); the .wasm is about" \
      "20 KB gzip larger and npm test's size stage will fail. rustup: rustup component add rust-src" >&2
  fi
elif [ -n "$STD_MODE" ] && [ "$STD_MODE" != immediate-abort ]; then
  die "wasm-pack.toml: std must be \"immediate-abort\" or \"\" (got '$STD_MODE')"
fi

T0=$SECONDS
say "route $ATPROTO_WASM_ROUTE, $(rustc -V), targets: $TARGETS, profile: $PROFILE, wasm-opt: ${OPT_LEVEL:-off}, std: $([ $BUILD_STD = 1 ] && echo immediate-abort || echo prebuilt)"

build_target() {
  local target="$1" out="$2" t0=$SECONDS
  say "wasm-pack build $PROFILE_FLAG --target $target --out-dir $out"
  # --mode no-install: use the installed wasm-bindgen (same version as Cargo.lock), download nothing.
  # The remaps keep this machine's paths (panic locations name source files) out of the shipped
  # .wasm, so builds on different machines give the same bytes. Passed 0x1f-separated
  # (CARGO_ENCODED_RUSTFLAGS, after the caller's own flags) so that a path with spaces stays one flag.
  local flags=()
  if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
    IFS=$'\x1f' read -ra flags <<<"$CARGO_ENCODED_RUSTFLAGS"
  else
    read -ra flags <<<"${RUSTFLAGS:-}"
  fi
  flags+=("--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}/registry/src/=" "--remap-path-prefix=$ROOT/=")
  # wasm-pack.toml `rustflags` (space-separated; for this build only, std included).
  local extra=()
  read -ra extra <<<"$EXTRA_RUSTFLAGS"
  flags+=("${extra[@]}")
  local cargo_args=() bootstrap="${RUSTC_BOOTSTRAP:-}"
  if [ "$BUILD_STD" = 1 ]; then
    # A panic is a bare trap here, so its location (file, line, column) is never read: without
    # them no source path or Location record is shipped. `-Zfmt-debug=none`: `{:?}` prints
    # nothing, so no Debug code (nor the float formatting behind it) ships; the crate's messages
    # quote with util::Quoted (the lint stage refuses Debug formatting in shipped code).
    flags+=("-Zunstable-options" "-Cpanic=immediate-abort" "-Zlocation-detail=none" "-Zfmt-debug=none")
    cargo_args=(. -- -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)  # wasm-pack: [path] -- <cargo args>
    bootstrap=1
  fi
  RUSTC_BOOTSTRAP="$bootstrap" CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; echo "${flags[*]}")" \
  wasm-pack build "$PROFILE_FLAG" --target "$target" --mode no-install --out-dir "$out" "${cargo_args[@]}" \
    || die "wasm-pack build --target $target failed"

  local wasm
  wasm="$(ls "$out"/*_bg.wasm 2>/dev/null | head -n1)"
  [ -n "$wasm" ] && [ -s "$wasm" ] || die "no *_bg.wasm in $out/"

  if [ -n "$OPT_LEVEL" ]; then
    [ -x "$WASM_OPT" ] || die "wasm-opt not found at $WASM_OPT; run scripts/setup.sh (npm binaryen)"
    local before after
    before=$(stat -c %s "$wasm")
    # Functions only the table keeps (closure shims no export calls, unused wakers; see the
    # script's header) out of it, so that wasm-opt drops them; needs the names wasm-bindgen keeps.
    node scripts/prune-table.mjs "$wasm" "$wasm.pruned" || die "could not prune the function table of $wasm"
    mv "$wasm.pruned" "$wasm"
    # shellcheck disable=SC2086  # word splitting of the flag lists (and of OPT_LEVEL's passes) is intended
    "$WASM_OPT" $OPT_LEVEL $OPT_FEATURES $OPT_EXTRA "$wasm" -o "$wasm.opt" \
      || die "wasm-opt $OPT_LEVEL failed on $wasm"
    if [ "$ORDER_FUNCTIONS" = similar ]; then
      # Functions in an order gzip compresses better (see the script's header): the script
      # names them in that order, wasm-opt moves them (no other change: the optimization levels
      # are only set so that the output is encoded as optimized as the input) and drops the names.
      node scripts/order-functions.mjs "$wasm.opt" "$wasm.named" || die "could not order the functions of $wasm"
      # shellcheck disable=SC2086
      "$WASM_OPT" -ol 2 -s 2 $OPT_FEATURES --reorder-functions-by-name --strip-debug \
        --generate-stack-ir --optimize-stack-ir "$wasm.named" -o "$wasm.opt" \
        || die "wasm-opt --reorder-functions-by-name failed on $wasm"
      rm -f "$wasm.named"
    fi
    # validate with binaryen (same feature set) and with the JS engine itself
    # shellcheck disable=SC2086
    local vlog
    vlog="$("$WASM_OPT" $OPT_FEATURES "$wasm.opt" -o /dev/null 2>&1)" \
      || { echo "$vlog" >&2; die "wasm-opt output does not validate"; }
    node -e 'const b=require("fs").readFileSync(process.argv[1]); if(!WebAssembly.validate(b)){console.error("WebAssembly.validate: invalid");process.exit(1)}' "$wasm.opt" \
      || die "wasm-opt output rejected by WebAssembly.validate"
    mv "$wasm.opt" "$wasm"
    after=$(stat -c %s "$wasm")
    say "wasm-opt $OPT_LEVEL: $(basename "$wasm") $before -> $after bytes"
  fi

  # JS snippets (src/browser/glue.js) into the glue: no module request of their own.
  node scripts/inline-snippets.mjs "$out" || die "could not inline the JS snippets into $out/"
  # Short names for the imports and closure invokers, in the .wasm and the glue alike. Before
  # the minifier: its short local names would collide with the imports' `$…` names.
  node scripts/short-names.mjs "$out" || die "could not shorten the import names in $out/"
  # A freed (or forged) OAuthClient refused in JS, before Wasm is entered (see the script).
  node scripts/guard-freed.mjs "$out" || die "could not guard the freed OAuthClient in $out/"
  # The glue minified (its documentation stays in the .d.ts).
  node scripts/minify-glue.mjs "$out" || die "could not minify the JS glue in $out/"
  # pkg/package.json: exports, types, files, sideEffects (see the script's header).
  node scripts/pkg-json.mjs "$out" || die "could not complete $out/package.json"
  say "$target -> $out/ ($((SECONDS - t0))s): $(cd "$out" && ls | tr '\n' ' ')"
}

for t in $TARGETS; do
  if [ "$t" = web ]; then build_target web "$OUT_DIR"; else build_target "$t" "$OUT_DIR-$t"; fi
done
case " $TARGETS " in *" web "*) ;; *) say "note: 'web' is not in wasm-pack.toml targets; $OUT_DIR/ not rebuilt" ;; esac
echo "$WANT" >"$STAMP"
say "done in $((SECONDS - T0))s"
