// The TypeScript declarations of the package, added to the generated .d.ts at build time
// (src/wasm/mod.rs includes this file). Types the #[wasm_bindgen] signatures refer to by name.
/** What `new OAuthClient(config)` takes. */
export interface OAuthClientConfig {
  /** The client id: the https URL of your client-metadata.json, or for local development the
   *  loopback form built by `loopbackClientId(redirectUri, scope)`. */
  clientId: string;
  /** Where the authorization server sends the browser back; must be listed in the client metadata. */
  redirectUri: string;
  /** Space-separated scopes; must include "atproto". Default "atproto transition:generic". */
  scope?: string;
  /** XRPC service for com.atproto.identity.resolveHandle. Default "https://public.api.bsky.app". */
  handleResolver?: string;
  /** PLC directory. Default "https://plc.directory". */
  plcDirectoryUrl?: string;
  /** DNS-over-HTTPS JSON endpoint. Default "https://cloudflare-dns.com/dns-query". */
  dohUrl?: string;
  /** Handle resolution methods, tried in order. Default ["well-known", "dns", "xrpc"]. */
  handleResolution?: Array<"well-known" | "dns" | "xrpc">;
  /** Development only: accept plain-http servers (e.g. a PDS on http://localhost:2583). */
  allowHttp?: boolean;
  /** Where the authorization response comes back. Default "query". */
  responseMode?: "query" | "fragment";
  /** Refresh this many seconds before the access token expires (capped at half the tokens'
   *  lifetime). Default 60, at most 86400. */
  refreshMarginSecs?: number;
  /** Milliseconds a request may take, from sending it to the last byte of the answer; then it
   *  fails with code "timeout". Default 30000 (at most 600000). */
  requestTimeoutMs?: number;
  /** The largest XRPC response body accepted, in bytes ("response_too_large" beyond it).
   *  Default 16 MiB, from 1024 to 268435456 (256 MiB). `fetchAllRecords` holds at most 16 times
   *  this (and never more than 256 MiB) of records. Identity, metadata and OAuth responses are capped at 1 MiB. */
  maxResponseBytes?: number;
  /** IndexedDB database name. Default "atproto-oauth". */
  dbName?: string;
}

export interface LoginOptions {
  /** Overrides the configured scope for this login. */
  scope?: string;
  /** Pre-fills the account on the sign-in page. Default: the account's verified handle, else
   *  its DID (none when you passed a server URL). */
  loginHint?: string;
  /** "create" is sign-up; it is refused (code "unsupported") by a server whose metadata does
   *  not list it in prompt_values_supported. */
  prompt?: "login" | "consent" | "select_account" | "none" | "create";
  /** Your own data, handed back by handleCallback. Stays in this browser. */
  state?: string;
  /** Navigate to the authorization page right away. Default false. Needs a window: in a
   *  worker it rejects with `unsupported` before any request. */
  redirect?: boolean;
  /** "popup": sign in in a popup window (call startLogin synchronously from the click handler,
   *  or the browser blocks it); the promise then resolves like handleCallback, once the popup
   *  has come back and closed. "page" (default) and "touch" only tell the server. */
  display?: "page" | "popup" | "touch";
  /** Popup only: give up after this many milliseconds (code "timeout", the popup is closed).
   *  Default 300000 (5 minutes), at most 3600000. */
  popupTimeoutMs?: number;
}

/** What `startLogin` resolves to: the authorization page; with `display: "popup"`, the
 *  finished login as well. */
export type LoginResult = LoginStart & Partial<CallbackResult>;

/** A permission of atproto.com/specs/permission, in the spec's JSON shape (its
 *  `type: "permission"` optional). A list parameter also takes a single string. */
export type Permission = { type?: "permission" } & (
  | { resource: "repo"; collection: string | string[]; action?: RepoAction | RepoAction[] }
  | { resource: "rpc"; lxm: string | string[]; aud: string }
  | { resource: "blob"; accept: string | string[] }
  | { resource: "account"; attr: "email" | "repo" | "status"; action?: "read" | "manage" }
  | { resource: "identity"; attr: "handle" | "*" }
  | { resource: "include"; nsid: string; aud?: string }
);

export type RepoAction = "create" | "update" | "delete";

/** What `buildScope` takes: the base and transitional scopes by name, permissions as objects. */
export type ScopeValue = "atproto" | "transition:generic" | "transition:email" | "transition:chat.bsky" | Permission;

export interface LoginStart {
  /** The authorization page to send the user to. */
  url: string;
}

/** A signed-in account. Holds no token and no key. */
export interface SessionInfo {
  did: string;
  handle: string | null;
  pds: string;
  issuer: string;
  scope: string;
  /** The granted scope's values, each once: possibly fewer than requested, and an `include:`
   *  set written out as its permissions. Compare with `buildScope([permission])` (as strings:
   *  a wider value that covers the permission does not match). */
  scopes: string[];
  /** Access-token expiry, Unix seconds. */
  expiresAt: number | null;
}

export interface RestoreOptions {
  /** The service this session's requests are forwarded to by the PDS (the `atproto-proxy`
   *  header), e.g. "did:web:api.bsky.app#bsky_appview". A request's own header wins. */
  proxy?: string;
}

