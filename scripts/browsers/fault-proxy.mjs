// scripts/browsers/fault-proxy.mjs — a plain-HTTP forward proxy that injects network faults, for
// browsers without network interception (Firefox over WebDriver: see webdriver.mjs).
//
// The browser sends every http:// request to it (absolute-form request target); it forwards each
// one to its origin and streams the answer back, unless a rule matches. Rules are programmed by
// the test and removable:
//
//   const proxy = await startFaultProxy();          // proxy.port, proxy.url
//   const rule = proxy.intercept("http://localhost:2583/oauth/token", "drop", { method: "POST" });
//   … rule.hits → [{ url, method, status }] …
//   rule.remove();
//   await proxy.close();
//
// `match`: a URL prefix (string), a RegExp, or a predicate on the URL string. `method`: one
// method, or (default) every method except CORS preflights (OPTIONS with
// Access-Control-Request-Method), which are forwarded: Playwright's interception answers
// preflights itself, so the same rule means the same thing in both browsers. The newest rule
// that matches applies. Actions:
//   "drop"   the connection is reset before anything is forwarded (the browser: network error)
//   "hang"   the request is read and held: no answer, the connection stays open
//   "lose"   forwarded, the whole answer read (its status, and its body's start as `answer`, are
//            in the hit), then the connection is reset instead of answering (the server did the
//            work; the browser: network error)
//   { status, headers, contentType, body }   answered with this, nothing forwarded
// `proxy.seen` lists every request the proxy handled: { url, method, status, action }.
//
// HTTPS (CONNECT) is refused: the local PDS and test pages are plain http on loopback.

import http from "node:http";

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

function matcher(match) {
  if (typeof match === "string") return (url) => url.startsWith(match);
  if (match instanceof RegExp) return (url) => match.test(url);
  if (typeof match === "function") return match;
  throw new Error(`fault proxy: a rule matches a URL prefix, a RegExp or a function, not ${match}`);
}

const isPreflight = (req) => req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;

/** Resets the browser's connection (TCP RST where Node can; otherwise a plain close). */
function reset(socket) {
  if (socket.destroyed) return;
  if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
  else socket.destroy();
}

/** Starts the proxy on 127.0.0.1 (a free port unless `port` is given). */
export async function startFaultProxy({ host = "127.0.0.1", port = 0 } = {}) {
  const rules = [];
  const seen = [];
  const sockets = new Set();
  const agent = new http.Agent({ keepAlive: true });

  function ruleFor(req) {
    for (let i = rules.length - 1; i >= 0; i--) {
      const r = rules[i];
      const methodOk = r.method ? req.method === r.method.toUpperCase() : !isPreflight(req);
      if (methodOk && r.test(req.url)) return r;
    }
    return null;
  }

  /** Forwards `req`; calls `onAnswer(upstreamResponse)` or `onError(err)`. */
  function forward(req, res, onAnswer, onError) {
    let target;
    try {
      target = new URL(req.url);
    } catch {
      return onError(new Error(`not an absolute http URL: ${req.url}`));
    }
    if (target.protocol !== "http:") return onError(new Error(`not http: ${req.url}`));
    const headers = { ...req.headers };
    for (const h of HOP_BY_HOP) delete headers[h];
    const up = http.request(
      {
        host: target.hostname.replace(/^\[|\]$/g, ""),
        port: target.port || 80,
        path: target.pathname + target.search,
        method: req.method,
        headers,
        agent,
      },
      onAnswer,
    );
    up.on("error", onError);
    // The browser went away (it aborted, or timed out): so does the forwarded request.
    res.once("close", () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
    return up;
  }

  const server = http.createServer((req, res) => {
    const rule = ruleFor(req);
    const hit = { url: req.url, method: req.method, status: undefined, action: rule ? rule.label : "forward" };
    seen.push(hit);
    if (rule) rule.hits.push(hit);
    const action = rule?.action;

    if (action === "drop") {
      req.resume();
      reset(req.socket);
      return;
    }
    if (action === "hang") {
      req.resume(); // read the request, never answer
      return;
    }
    if (action && typeof action === "object") {
      req.resume();
      const headers = { ...(action.headers ?? {}) };
      if (action.contentType) headers["content-type"] = action.contentType;
      const body = action.body ?? "";
      hit.status = action.status ?? 200;
      res.writeHead(hit.status, { ...headers, "content-length": Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (action === "lose") {
      forward(
        req,
        res,
        (answer) => {
          hit.status = answer.statusCode;
          // The server's answer is read in full (its start kept in the hit), and dropped.
          let body = "";
          answer.setEncoding("utf8");
          answer.on("data", (d) => (body = (body + d).slice(0, 500)));
          answer.on("end", () => {
            hit.answer = body;
            reset(req.socket);
          });
          answer.on("error", () => reset(req.socket));
        },
        () => reset(req.socket),
      );
      return;
    }
    // No rule: forward, and stream the answer back.
    forward(
      req,
      res,
      (answer) => {
        hit.status = answer.statusCode;
        const headers = { ...answer.headers };
        for (const h of HOP_BY_HOP) delete headers[h];
        res.writeHead(answer.statusCode, answer.statusMessage, headers);
        answer.pipe(res);
        answer.on("error", () => reset(req.socket));
      },
      (err) => {
        if (res.headersSent) return reset(req.socket);
        hit.status = 502;
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(`fault proxy: ${err.message}`);
      },
    );
  });
  server.on("connect", (req, socket) => {
    seen.push({ url: req.url, method: "CONNECT", status: 405, action: "refused" });
    socket.end("HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  // Held requests have no deadline of their own.
  server.requestTimeout = 0;
  server.headersTimeout = 0;

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();

  return {
    host,
    port: address.port,
    url: `http://${host}:${address.port}`,
    seen,
    /** Adds a rule (see the top of this file); returns it: `hits`, `remove()`. */
    intercept(match, action, { method } = {}) {
      const ok = ["drop", "hang", "lose"].includes(action) || (action && typeof action === "object");
      if (!ok) throw new Error(`fault proxy: unknown action ${JSON.stringify(action)}`);
      const rule = {
        test: matcher(match),
        method,
        action,
        label: typeof action === "string" ? action : "fulfill",
        hits: [],
        remove() {
          const i = rules.indexOf(rule);
          if (i >= 0) rules.splice(i, 1);
        },
      };
      rules.push(rule);
      return rule;
    },
    /** Removes every rule. */
    clear() {
      rules.length = 0;
    },
    async close() {
      rules.length = 0;
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}
