// Compiled (not run) against the generated pkg/*.d.ts by `npm test`: the README's usage must
// type-check, and misuse must not (see the @ts-expect-error lines).
import init, {
  OAuthClient,
  buildScope,
  loopbackClientId,
  type CallbackResult,
  type OAuthClientConfig,
  type OAuthError,
  type OAuthSession,
  type RecordsPage,
  type SessionEventDetail,
  type SessionInfo,
  type XrpcResult,
} from "atproto-oauth-wasm";

export async function readmeQuickStart(): Promise<void> {
  await init();
  const client = new OAuthClient({
    clientId: "https://app.example.com/client-metadata.json",
    redirectUri: "https://app.example.com/",
    scope: "atproto transition:generic",
  });
  const dev = new OAuthClient({
    clientId: loopbackClientId("http://127.0.0.1:8080/", "atproto"),
    redirectUri: "http://127.0.0.1:8080/",
    handleResolver: "http://localhost:2583",
    plcDirectoryUrl: "http://localhost:2582",
    handleResolution: ["xrpc"],
    allowHttp: true,
    responseMode: "fragment",
  });
  const { url }: { url: string } = await client.startLogin("alice.bsky.social");
  await client.startLogin("alice.bsky.social", { redirect: true, state: "x", prompt: "login", loginHint: "alice" });
  if (client.isCallback()) {
    const result: CallbackResult = await client.handleCallback();
    const session: SessionInfo = result.session;
    const page: RecordsPage = await client.fetchRecords(session.did, "app.bsky.feed.post");
    const next: RecordsPage = await client.fetchRecords(session.did, "app.bsky.feed.post", {
      limit: 25,
      cursor: page.cursor,
      reverse: true,
    });
    const all = await client.fetchAllRecords(session.did, "app.bsky.feed.post", { maxRecords: 100 });
    const first: string | undefined = all[0]?.uri ?? next.records[0]?.cid;
    const res: XrpcResult = await client.xrpc(session.did, {
      nsid: "com.atproto.repo.createRecord",
      body: { repo: session.did, collection: "app.bsky.feed.post", record: { text: first } },
    });
    await client.xrpc(session.did, {
      nsid: "com.atproto.repo.uploadBlob",
      body: new Uint8Array([1, 2]),
      encoding: "image/png",
    });
    const status: number = res.status;
    const sessions: SessionInfo[] = await client.listSessions();
    for (const bad of await client.unreadableSessions()) {
      const code: string = bad.error.code;
      if (code) await client.signOut(bad.did);
    }
    const restored: SessionInfo = await client.restore(sessions[0].did);
    // The README's "last active account" snippet.
    const last: OAuthSession | null = await client.restore();
    // @ts-expect-error: without a DID there may be nobody signed in
    const notNull: OAuthSession = await client.restore();
    console.log(last?.did, notNull);
    // The README's popup snippet.
    const viaPopup = await client.startLogin("alice.bsky.social", { display: "popup", popupTimeoutMs: 60_000 });
    const popupSession: SessionInfo | undefined = viaPopup.session;
    console.log(popupSession?.did, viaPopup.state, viaPopup.url);
    // The README's SDK snippet: the session object and its fetchHandler.
    const sdk: OAuthSession = await client.restore(sessions[0].did, {
      proxy: "did:web:api.bsky.app#bsky_appview",
    });
    const handler: (pathname: string, init?: RequestInit) => Promise<Response> = sdk.fetchHandler;
    const answer: Response = await handler("/xrpc/app.bsky.actor.getProfile?actor=" + sdk.did);
    await client.xrpc(sdk.did, {
      nsid: "app.bsky.feed.getTimeline",
      params: { limit: answer.ok ? 10 : 1 },
      proxy: "did:web:api.bsky.app#bsky_appview",
    });
    const refreshed: SessionInfo = await client.refresh(restored.did);
    const expires: number | null = refreshed.expiresAt;
    const off: () => void = client.onSessionEvent((e: SessionEventDetail) => {
      if (e.type === "deleted") console.log(e.reason, status, expires);
    });
    off();
    await client.signOut(session.did);
  }
  // The README's page-load snippet.
  let current: SessionInfo | undefined;
  if (client.isCallback()) {
    ({ session: current } = await client.handleCallback());
  } else {
    [current] = await client.listSessions();
  }
  if (current) {
    const page = await client.fetchRecords(current.did, "app.bsky.feed.post", { limit: 25 });
    console.log(page.records, page.cursor);
  }
  try {
    await dev.handleCallback(url);
  } catch (err) {
    const e = err as OAuthError;
    if (e.code === "access_denied" || e.code === "invalid_state") console.log(e.serverError, e.status);
  }

  // The README's permissions section.
  const scope: string = buildScope([
    "atproto",
    { resource: "repo", collection: "app.example.note", action: ["create", "delete"] },
    { resource: "rpc", lxm: "app.example.getFeed", aud: "did:web:api.example.com#feed" },
    { resource: "blob", accept: "image/*" },
    { resource: "account", attr: "email", action: "manage" },
    { resource: "identity", attr: "*" },
    { resource: "include", nsid: "app.example.authFull", aud: "did:web:api.example.com#feed" },
    // The spec's own shape, with its type.
    { type: "permission", resource: "repo", collection: ["app.example.profile"] },
    "transition:chat.bsky",
  ]);
  const scoped = new OAuthClient({
    clientId: "https://app.example.com/m.json",
    redirectUri: "https://app.example.com/",
    scope,
  });
  const [signedIn] = await scoped.listSessions();
  const granted: string[] = signedIn.scopes;
  if (granted.includes(buildScope([{ resource: "blob", accept: "image/*" }]))) console.log("may upload images");
  try {
    await scoped.xrpc(signedIn.did, { nsid: "com.atproto.repo.createRecord", body: {} });
  } catch (err) {
    const e = err as OAuthError;
    if (e.code !== "insufficient_scope") throw err;
    const missing: string | undefined = e.missingScope;
    console.log(`needs ${missing}`);
    await scoped.startLogin(signedIn.did, { redirect: true });
  }
  await scoped.startLogin("https://pds.example", { prompt: "create" });
  // @ts-expect-error not a resource of the permission spec
  buildScope([{ resource: "space", attr: "x" }]);
  // @ts-expect-error not a repo action
  buildScope([{ resource: "repo", collection: "a.b.c", action: "read" }]);
  // @ts-expect-error a permission's type is "permission"
  buildScope([{ type: "token", resource: "repo", collection: "a.b.c" }]);
  // @ts-expect-error rpc needs its audience
  buildScope([{ resource: "rpc", lxm: "a.b.c" }]);
  // @ts-expect-error permissions are objects; only atproto and transition: scopes are strings
  buildScope(["repo:a.b.c"]);
  // @ts-expect-error not a prompt value
  await scoped.startLogin("alice.test", { prompt: "signup" });

  // @ts-expect-error clientId is required
  new OAuthClient({ redirectUri: "https://app.example.com/" });
  // @ts-expect-error unknown handle resolution method
  new OAuthClient({ clientId: "x", redirectUri: "y", handleResolution: ["carrier-pigeon"] });
  // @ts-expect-error the collection is required
  await client.fetchRecords("did:plc:x");
  const e = {} as OAuthError;
  // @ts-expect-error not an error code this library has
  if (e.code === "bogus") return;
}

// The README's Workers snippets (the module worker and the service worker's handler).
export async function readmeWorker(config: OAuthClientConfig): Promise<void> {
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  worker.terminate();
  await init();
  const client = new OAuthClient(config);
  const [session] = await client.listSessions();
  if (session) {
    const { records } = await client.fetchRecords(session.did, "app.bsky.feed.post");
    postMessage(records);
  }
  const ready = init().then(() => new OAuthClient(config));
  const answer = async (c: OAuthClient, event: MessageEvent) => console.log(await c.listSessions(), event.data);
  addEventListener("message", (event: MessageEvent) => void ready.then((c) => answer(c, event)));
}
