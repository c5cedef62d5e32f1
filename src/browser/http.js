// One HTTP request, start to finish, for src/browser/http.rs (which says why it is JS).
// Resolves, never rejects, to { status, headers: "name\nvalue\n"…, body, redirected } or to
// { failure: "invalid" | "network" | "timeout" | "too_large" | "crypto", detail }.

const failed = (failure, detail = "") => ({ failure, detail });

/** What JS threw or rejected with, as text (an Error, a DOMException, a string, anything). */
const describe = (e) => (e && typeof e === "object" && "message" in e ? `${e.name}: ${e.message}` : String(e));

// One deadline aborts the fetch and is raced against every step, so a fetch or stream that
// ignores its signal cannot hang the caller. The body is a stream, refused past `max` bytes
// (fetch decompresses, so Content-Length does not bound it). `body` is a view into Wasm memory:
// copied first, before anything else runs.
export function send(method, url, headers, hasBody, body, timeoutMs, max) {
  return exchange(method, url, headers, hasBody ? body.slice() : undefined, timeoutMs, max);
}

async function exchange(method, url, headers, payload, timeoutMs, max) {
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
  // A step's value, or its failure as `kind` (the deadline's, once it has passed).
  const step = (promise, kind) =>
    Promise.race([promise, deadline]).catch((e) => {
      throw e === timedOut || controller.signal.aborted ? timedOut : failed(kind, describe(e));
    });
  let request;
  try {
    const list = new Headers();
    const parts = headers.split("\n");
    for (let i = 0; i + 1 < parts.length; i += 2) list.append(parts[i], parts[i + 1]);
    request = new Request(url, { method, headers: list, body: payload, signal: controller.signal });
  } catch (e) {
    clearTimeout(timer);
    return failed("invalid", describe(e));
  }
  let reader;
  try {
    const response = await step(new Promise((resolve) => resolve(fetch(request))), "network");
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
        const { done, value } = await step(reader.read(), "network");
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
    return e && e.failure ? e : failed("network", describe(e));
  } finally {
    clearTimeout(timer);
  }
}

const ES256 = { name: "ECDSA", hash: "SHA-256" };
const encoder = new TextEncoder();

// `send`, with a DPoP proof finished here: `input` (the proof's header and claims, base64url)
// signed with `key`, a non-extractable CryptoKey, and the signature appended as base64url.
// WebCrypto's ECDSA output is the raw r || s that ES256 is.
export async function sendSigned(key, input, method, url, headers, hasBody, body, timeoutMs, max) {
  const payload = hasBody ? body.slice() : undefined;
  let signature;
  try {
    signature = new Uint8Array(await crypto.subtle.sign(ES256, key, encoder.encode(input)));
  } catch (e) {
    return failed("crypto", describe(e));
  }
  if (signature.length !== 64) return failed("crypto", `ES256 signature of ${signature.length} bytes`);
  const proof = btoa(String.fromCharCode(...signature))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
  return exchange(method, url, `${headers}DPoP\n${input}.${proof}\n`, payload, timeoutMs, max);
}