/** A signed-in account as the AT Protocol SDKs take it: `new Agent(session)` from
 *  `@atproto/api`, `new Client({ handler: session.fetchHandler })` from `@atcute/client`.
 *  The SessionInfo fields are as they were when restored. */
export interface OAuthSession extends SessionInfo {
  /** Sends a request to the account's PDS: `pathname` is the path and query
   *  ("/xrpc/<nsid>?…"); DPoP-signed, refreshed ahead of expiry and once after
   *  `invalid_token`. Any HTTP status resolves (as a Response); only a request that got no
   *  answer rejects, with an OAuthError (`statusCode` 401 when the session has ended), or, as
   *  fetch does, with `init.signal`'s reason once it aborts. Works unbound
   *  (`const f = session.fetchHandler`). */
  fetchHandler: (pathname: string, init?: RequestInit) => Promise<Response>;
}

/** A stored session that cannot be read (see `unreadableSessions`). */
export interface UnreadableSession {
  did: string;
  error: OAuthError;
}

export interface CallbackResult {
  session: SessionInfo;
  /** The `state` you passed to startLogin. */
  state: string | null;
}

export interface FetchRecordsOptions {
  /** Repository to list; default the signed-in account's DID. */
  repo?: string;
  limit?: number;
  cursor?: string;
  reverse?: boolean;
}

export interface FetchAllRecordsOptions extends FetchRecordsOptions {
  /** Stop after this many records. Default 10000. */
  maxRecords?: number;
}

export interface RecordEntry {
  uri: string;
  cid: string;
  value: any;
}

export interface RecordsPage {
  records: RecordEntry[];
  cursor?: string;
}

export interface XrpcCall {
  /** The XRPC method, e.g. "com.atproto.repo.createRecord". */
  nsid: string;
  /** Default: "POST" when there is a body, else "GET". */
  method?: "GET" | "POST";
  params?: Record<string, string | number | boolean | Array<string | number | boolean> | undefined>;
  /** A JSON value (sent as application/json), or bytes (an ArrayBuffer or any view of one:
   *  Uint8Array, DataView, …) sent with `encoding`. Other objects (a Blob, a Map, FormData…)
   *  are refused ("invalid_input"): for a Blob, pass `await blob.arrayBuffer()`. */
  body?: unknown;
  /** Content type for a bytes body. Default "application/octet-stream". */
  encoding?: string;
  headers?: Record<string, string>;
  /** The service the PDS forwards this call to (`atproto-proxy`), e.g.
   *  "did:web:api.bsky.app#bsky_appview". */
  proxy?: string;
}

export interface XrpcResult {
  status: number;
  headers: Record<string, string>;
  /** Parsed JSON for JSON responses, otherwise the raw bytes. */
  data: any;
}

/** A session changed, in this tab or (`remote: true`) another. `unsaved`: a refresh succeeded
 *  but its tokens could not be stored; that tab keeps them and retries, and `updated` follows
 *  once a write lands (the README's "Reliability"). */
export type SessionEventDetail =
  | { type: "updated"; did: string; remote?: boolean }
  | { type: "deleted"; did: string; reason: string; remote?: boolean }
  | { type: "unsaved"; did: string; reason: string; remote?: boolean };

/** The stable codes of `OAuthError` (kept equal to the Rust `ErrorCode` enum by a test). */
export type OAuthErrorCode =
  | "invalid_config"
  | "invalid_input"
  | "invalid_handle"
  | "invalid_did"
  | "unsupported_did_method"
  | "handle_resolution_failed"
  | "did_resolution_failed"
  | "handle_mismatch"
  | "no_pds"
  | "invalid_metadata"
  | "insecure_url"
  | "network_error"
  | "timeout"
  | "response_too_large"
  | "invalid_response"
  | "par_failed"
  | "invalid_state"
  | "state_expired"
  | "issuer_mismatch"
  | "access_denied"
  | "authorization_error"
  | "token_failed"
  | "subject_mismatch"
  | "session_not_found"
  | "session_expired"
  | "xrpc_error"
  | "insufficient_scope"
  | "storage_error"
  | "lock_failed"
  | "crypto_error"
  | "unsupported"
  | "internal_error"
  | "popup_blocked"
  | "popup_closed";

/** Every error this library throws or rejects with. Branch on `code`. */
export interface OAuthError extends Error {
  name: "OAuthError";
  code: OAuthErrorCode;
  /** The server's own error name (OAuth `error` or XRPC `error`), when a server sent one. */
  serverError?: string;
  /** HTTP status, when a server answered. */
  status?: number;
  /** For "insufficient_scope": the permission the PDS said is missing (request it in a new login). */
  missingScope?: string;
  /** The error this one wraps, when there is one. */
  cause?: OAuthError;
  /** 401, on `fetchHandler`'s rejections for a session that has ended ("session_expired",
   *  "session_not_found", "subject_mismatch"): the status `@atproto/xrpc`'s `XRPCError` then
   *  takes. */
  statusCode?: 401;
}

export interface OAuthClient {
  /** The last active account's session (the one last signed in or restored in this browser,
   *  as `init()` of the official client picks it up), or null when there is none. Needs
   *  localStorage: in a worker, pass the DID. */
  restore(): Promise<OAuthSession | null>;
}
