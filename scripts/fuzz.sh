#!/usr/bin/env bash
# scripts/fuzz.sh — coverage-guided fuzzing (cargo fuzz / libFuzzer) of every parser that sees
# network, URL or app input: handles, DIDs, DID documents, both metadata documents, callback
# URLs, WWW-Authenticate, token and PAR responses, handle-resolution answers, and URLs (the
# parts src/url.rs reads off a serialization against the url crate's own) (tests/fuzz).
#
#   bash scripts/fuzz.sh                 every target for FUZZ_SECONDS each (default 6): what
#                                        npm test runs
#   FUZZ_SECONDS=3600 bash scripts/fuzz.sh did_document    one target for an hour
#
# Sanitizer "none": the targets are safe Rust, so what they can find is a panic (which libFuzzer
# reports as a crash, saving the input under tests/fuzz/artifacts/); it also needs no nightly
# sanitizer runtime. The corpus grows in tests/fuzz/corpus/ (not committed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
case ":$PATH:" in *":$CARGO_BIN:"*) ;; *) export PATH="$CARGO_BIN:$PATH" ;; esac
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz missing; run scripts/setup.sh" >&2; exit 1; }

SECONDS_EACH="${FUZZ_SECONDS:-6}"
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(sed -n -E 's/^name = "([a-z_]+)"$/\1/p' tests/fuzz/Cargo.toml | grep -v '^atproto')
fi
# cargo fuzz passes a few -Z flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
export RUSTC_BOOTSTRAP=1
cargo fuzz build --fuzz-dir tests/fuzz -s none
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "tests/fuzz/corpus/$t"
  rc=0
  cargo fuzz run --fuzz-dir tests/fuzz -s none "$t" "tests/fuzz/corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -max_len=65536 -print_final_stats=1 >"$LOG" 2>&1 || rc=$?
  runs="$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$LOG" | tail -n1)"
  echo "fuzz: $t: ${runs:-?} inputs in ${SECONDS_EACH}s"
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$LOG" >&2
    echo "fuzz: $t failed (exit $rc); the input is in tests/fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
echo "fuzz: ${#targets[@]} targets, no crash"
