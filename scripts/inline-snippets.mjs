// node scripts/inline-snippets.mjs <out dir>: moves wasm-bindgen's JS snippets (`module = "/…"`
// imports, written to <out>/snippets/) into the glue that imports them, and removes snippets/.
//
// Why: the glue imports each snippet as a module of its own, so a page that loads the package
// without a bundler fetches it only after it has fetched and parsed the glue: one more request
// and one more round trip before init() can start (the benchmark's reload counted 5 page
// requests instead of 4). Inlined, the package is the glue and the .wasm again.
//
// A snippet here is a plain module of top-level declarations, some exported, with no imports
// of its own. Each is wrapped in a function scope, so its private names cannot meet the glue's.
// Anything else (an import in a snippet, an `export default`, an export list) is refused,
// and the build fails rather than ship a half-rewritten glue.
import fs from "node:fs";
import path from "node:path";
import { buildSync } from "esbuild";

const out = process.argv[2];
if (!out) throw new Error("usage: inline-snippets.mjs <out dir>");
const dir = path.join(out, "snippets");
if (!fs.existsSync(dir)) process.exit(0);

const IMPORT = /^import \{([^}]*)\} from '\.\/(snippets\/[^']+)';\n/gm;
const die = (msg) => {
  console.error(`inline-snippets: ${msg}`);
  process.exit(1);
};

for (const glue of fs.readdirSync(out).filter((f) => f.endsWith(".js"))) {
  const file = path.join(out, glue);
  const text = fs.readFileSync(file, "utf8");
  const inlined = text.replace(IMPORT, (_, names, rel) => {
    const source = fs.readFileSync(path.join(out, rel), "utf8");
    if (/^\s*(import|export\s+(default|\{|\*))/m.test(source)) die(`${rel}: not a plain module of declarations`);
    const exported = [...source.matchAll(/^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+([\w$]+)/gm)].map(
      (m) => m[1],
    );
    const bindings = names
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((spec) => {
        const [name, alias = name] = spec.split(/\s+as\s+/);
        if (!exported.includes(name)) die(`${rel} does not export ${name}`);
        return name === alias ? name : `${name}: ${alias}`;
      });
    // Only what the glue imports, and what that uses: esbuild bundles the snippet from an entry
    // that re-exports those names, dropping the rest (an export the .wasm does not import, such
    // as a function only another build uses, and the helpers only it used).
    const wanted = [...new Set(bindings.map((b) => b.split(":")[0].trim()))];
    const shaken = buildSync({
      stdin: {
        contents: `export { ${wanted.join(", ")} } from "./${path.basename(rel)}";`,
        resolveDir: path.dirname(path.join(out, rel)),
      },
      bundle: true,
      format: "esm",
      target: "esnext",
      treeShaking: true,
      write: false,
      logLevel: "silent",
    }).outputFiles[0].text;
    const tail = /^export \{([^}]*)\};\s*$/m;
    const list = shaken.match(tail);
    if (!list) die(`${rel}: esbuild's output has no export list`);
    const returned = list[1]
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean)
      .map((spec) => {
        const [local, name = local] = spec.split(/\s+as\s+/);
        return local === name ? name : `${name}: ${local}`;
      });
    if (returned.length !== wanted.length)
      die(`${rel}: esbuild exported ${returned.length} names, not ${wanted.length}`);
    const body = shaken.replace(tail, "");
    return `// ${rel}, inlined (scripts/inline-snippets.mjs)\nconst { ${bindings.join(", ")} } = (() => {\n${body}\nreturn { ${returned.join(", ")} };\n})();\n`;
  });
  if (inlined.includes("./snippets/")) die(`${glue} still refers to ./snippets/ after inlining`);
  fs.writeFileSync(file, inlined);
}
fs.rmSync(dir, { recursive: true });
console.log(`inline-snippets: ${out}/snippets inlined into the glue`);
