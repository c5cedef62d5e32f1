#!/usr/bin/env node
// scripts/prune-table.mjs IN.wasm OUT.wasm — drops functions that only the function table keeps.
//
// wasm-bindgen's closure shims (`wasm_bindgen::convert::closures::_::invoke::<…>`) are called by
// the JS glue only. Their address is taken in one place, the `describe` functions that
// wasm-bindgen runs at build time and then deletes (wasm-bindgen 0.2.130,
// src/convert/closures.rs: `inform(invoke::<…> as u32)`); since 0.2.130 the glue calls each shim
// it needs through an export of its own (`__wbg_invokeNN` after scripts/short-names.mjs), never
// through the table. But taking the address put every shim js-sys describes (Array.forEach's,
// Float64Array.find's, …, 43 of 47 in this package) into the function table, and a table entry
// keeps its function alive: neither wasm-bindgen nor wasm-opt can tell that no index reaches it.
//
// The same holds for js-sys's JSPI wakers (`js_sys::futures::jspi::task_waker::*`): their vtable
// is used only by tasks `jspi::spawn_promising` makes, and when no such function is in the
// module (the package runs its futures on src/browser/task.rs), nothing can reach them.
//
// This step points each of those table entries at one function that stays
// anyway, so that wasm-opt (run next) drops the bodies. The table's size and every other index are
// unchanged. Nothing is done (the file is copied) when the module has no names (nothing can be
// recognized) or when the table is exported (JS could then reach any entry). Measured in the
// fifteenth session: −2.0 KB raw, −0.57 KB gzip before the function ordering.
import fs from "node:fs";

const [, , inPath, outPath] = process.argv;
if (!inPath || !outPath) {
  console.error("usage: prune-table.mjs IN.wasm OUT.wasm");
  process.exit(2);
}
const b = fs.readFileSync(inPath);
let p = 8;
const uleb = () => {
  let r = 0,
    s = 0,
    x;
  do {
    x = b[p++];
    r |= (x & 0x7f) << s;
    s += 7;
  } while (x & 0x80);
  return r >>> 0;
};
const name = () => {
  const l = uleb();
  const s = b.subarray(p, p + l).toString();
  p += l;
  return s;
};
const encU = (v) => {
  const o = [];
  do {
    let y = v & 0x7f;
    v >>>= 7;
    if (v) y |= 0x80;
    o.push(y);
  } while (v);
  return o;
};
const encS = (v) => {
  const o = [];
  for (;;) {
    const y = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(y & 0x40)) || (v === -1 && y & 0x40)) {
      o.push(y);
      return o;
    }
    o.push(y | 0x80);
  }
};

const names = new Map();
const exported = new Set();
let elem = null,
  tableExported = false;
while (p < b.length) {
  const head = p;
  const id = b[p++];
  const end = uleb() + p;
  if (id === 7) {
    for (let n = uleb(); n > 0; n--) {
      name();
      const kind = b[p++],
        idx = uleb();
      if (kind === 0) exported.add(idx);
      if (kind === 1) tableExported = true;
    }
  } else if (id === 9) {
    elem = { head, start: p, end };
  } else if (id === 0 && name() === "name") {
    while (p < end) {
      const sub = b[p++],
        subEnd = uleb() + p;
      if (sub === 1)
        for (let n = uleb(); n > 0; n--) {
          const idx = uleb();
          names.set(idx, name());
        }
      p = subEnd;
    }
  }
  p = end;
}

const keep = (why) => {
  console.error(`prune-table: nothing pruned (${why})`);
  fs.copyFileSync(inPath, outPath);
  process.exit(0);
};
if (names.size === 0) keep("the module has no function names");
if (tableExported) keep("the table is exported");
if (!elem) keep("no element section");

// The one form rustc and wasm-bindgen emit: one active segment of function indices for table 0
// at `i32.const OFFSET`.
p = elem.start;
if (uleb() !== 1 || uleb() !== 0 || b[p++] !== 0x41) keep("an element section of another form");
let offset = 0,
  shift = 0,
  x;
do {
  x = b[p++];
  offset |= (x & 0x7f) << shift;
  shift += 7;
} while (x & 0x80);
if (shift < 32 && x & 0x40) offset |= -1 << shift;
if (b[p++] !== 0x0b) keep("an element offset of another form");
const funcs = [];
for (let n = uleb(); n > 0; n--) funcs.push(uleb());
if (p !== elem.end) keep("an element section of another form");

const nameOf = (f) => names.get(f) || "";
const isShim = (f) => nameOf(f).includes("::convert::closures::_::invoke::<");
const jspiSpawns = [...names.values()].some((n) => n.includes("::futures::jspi::spawn_promising"));
const isJspiWaker = (f) => !jspiSpawns && nameOf(f).includes("::futures::jspi::task_waker::");
const dead = new Set(funcs.filter((f) => (isShim(f) || isJspiWaker(f)) && !exported.has(f)));
const stand = funcs.find((f) => !dead.has(f));
if (dead.size === 0 || stand === undefined) keep("no unexported shim or unused waker in the table");

const entries = funcs.map((f) => (dead.has(f) ? stand : f));
const body = [1, 0, 0x41, ...encS(offset), 0x0b, ...encU(entries.length), ...entries.flatMap(encU)];
fs.writeFileSync(
  outPath,
  Buffer.concat([b.subarray(0, elem.head), Buffer.from([9, ...encU(body.length), ...body]), b.subarray(elem.end)]),
);
console.error(`prune-table: ${dead.size} functions taken out of the table (${funcs.length} entries)`);
