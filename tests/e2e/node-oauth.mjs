// tests/e2e/node-oauth.mjs — a deliberately tiny AT Protocol OAuth client running in Node (WebCrypto),
// used only to exercise the harness (the PDS's OAuth server and scripts/browsers/authorize.mjs's page steps)
// independently of the wasm package. Loopback client, PKCE S256, PAR, DPoP with nonce retries.

import { createHash, randomBytes, webcrypto } from "node:crypto";

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (text) => createHash("sha256").update(text).digest();

export function loopbackClientId(redirectUri, scope) {
  return `http://localhost?redirect_uri=${encodeURIComponent(redirectUri)}&scope=${encodeURIComponent(scope)}`;
}

export class NodeOAuthClient {
  /** @param {{issuer: string, redirectUri?: string, scope?: string}} opts */
  constructor({ issuer, redirectUri = "http://127.0.0.1:8080/callback", scope = "atproto transition:generic" }) {
    this.issuer = issuer;
    this.redirectUri = redirectUri;
    this.scope = scope;
    this.clientId = loopbackClientId(redirectUri, scope);
    this.nonce = undefined; // one nonce shared by the authorization and resource server (same origin)
    this.keyPair = null;
    this.publicJwk = null;
    this.tokens = null;
    /** Every response to a DPoP request: { url, status, nonce } (nonce: the DPoP-Nonce header). */
    this.dpopResponses = [];
  }

  async #key() {
    if (!this.keyPair) {
      this.keyPair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
      const { kty, crv, x, y } = await webcrypto.subtle.exportKey("jwk", this.keyPair.publicKey);
      this.publicJwk = { kty, crv, x, y };
    }
    return this.keyPair;
  }

  async #dpopProof(htm, htu, accessToken) {
    const key = await this.#key();
    const header = { typ: "dpop+jwt", alg: "ES256", jwk: this.publicJwk };
    const payload = {
      jti: b64u(randomBytes(16)),
      htm,
      htu: htu.split(/[?#]/)[0],
      iat: Math.floor(Date.now() / 1000),
      ...(this.nonce ? { nonce: this.nonce } : {}),
      ...(accessToken ? { ath: b64u(sha256(accessToken)) } : {}),
    };
    const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
    const sig = await webcrypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, Buffer.from(input));
    return `${input}.${b64u(sig)}`; // WebCrypto's ECDSA signature is already r||s (JWS form)
  }

  async #fetchDpop(method, url, { headers = {}, body, accessToken } = {}) {
    for (let attempt = 0; ; attempt++) {
      const res = await fetch(url, {
        method,
        headers: {
          ...headers,
          dpop: await this.#dpopProof(method, url, accessToken),
          ...(accessToken ? { authorization: `DPoP ${accessToken}` } : {}),
        },
        body,
      });
      const newNonce = res.headers.get("dpop-nonce");
      this.dpopResponses.push({ url: `${method} ${url.split("?")[0]}`, status: res.status, nonce: newNonce });
      if (newNonce) this.nonce = newNonce;
      if (attempt === 0 && newNonce && (res.status === 400 || res.status === 401)) {
        const text = await res.clone().text();
        const www = res.headers.get("www-authenticate") ?? "";
        if (text.includes("use_dpop_nonce") || www.includes("use_dpop_nonce")) continue;
      }
      return res;
    }
  }

  /** PAR; returns the URL to open in the browser. */
  async authorize({ loginHint } = {}) {
    this.state = b64u(randomBytes(16));
    this.verifier = b64u(randomBytes(32));
    const body = new URLSearchParams({
      client_id: this.clientId,
      response_type: "code",
      redirect_uri: this.redirectUri,
      scope: this.scope,
      state: this.state,
      code_challenge: b64u(sha256(this.verifier)),
      code_challenge_method: "S256",
      ...(loginHint ? { login_hint: loginHint } : {}),
    });
    const res = await this.#fetchDpop("POST", `${this.issuer}/oauth/par`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`PAR ${res.status}: ${JSON.stringify(json)}`);
    const url = new URL(`${this.issuer}/oauth/authorize`);
    url.searchParams.set("client_id", this.clientId);
    url.searchParams.set("request_uri", json.request_uri);
    return url.href;
  }

  /** Token exchange for the code from the callback URL. */
  async callback(callbackUrl) {
    const params = new URL(callbackUrl).searchParams;
    if (params.get("state") !== this.state) throw new Error("state mismatch");
    if (params.get("iss") !== this.issuer) throw new Error(`iss mismatch: ${params.get("iss")}`);
    if (params.get("error")) {
      const e = new Error(`authorization error: ${params.get("error")}`);
      e.oauthError = params.get("error");
      throw e;
    }
    const res = await this.#fetchDpop("POST", `${this.issuer}/oauth/token`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code: params.get("code"),
        redirect_uri: this.redirectUri,
        code_verifier: this.verifier,
        client_id: this.clientId,
      }),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`token ${res.status}: ${JSON.stringify(json)}`);
    this.tokens = json;
    return json;
  }

  /** A form POST to an OAuth endpoint through DPoP; returns the raw Response. */
  async oauthPost(path, form) {
    return this.#fetchDpop("POST", `${this.issuer}${path}`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: this.clientId, ...form }),
    });
  }

  /** A DPoP-authenticated XRPC call that returns the raw Response, whatever its status. */
  async xrpcRaw(method, nsid, { params, accessToken = this.tokens.access_token } = {}) {
    const url = new URL(`${this.issuer}/xrpc/${nsid}`);
    for (const [k, v] of Object.entries(params ?? {})) url.searchParams.set(k, v);
    return this.#fetchDpop(method, url.href, { accessToken });
  }

  /** DPoP-authenticated XRPC call to the PDS (same origin as the issuer here). */
  async xrpc(method, nsid, { params, body } = {}) {
    const url = new URL(`${this.issuer}/xrpc/${nsid}`);
    for (const [k, v] of Object.entries(params ?? {})) url.searchParams.set(k, v);
    const res = await this.#fetchDpop(method, url.href, {
      accessToken: this.tokens.access_token,
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`${nsid} ${res.status}: ${JSON.stringify(json)}`);
    return json;
  }
}
