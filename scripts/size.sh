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

node - "$OUT_DIR" <<'EOF'
const fs = require("fs"), path = require("path"), zlib = require("zlib");
const out = process.argv[2];
if (!fs.existsSync(out)) { console.error(`size: ${out}/ does not exist; run npm run build`); process.exit(1); }
const files = [];
(function walk(dir) {
  for (const n of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, n);
    if (fs.statSync(p).isDirectory()) walk(p);
    else if (n.endsWith(".wasm") || (n.endsWith(".js") && !n.endsWith(".d.js"))) files.push(p);
  }
})(out);
if (!files.some((f) => f.endsWith(".wasm"))) { console.error(`size: no .wasm in ${out}/`); process.exit(1); }
const rows = files.map((f) => {
  const b = fs.readFileSync(f);
  return {
    file: path.relative(out, f),
    kind: f.endsWith(".wasm") ? "wasm" : "js",
    raw: b.length,
    gzip: zlib.gzipSync(b, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
});
const sum = (list, k) => list.reduce((a, r) => a + r[k], 0);
const group = (kind) => { const l = rows.filter((r) => r.kind === kind); return { raw: sum(l, "raw"), gzip: sum(l, "gzip"), brotli: sum(l, "brotli") }; };
const total = { raw: sum(rows, "raw"), gzip: sum(rows, "gzip"), brotli: sum(rows, "brotli") };
const w = Math.max(12, ...rows.map((r) => r.file.length + 2));
const line = (name, r) => console.log(name.padEnd(w) + String(r.raw).padStart(10) + String(r.gzip).padStart(10) + String(r.brotli).padStart(10));
console.log(`size of ${out}/ (bytes)`);
console.log("file".padEnd(w) + "raw".padStart(10) + "gzip".padStart(10) + "brotli".padStart(10));
for (const r of rows) line(r.file, r);
console.log("-".repeat(w + 30));
line("wasm", group("wasm"));
line("js glue", group("js"));
line("total", total);
console.log(JSON.stringify({ bench: "size", dir: out, wasm: group("wasm"), js: group("js"), total, files: rows }));
EOF
