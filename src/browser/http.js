// One HTTP request, start to finish, for src/browser/http.rs (which says why it is JS).
// `head` is the request's method, URL and headers in one string (one string decoded out of Wasm
// memory per request, not one per part): "METHOD\nURL\nname\nvalue\n…".
// Resolves, never rejects, to { status, headers: "name\nvalue\n"…, body, redirected } or to
// { failure: "invalid" | "network" | "timeout" | "too_large" | "crypto", detail }.

const failed = (failure, detail = "") => ({ failure, detail });

/** What JS threw or rejected with, as text (an Error, a DOMException, a string, anything). */
const describe = (e) => (e && typeof e === "object" && "message" in e ? `${e.name}: ${e.message}` : String(e));

// One deadline aborts the fetch and is raced against every step, so a fetch or stream that
// ignores its signal cannot hang the caller. The body is a stream, refused past `max` bytes
// (fetch decompresses, so Content-Length does not bound it). `body` is a view into Wasm memory:
// copied first, before anything else runs.
export function send(head, hasBody, body, timeoutMs, max) {
  return exchange(head.split("\n"), 0, hasBody ? body.slice() : undefined, timeoutMs, max);
}

// `parts` from `at` on: method, URL, then a name and a value per header.
async function exchange(parts, at, payload, timeoutMs, max) {
  const controller = new AbortController();
  const timedOut = failed("timeout");
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      reject(timedOut);
      controller.abort();
    }, timeoutMs);
  });
  deadline.catch(() => {}); // rejects while no step may be listening
  let request;
  try {
    const list = new Headers();
    for (let i = at + 2; i + 1 < parts.length; i += 2) list.append(parts[i], parts[i + 1]);
    request = new Request(parts[at + 1], {
      method: parts[at],
      headers: list,
      body: payload,
      signal: controller.signal,
    });
  } catch (e) {
    clearTimeout(timer);
    return failed("invalid", describe(e));
  }
  let reader;
  try {
    // Every step races the deadline; whatever a step throws is classified once, below.
    const response = await Promise.race([fetch(request), deadline]);
    if (!(response instanceof Response)) {
      return failed("network", "fetch resolved to something other than a Response");
    }
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (declared > max) {
      controller.abort();
      return failed("too_large");
    }
    let out = new Uint8Array(0);
    if (response.body) {
      reader = response.body.getReader();
      const chunks = [];
      let size = 0;
      for (;;) {
        const { done, value } = await Promise.race([reader.read(), deadline]);
        if (done) break;
        if (!(value instanceof Uint8Array)) return failed("network", "a body chunk is not bytes");
        size += value.length;
        if (size > max) {
          reader.cancel().catch(() => {});
          controller.abort();
          return failed("too_large");
        }
        chunks.push(value);
      }
      if (chunks.length === 1) out = chunks[0];
      else if (chunks.length > 1) {
        out = new Uint8Array(size);
        let at = 0;
        for (const c of chunks) {
          out.set(c, at);
          at += c.length;
        }
      }
    }
    let lines = "";
    for (const [name, value] of response.headers) lines += `${name}\n${value}\n`;
    return { status: response.status, headers: lines, body: out, redirected: response.redirected };
  } catch (e) {
    if (reader) reader.cancel().catch(() => {});
    // The deadline's, once it has passed (an aborted fetch rejects with its own AbortError).
    return e === timedOut || controller.signal.aborted ? timedOut : failed("network", describe(e));
  } finally {
    clearTimeout(timer);
  }
}

const ES256 = { name: "ECDSA", hash: "SHA-256" };
const encoder = new TextEncoder();
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Base64url without padding: for 64 bytes, a loop beats spreading them into btoa. */
function b64url(bytes) {
  let s = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63];
  }
  return s;
}

// `send`, with a DPoP proof finished here. `head` starts with one more line: the proof's
// signing input (its header and claims, base64url), which is signed with `key`, a
// non-extractable CryptoKey; the proof (the input, a dot, the signature in base64url) goes out
// as the `DPoP` header. WebCrypto's ECDSA output is the raw r || s that ES256 is.
export async function sendSigned(key, head, hasBody, body, timeoutMs, max) {
  const payload = hasBody ? body.slice() : undefined;
  const parts = head.split("\n");
  const input = parts[0];
  let signature;
  try {
    signature = new Uint8Array(await crypto.subtle.sign(ES256, key, encoder.encode(input)));
  } catch (e) {
    return failed("crypto", describe(e));
  }
  if (signature.length !== 64) return failed("crypto", `ES256 signature of ${signature.length} bytes`);
  parts[parts.length - 1] = "DPoP"; // the slot after the last header line's "\n"
  parts.push(`${input}.${b64url(signature)}`);
  return exchange(parts, 1, payload, timeoutMs, max);
}
