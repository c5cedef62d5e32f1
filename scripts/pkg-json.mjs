// scripts/pkg-json.mjs OUT_DIR — completes the package.json wasm-pack wrote into OUT_DIR (pkg/),
// so that the package works with Node's resolver, TypeScript and bundlers (Vite, Rollup/Rolldown,
// webpack, esbuild). Run by scripts/build.sh after every build; checked by tests/package/.
//
//   type        "module" (the glue is an ES module)
//   exports     ".": {types, default}; "./package.json"; the .wasm (so an app can ask its bundler
//               for the file's URL: `import url from "atproto-oauth-wasm/atproto_oauth_wasm_bg.wasm?url"`)
//   main/module/types   the same files, for older resolvers
//   files       everything shipped: the glue, its types, the .wasm (and its .d.ts), README
//   sideEffects false: evaluating the glue only defines things (a class, functions, a few
//               module-level caches); the .wasm is fetched by init(), never at import. wasm-pack
//               writes ["./snippets/*"] for JS snippets; scripts/inline-snippets.mjs moves ours
//               into the glue first, and any left are kept as side effects.
import fs from "node:fs";
import path from "node:path";

const out = process.argv[2];
if (!out) {
  console.error("usage: node scripts/pkg-json.mjs OUT_DIR");
  process.exit(2);
}
const file = path.join(out, "package.json");
if (!fs.existsSync(file)) {
  console.error(`${file} missing`);
  process.exit(1);
}
const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
const present = fs.readdirSync(out);
const js = present.find((f) => f.endsWith(".js") && !f.endsWith("_bg.js"));
const dts = present.find((f) => f.endsWith(".d.ts") && !f.endsWith("_bg.wasm.d.ts"));
const wasm = present.find((f) => f.endsWith("_bg.wasm"));
if (!js || !dts || !wasm) {
  console.error(`missing outputs in ${out}: js=${js} d.ts=${dts} wasm=${wasm}`);
  process.exit(1);
}
const snippets = present.includes("snippets");

pkg.type = "module";
pkg.main = js;
pkg.module = js;
pkg.types = dts;
pkg.exports = {
  ".": { types: `./${dts}`, default: `./${js}` },
  [`./${wasm}`]: `./${wasm}`,
  "./package.json": "./package.json",
};
pkg.sideEffects = snippets ? ["./snippets/*"] : false;
pkg.files = [
  ...new Set([
    ...present.filter((f) => /\.(js|d\.ts|wasm)$/.test(f) || f === "snippets"),
    ...present.filter((f) => /^(README|LICEN[CS]E)/i.test(f)),
  ]),
].sort();

// A stable key order: what npm shows first.
const order = ["name", "type", "description", "version", "license", "repository", "files", "main", "module"];
const sorted = Object.fromEntries([
  ...order.filter((k) => k in pkg).map((k) => [k, pkg[k]]),
  ...Object.keys(pkg)
    .filter((k) => !order.includes(k))
    .map((k) => [k, pkg[k]]),
]);
fs.writeFileSync(file, JSON.stringify(sorted, null, 2) + "\n");
console.log(
  `build: ${file}: name=${pkg.name} version=${pkg.version} exports=${Object.keys(pkg.exports).join(",")} ` +
    `sideEffects=${JSON.stringify(pkg.sideEffects)} files=${pkg.files.join(",")}`,
);
