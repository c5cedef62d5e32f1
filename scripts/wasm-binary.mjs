// scripts/wasm-binary.mjs — the parts of the WebAssembly binary format the build scripts read
// and write (scripts/short-names.mjs, order-functions.mjs, prune-table.mjs): LEB128 numbers,
// names and the list of sections.

/** The unsigned LEB128 number at `at`: [value, the offset after it]. */
export function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return [value, at];
  }
}

/** The signed LEB128 number at `at` (at most 32 bits): [value, the offset after it]. */
export function readS32(bytes, at) {
  let value = 0;
  let shift = 0;
  let b;
  do {
    b = bytes[at++];
    value |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80);
  if (shift < 32 && b & 0x40) value |= -1 << shift;
  return [value, at];
}

/** `n` (0 or more) as unsigned LEB128 bytes. */
export function encodeU32(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** `n` (32 bits) as signed LEB128 bytes. */
export function encodeS32(n) {
  const out = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** The name (its byte length, then UTF-8) at `at`: [text, the offset after it]. */
export function readName(bytes, at) {
  const [len, start] = readU32(bytes, at);
  return [bytes.subarray(start, start + len).toString("utf8"), start + len];
}

/** `text` as a name: its byte length, then UTF-8. */
export function encodeName(text) {
  const b = Buffer.from(text, "utf8");
  return Buffer.concat([Buffer.from(encodeU32(b.length)), b]);
}

/** The module's sections in order: `id`, `head` (the offset of the id byte), `start` and `end`
 * (the contents). */
export function sections(bytes) {
  const out = [];
  for (let at = 8; at < bytes.length;) {
    const id = bytes[at];
    const [size, start] = readU32(bytes, at + 1);
    out.push({ id, head: at, start, end: start + size });
    at = start + size;
  }
  return out;
}

/** A reader moving through `bytes` from `at`: `u32()`, `name()` and `byte()` each return the next
 * value and move past it; `at` is where the next one starts. */
export function cursor(bytes, at = 0) {
  return {
    at,
    u32() {
      const [value, next] = readU32(bytes, this.at);
      this.at = next;
      return value;
    },
    name() {
      const [text, next] = readName(bytes, this.at);
      this.at = next;
      return text;
    },
    byte() {
      return bytes[this.at++];
    },
  };
}
