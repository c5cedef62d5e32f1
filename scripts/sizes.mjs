// scripts/sizes.mjs — what the page downloads for the library, and how big it is: one place for
// `npm run bench:size` (scripts/size.sh, whose last line the size ratchet in npm test reads) and
// the side-by-side benchmark.
//
//   node scripts/sizes.mjs pkg     prints a table of raw, gzip -9 and brotli (q11) bytes per file,
//                                  then one JSON line { bench, dir, wasm, js, total, files }
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

/** The files of a wasm-pack output the page loads: the .wasm and its JS glue (incl. snippets). */
export function shippedFiles(dir) {
  const files = [];
  (function walk(d) {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (n.endsWith(".wasm") || (n.endsWith(".js") && !n.endsWith(".d.js"))) files.push(p);
    }
  })(dir);
  return files;
}

/** Raw, gzip -9 and brotli (quality 11) bytes of one file. */
export function sizeOf(file) {
  const b = fs.readFileSync(file);
  return {
    raw: b.length,
    gzip: zlib.gzipSync(b, { level: 9 }).length,
    brotli: zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
}

/** The sums over `files`. */
export function totalSize(files) {
  const total = { raw: 0, gzip: 0, brotli: 0 };
  for (const f of files) for (const [k, v] of Object.entries(sizeOf(f))) total[k] += v;
  return total;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out || !fs.existsSync(out)) {
    console.error(`size: ${out}/ does not exist; run npm run build`);
    process.exit(1);
  }
  const files = shippedFiles(out);
  if (!files.some((f) => f.endsWith(".wasm"))) {
    console.error(`size: no .wasm in ${out}/`);
    process.exit(1);
  }
  const rows = files.map((f) => ({
    file: path.relative(out, f),
    kind: f.endsWith(".wasm") ? "wasm" : "js",
    ...sizeOf(f),
  }));
  const sum = (list) => ({
    raw: list.reduce((a, r) => a + r.raw, 0),
    gzip: list.reduce((a, r) => a + r.gzip, 0),
    brotli: list.reduce((a, r) => a + r.brotli, 0),
  });
  const wasm = sum(rows.filter((r) => r.kind === "wasm"));
  const js = sum(rows.filter((r) => r.kind === "js"));
  const total = sum(rows);
  const w = Math.max(12, ...rows.map((r) => r.file.length + 2));
  const line = (name, r) =>
    console.log(
      name.padEnd(w) + String(r.raw).padStart(10) + String(r.gzip).padStart(10) + String(r.brotli).padStart(10),
    );
  console.log(`size of ${out}/ (bytes)`);
  console.log("file".padEnd(w) + "raw".padStart(10) + "gzip".padStart(10) + "brotli".padStart(10));
  for (const r of rows) line(r.file, r);
  console.log("-".repeat(w + 30));
  line("wasm", wasm);
  line("js glue", js);
  line("total", total);
  console.log(JSON.stringify({ bench: "size", dir: out, wasm, js, total, files: rows }));
}
