// A tiny static file server (no dependencies) shared by `npm start` (scripts/demo.mjs) and the
// end-to-end tests. Serves .wasm as application/wasm (instantiateStreaming needs it), never
// caches, refuses dot-files and paths outside its mounts.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".map": "application/json; charset=utf-8",
  ".ts": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

function send(res, status, body, type = "text/plain; charset=utf-8", extra = {}) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...extra });
  res.end(body);
}

function sendFile(req, res, file) {
  const st = fs.statSync(file);
  const type = TYPES[path.extname(file).toLowerCase()] || "application/octet-stream";
  res.writeHead(200, { "content-type": type, "content-length": st.size, "cache-control": "no-store" });
  if (req.method === "HEAD") return res.end();
  fs.createReadStream(file).pipe(res);
}

/** Resolves a URL path to a file under one of the mounts (longest prefix wins), or null. */
function resolve(mounts, pathname) {
  const mount = mounts.find((m) => pathname.startsWith(m.prefix));
  if (!mount) return null;
  const rel = pathname.slice(mount.prefix.length);
  if (rel.split("/").some((seg) => seg.startsWith("."))) return null;
  let file = path.join(mount.dir, rel);
  if (file !== mount.dir && !file.startsWith(mount.dir + path.sep)) return null;
  try {
    if (fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    return fs.statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

/**
 * Starts serving. `mounts`: [{prefix: "/pkg/", dir}], `json`: {"/config.json": value} served
 * as generated JSON, `fallback`: a file served for unknown paths (a single-page app's index, so
 * that e.g. /callback loads the page). Resolves to {url, close()} once listening.
 */
export function createStaticServer({ host = "127.0.0.1", port = 8080, mounts, json = {}, fallback = null }) {
  const sorted = [...mounts].sort((a, b) => b.prefix.length - a.prefix.length);
  const server = http.createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "method not allowed\n");
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      return send(res, 400, "bad request\n");
    }
    if (Object.hasOwn(json, pathname)) return send(res, 200, JSON.stringify(json[pathname]), TYPES[".json"]);
    const file = resolve(sorted, pathname) ?? (path.extname(pathname) === "" ? fallback : null);
    if (!file) return send(res, 404, `not found: ${pathname}\n`);
    sendFile(req, res, file);
  });
  return new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const url = `http://${host.includes(":") ? `[${host}]` : host}:${server.address().port}`;
      resolvePromise({
        url,
        server,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
