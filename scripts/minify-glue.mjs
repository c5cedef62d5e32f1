// node scripts/minify-glue.mjs <out dir>: takes the comments and the white space out of the JS
// glue of the "web" target, an ES module (after scripts/inline-snippets.mjs), and folds its
// syntax. Names stay as they are, so a stack trace through the glue still reads `OAuthClient.startLogin` and `handleError`, and
// `OAuthClient.name` is still "OAuthClient"; mangling them too would save another 0.8 KB gzip.
//
// Why: the glue carries every exported method's documentation as JSDoc, and wasm-bindgen's own
// comments; the types (.d.ts) keep the documentation for editors. 12.7 -> 8.8 KB gzip.
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
  Object.keys(await import(`${pathToFileURL(path.resolve(file)).href}?v=${Date.now()}`))
    .sort()
    .join(",");

for (const glue of fs.readdirSync(out).filter((f) => f.endsWith(".js"))) {
  const file = path.join(out, glue);
  const source = fs.readFileSync(file, "utf8");
  let code;
  try {
    ({ code } = transformSync(source, {
      loader: "js",
      format: "esm",
      target: "esnext",
      minifyWhitespace: true,
      minifySyntax: true,
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
