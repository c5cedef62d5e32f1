// node scripts/short-names.mjs <out dir>: gives the .wasm's imports, and its closure-invoking
// exports, short names, and renames them to match in the JS glue and the .d.ts files.
//
// Why: wasm-bindgen names each import after its JS function plus a 16-hex-digit hash
// (`__wbg_getRandomValues_d2908e0b99612b91`), all from the module "./<crate>_bg.js", and each
// closure invoker after its full Rust signature (up to 300 characters). Every name is stored
// twice, once in the .wasm and once in the glue, and the hashes do not compress: about 10 KB of
// names in the .wasm alone. The "web" target passes the imports itself (no bundler resolves the
// module name), so the names carry no meaning outside these two files.
//
// What keeps it safe:
// - Only names the build can account for are renamed: each import's old name must appear in the
//   glue exactly once, as the key of its function (`name:function`), and nowhere in the .d.ts;
//   each closure invoker's name must be a `wasm_bindgen_…` export. Anything else fails the build.
// - The public exports (the `OAuthClient` methods, `memory`, `buildScope`, …) keep their names:
//   `init()` resolves to the instance's exports, typed as `InitOutput`.
// - The result is instantiated in Node (`initSync`): a missing or misnamed import is a LinkError,
//   and a call through the glue must still work.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { cursor, encodeName, encodeU32, sections as readSections } from "./wasm-binary.mjs";

const out = process.argv[2];
if (!out) throw new Error("usage: short-names.mjs <out dir>");
const die = (msg) => {
  console.error(`short-names: ${msg}`);
  process.exit(1);
};
const wasmName = fs.readdirSync(out).find((f) => f.endsWith("_bg.wasm"));
const glueName = fs.readdirSync(out).find((f) => f.endsWith(".js"));
if (!wasmName || !glueName) die(`no *_bg.wasm or .js in ${out}`);
const glueSize = wasmName && glueName ? fs.statSync(path.join(out, glueName)).size : 0;
const texts = fs.readdirSync(out).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"));

// --- The .wasm: sections, LEB128 and names (scripts/wasm-binary.mjs). ---
const bytes = fs.readFileSync(path.join(out, wasmName));
const c = cursor(bytes);
const u32 = () => c.u32();
const name = () => c.name();
const leb = (n) => Buffer.from(encodeU32(n));
const encName = encodeName;
// A valid JS identifier, never one the glue uses: `$` and a base-36 counter.
const short = (i) => `$${i.toString(36)}`;

const sections = readSections(bytes);

const renames = new Map(); // old name -> new name, for the text files
let moduleName = null;
const rebuilt = sections.map((s) => {
  const raw = bytes.subarray(s.start, s.end);
  if (s.id !== 2 && s.id !== 7) return { id: s.id, body: raw };
  c.at = s.start;
  const count = u32();
  const parts = [leb(count)];
  for (let i = 0; i < count; i++) {
    if (s.id === 2) {
      const mod = name();
      const field = name();
      if (moduleName === null) moduleName = mod;
      if (mod !== moduleName) die(`imports from two modules (${moduleName}, ${mod})`);
      const kind = c.byte();
      if (kind !== 0) die(`import ${field} is not a function (kind ${kind})`);
      const typeIndex = u32();
      const renamed = short(renames.size);
      renames.set(field, renamed);
      parts.push(encName("a"), encName(renamed), Buffer.from([0]), leb(typeIndex));
    } else {
      const field = name();
      const kind = c.byte();
      const index = u32();
      let renamed = field;
      if (/^wasm_bindgen_[0-9a-f]+___convert__closures_/.test(field)) {
        renamed = `__wbg_invoke${renames.size}`;
        renames.set(field, renamed);
      }
      parts.push(encName(renamed), Buffer.from([kind]), leb(index));
    }
  }
  if (c.at !== s.end) die(`section ${s.id} was not read to its end`);
  return { id: s.id, body: Buffer.concat(parts) };
});
if (moduleName === null) die("the .wasm has no imports");

// --- The text files: every old name, as a whole token. ---
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const edited = new Map();
for (const file of texts) edited.set(file, fs.readFileSync(path.join(out, file), "utf8"));
const count = (text, token) => (text.match(new RegExp(`(?<![\\w$])${escape(token)}(?![\\w$])`, "g")) || []).length;
for (const [oldName, newName] of renames) {
  for (const [file, text] of edited) {
    if (count(text, newName)) die(`${file} already uses the name ${newName}`);
    const n = count(text, oldName);
    if (oldName.startsWith("wasm_bindgen_")) {
      if (file === glueName && n === 0) die(`the glue never names export ${oldName}`);
    } else if (file === glueName) {
      // An import: its one appearance is its key in the imports object.
      if (n !== 1 || !new RegExp(`${escape(oldName)}\\s*:\\s*function`).test(text)) {
        die(`import ${oldName} appears ${n} times in ${file}, not once as a key`);
      }
    } else if (n) {
      die(`import ${oldName} appears in ${file}`);
    }
    edited.set(file, text.replace(new RegExp(`(?<![\\w$])${escape(oldName)}(?![\\w$])`, "g"), newName));
  }
}
const glue = edited.get(glueName);
const moduleKey = JSON.stringify(moduleName);
const moduleKeyAt = new RegExp(`${escape(moduleKey)}\\s*:`, "g");
if ((glue.match(moduleKeyAt) || []).length !== 1) die(`the glue does not name ${moduleKey} once as a key`);
edited.set(glueName, glue.replace(moduleKeyAt, "a:"));

// --- Write, then prove it loads and runs. ---
const wasmOut = Buffer.concat([
  bytes.subarray(0, 8),
  ...rebuilt.flatMap((s) => [Buffer.from([s.id]), leb(s.body.length), s.body]),
]);
if (!WebAssembly.validate(wasmOut)) die("the renamed .wasm does not validate");
const tmpGlue = path.join(out, `.${glueName}.short.mjs`);
fs.writeFileSync(tmpGlue, edited.get(glueName));
try {
  const glueModule = await import(`${pathToFileURL(path.resolve(tmpGlue)).href}?v=${Date.now()}`);
  glueModule.initSync({ module: wasmOut });
  const id = glueModule.loopbackClientId("http://127.0.0.1:8080/cb", "atproto");
  if (!id.startsWith("http://localhost?")) die(`loopbackClientId answered ${id}`);
} catch (e) {
  die(`the renamed glue and .wasm do not work together: ${e.stack || e}`);
} finally {
  fs.rmSync(tmpGlue);
}
fs.writeFileSync(path.join(out, wasmName), wasmOut);
for (const [file, text] of edited) fs.writeFileSync(path.join(out, file), text);
console.log(
  `short-names: ${renames.size} names, ${wasmName} ${bytes.length} -> ${wasmOut.length} bytes, ` +
    `${glueName} ${glueSize} -> ${Buffer.byteLength(edited.get(glueName))} bytes`,
);
