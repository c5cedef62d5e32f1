// The demo: everything a "Sign in with Bluesky" page needs, using only the package's public API.
import init, { OAuthClient, loopbackClientId } from "./pkg/atproto_oauth_wasm.js";

const $ = (id) => document.getElementById(id);
const SCOPE = "atproto transition:generic";
const CURRENT_KEY = "demo:current-did"; // which stored account is shown (a DID is not a secret)

// ---- configuration ---------------------------------------------------------------------
// `npm start` serves a config.json for the embedded local PDS; a plain static host has none,
// and the page then talks to the real network.
async function loadConfig() {
  try {
    const resp = await fetch("config.json", { cache: "no-store" });
    if (resp.ok) return await resp.json();
  } catch {}
  return { network: "bsky" };
}

function clientOptions(config) {
  // The page URL without query or fragment is the redirect URI: works on any static host.
  const redirectUri = `${location.origin}${location.pathname}`;
  const loopback = ["127.0.0.1", "[::1]"].includes(location.hostname);
  const clientId =
    config.clientId ??
    (loopback ? loopbackClientId(redirectUri, SCOPE) : new URL("client-metadata.json", location.href).href);
  const options = { clientId, redirectUri, scope: SCOPE };
  if (config.network === "local") {
    Object.assign(options, {
      handleResolver: config.pds,
      plcDirectoryUrl: config.plc,
      handleResolution: ["xrpc"],
      allowHttp: true,
    });
  }
  return options;
}

