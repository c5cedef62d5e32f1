// node scripts/minify-glue.mjs <out dir>: minifies the JS glue of the "web" target, an ES module
// (after scripts/inline-snippets.mjs): comments and white space out, syntax folded, and local
// names shortened. The exported names are the module's interface and stay; so does
// `OAuthClient.name` (set back after the class, since esbuild renames the class's own binding),
// so `client.constructor.name` still reads "OAuthClient". A stack trace through the glue shows
// short names for its internal functions, as it would after any app's bundler minified it.
//
// Why: the glue carries every exported method's documentation as JSDoc, and wasm-bindgen's own
// comments; the types (.d.ts) keep the documentation for editors. 12.7 -> 8.8 KB gzip; the
// short local names save 1.0 KB more (measured in the eleventh session: 8,401 -> 7,4xx B).
// esbuild's `keepNames` would keep every function's name but costs 0.9 KB of that back.
//
// esbuild's transform, with no syntax lowering (target esnext): the code's meaning is unchanged.
// The module's exports are compared before and after, and any difference fails the build.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { transformSync } from "esbuild";

const out = process.argv[2];
if (!out) throw new Error("usage: minify-glue.mjs <out dir>");
const die = (msg) => {
  console.error(`minify-glue: ${msg}`);
  process.exit(1);
};
// Loading the glue in Node evaluates it without instantiating the .wasm (that needs init()).
const exportsOf = async (file) =>
  Object.entries(await import(`${pathToFileURL(path.resolve(file)).href}?v=${Date.now()}`))
    .map(([key, value]) => (typeof value === "function" ? `${key}:${value.name}` : key))
    .sort()
    .join(",");

for (const glue of fs.readdirSync(out).filter((f) => f.endsWith(".js"))) {
  const file = path.join(out, glue);
  let source = fs.readFileSync(file, "utf8");
  // Each exported class and function keeps its own `name` (configurable on both).
  const named = [
    ...source.matchAll(/^export (?:class|function|async function) (\w+)/gm),
    ...source.matchAll(/^export default (\w+);/gm),
    ...[...source.matchAll(/^export \{([\w\s,]+)\};/gm)].flatMap(([, list]) =>
      list.split(",").map((n) => [, n.trim().split(/\s+as\s+/)[0]]),
    ),
  ].map(([, name]) => name);
  if (named.length) {
    const pairs = named.map((n) => `[${n}, ${JSON.stringify(n)}]`).join(", ");
    source += `\nfor (const [f, n] of [${pairs}]) Object.defineProperty(f, "name", { value: n });\n`;
  }
  let code;
  try {
    ({ code } = transformSync(source, {
      loader: "js",
      format: "esm",
      target: "esnext",
      minifyWhitespace: true,
      minifySyntax: true,
      minifyIdentifiers: true,
      legalComments: "none",
    }));
  } catch (e) {
    die(`${glue}: ${e.message}`);
  }
  const before = await exportsOf(file);
  const tmp = path.join(out, `.${glue}.min.mjs`);
  fs.writeFileSync(tmp, code);
  const after = await exportsOf(tmp).finally(() => fs.rmSync(tmp));
  if (before !== after) die(`${glue}: the exports changed (${before} -> ${after})`);
  fs.writeFileSync(file, code);
  console.log(`minify-glue: ${glue} ${source.length} -> ${code.length} bytes`);
}