// ---- small UI helpers --------------------------------------------------------------------
let busyCount = 0;
async function busy(text, fn) {
  busyCount++;
  $("busy-text").textContent = text;
  $("busy").hidden = false;
  document.querySelectorAll("button").forEach((b) => (b.disabled = true));
  hideError();
  try {
    return await fn();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    if (--busyCount === 0) {
      $("busy").hidden = true;
      document.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  }
}

const FRIENDLY = {
  invalid_handle: "That doesn't look like a handle. Handles look like alice.bsky.social.",
  handle_resolution_failed: "Couldn't find an account with that handle.",
  access_denied: "You declined the sign-in.",
  invalid_state: "This sign-in link was already used or didn't start here. Please sign in again.",
  state_expired: "The sign-in took too long. Please try again.",
  network_error: "Network problem: the server couldn't be reached.",
  session_expired: "Your session ended. Please sign in again.",
  insecure_url: "That server doesn't use https.",
};

function showError(e) {
  const el = $("error");
  el.replaceChildren();
  const code = document.createElement("code");
  code.textContent = e?.code ?? "error";
  el.append(code, " ", FRIENDLY[e?.code] ?? "", FRIENDLY[e?.code] ? " " : "");
  const detail = document.createElement("small");
  detail.textContent = e?.message ?? String(e);
  el.append(detail);
  el.hidden = false;
  el.scrollIntoView({ block: "nearest" });
}

function hideError() {
  $("error").hidden = true;
}

function li(...children) {
  const item = document.createElement("li");
  item.append(...children);
  return item;
}

function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

// ---- state -------------------------------------------------------------------------------
let client;
let current = null; // SessionInfo of the account shown
let cursor = undefined;
const PAGE_SIZE = 10;

function showSession(info) {
  current = info;
  if (info) localStorage.setItem(CURRENT_KEY, info.did);
  else localStorage.removeItem(CURRENT_KEY);
  for (const id of ["session", "records"]) $(id).hidden = !info;
  $("login-title").textContent = info ? "Sign in another account" : "Sign in";
  document.body.classList.toggle("signed-in", !!info); // the session first, adding an account last
  if (!info) return;
  $("s-handle").textContent = info.handle ? `@${info.handle}` : "(unverified)";
  $("s-did").textContent = info.did;
  $("s-pds").textContent = info.pds;
  $("s-scope").textContent = info.scope;
  if (info.expiresAt) {
    const when = new Date(info.expiresAt * 1000);
    const time = document.createElement("time");
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleString();
    $("s-expiry").replaceChildren(time);
  } else {
    $("s-expiry").textContent = "—";
  }
}

async function renderAccounts() {
  const sessions = await client.listSessions();
  $("accounts").hidden = sessions.length === 0;
  $("account-list").replaceChildren(
    ...sessions.map((s) => {
      const label = document.createElement("span");
      label.textContent = s.handle ? `@${s.handle}` : s.did;
      const item = li(label);
      if (s.did === current?.did) item.className = "current";
      else item.append(button("Switch", "secondary", () => switchTo(s.did)));
      return item;
    }),
  );
  return sessions;
}

async function switchTo(did) {
  await busy("Restoring session…", async () => {
    showSession(await client.restore(did));
    await renderAccounts();
    await loadRecords(true);
  });
}

async function loadRecords(reset) {
  if (!current) return;
  if (reset) {
    cursor = undefined;
    $("record-list").replaceChildren();
  }
  const collection = $("collection").value.trim();
  const page = await client.fetchRecords(current.did, collection, { limit: PAGE_SIZE, cursor });
  for (const r of page.records) $("record-list").append(recordItem(collection, r));
  cursor = page.cursor;
  // The PDS returns a cursor with every non-empty page, even the last one: a short page is the end.
  $("more-button").hidden = !cursor || page.records.length < PAGE_SIZE;
  showEmptyState();
}

function showEmptyState() {
  const list = $("record-list");
  const empty = list.querySelector("li.empty");
  if (list.querySelector("li[data-uri]")) return empty?.remove();
  if (!empty) {
    const item = li(
      Object.assign(document.createElement("span"), { textContent: "No records in this collection yet." }),
    );
    item.className = "empty";
    list.append(item);
  }
}

function recordItem(collection, r) {
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = r.value?.text ?? JSON.stringify(r.value);
  const uri = document.createElement("span");
  uri.className = "uri";
  uri.textContent = r.uri;
  text.append(uri);
  const rkey = r.uri.split("/").pop();
  const item = li(text);
  item.dataset.uri = r.uri;
  item.append(
    button("Delete", "danger", () =>
      busy("Deleting…", async () => {
        await client.xrpc(current.did, {
          nsid: "com.atproto.repo.deleteRecord",
          body: { repo: current.did, collection, rkey },
        });
        item.remove();
        showEmptyState();
      }),
    ),
  );
  return item;
}

// ---- wiring ------------------------------------------------------------------------------
async function main() {
  await init();
  const config = await loadConfig();
  $("network").textContent =
    config.network === "local"
      ? `Local PDS at ${config.pds} (offline demo).`
      : "Network: Bluesky (bsky.social and every other PDS).";
  if (config.accounts?.length) {
    $("demo-accounts").hidden = false;
    $("demo-account-list").replaceChildren(
      ...config.accounts.map((a) => {
        const text = document.createElement("span");
        text.textContent = `${a.handle} — password: ${a.password}`;
        return li(
          text,
          button("Use", "secondary", () => {
            $("login-input").value = a.handle;
          }),
        );
      }),
    );
    $("login-input").placeholder = config.accounts[0].handle;
  }
  try {
    client = new OAuthClient(clientOptions(config));
  } catch (e) {
    showError(e);
    return;
  }
  client.onSessionEvent(async (event) => {
    if (event.type === "deleted" && event.did === current?.did) showSession(null);
    await renderAccounts().catch(() => {});
    if (event.type === "updated" && event.did === current?.did) {
      showSession(await client.restore(event.did));
    }
  });

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy("Looking up your account…", async () => {
      await client.startLogin($("login-input").value.trim(), { redirect: true, state: location.hash || undefined });
      $("busy-text").textContent = "Redirecting to your server…";
      // Stay busy while the browser leaves (startLogin resolves as the navigation starts), but not
      // forever if it doesn't.
      await new Promise((resolve) => {
        addEventListener("pagehide", resolve, { once: true });
        setTimeout(resolve, 10_000);
      });
    });
  });
  $("records-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy("Loading records…", () => loadRecords(true));
  });
  $("more-button").addEventListener("click", () => busy("Loading more…", () => loadRecords(false)));
  $("create-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy("Creating record…", async () => {
      const collection = $("collection").value.trim();
      const text = $("post-text").value;
      const record = { $type: collection, text, createdAt: new Date().toISOString() };
      await client.xrpc(current.did, {
        nsid: "com.atproto.repo.createRecord",
        body: { repo: current.did, collection, record },
      });
      $("post-text").value = "";
      await loadRecords(true);
    });
  });
  $("refresh-button").addEventListener("click", () =>
    busy("Refreshing tokens…", async () => showSession(await client.refresh(current.did))),
  );
  $("signout-button").addEventListener("click", () =>
    busy("Signing out…", async () => {
      await client.signOut(current.did);
      showSession(null);
      const rest = await renderAccounts();
      if (rest.length) await switchTo(rest[0].did);
    }),
  );

  if (client.isCallback()) {
    await busy("Finishing sign-in…", async () => {
      const { session, state } = await client.handleCallback();
      // The page's #fragment when the sign-in started (handed back through `state`).
      if (state?.startsWith("#")) history.replaceState(null, "", state);
      showSession(session);
    });
  } else {
    const saved = localStorage.getItem(CURRENT_KEY);
    const sessions = await client.listSessions().catch(() => []);
    const pick = sessions.find((s) => s.did === saved) ?? sessions[0];
    if (pick) showSession(await client.restore(pick.did).catch(() => null));
  }
  await renderAccounts().catch(showError);
  if (current) await busy("Loading records…", () => loadRecords(true));
  document.body.dataset.ready = "true";
}

main().catch(showError);
