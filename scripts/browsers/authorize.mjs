// scripts/browsers/authorize.mjs — the PDS's own OAuth pages (those of @atproto/oauth-provider), driven
// in any browser through the driver interface (index.mjs):
//
//   ... the app sends the page to the PDS's /oauth/authorize ...
//   await authorizeOnPds(page, { password: "alice-pass" });          // or { ..., deny: true }
//   ... the PDS redirects back to the app's redirect_uri ...

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A button whose text is `label`, ignoring case and surrounding space. */
const button = (label) => {
  const letters = [...new Set(label.replace(/\s/g, ""))].join("");
  return `//button[translate(normalize-space(), '${letters.toUpperCase()}', '${letters}')='${label}']`;
};

const SIGN_IN_FORM = "form:has(input[type=password])";
const PASSWORD = `${SIGN_IN_FORM} input[type=password]`;
const USERNAME = `${SIGN_IN_FORM} :is(input[autocomplete~=username], input[name=username], input[type=email], input[type=text])`;
const SUBMIT = `${SIGN_IN_FORM} button[type=submit]`;
const ALERT = "[role=alert]";

/** (In the page.) The text of the visible elements matching a CSS selector. */
function visibleAlertText(sel) {
  return [...document.querySelectorAll(sel)]
    .filter((e) => e.getClientRects().length > 0)
    .map((e) => e.innerText.trim())
    .join(" ");
}

/**
 * (In the page.) Gives the PDS's page a CSRF cookie that WebKit keeps, when it has none.
 *
 * @atproto/oauth-provider (0.22.9, in @atproto/pds 0.5.35) sets its double-submit CSRF cookie
 * (`csrf-token`, read by the page's script into an `x-csrf-token` header) with `Secure` even on
 * an http issuer (src/router/assets/csrf.ts: `secure: true`; its device cookies drop `Secure` on
 * http issuers "for the oauth routes to work from localhost on Safari", this one does not).
 * Chromium and Firefox store a `Secure` cookie from http://localhost (a potentially trustworthy
 * origin); WebKit does not, so on the loopback PDS every sign-in fails with 400 "Missing CSRF
 * header" ("The data you submitted is invalid."). The same token as a plain cookie, set by the
 * page itself, is what the server would have set: this stands in for it. Not needed against an
 * https server.
 */
function giveCsrfCookie() {
  if (document.cookie.split("; ").some((c) => c.startsWith("csrf-token="))) return false;
  const token = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
  document.cookie = `csrf-token=${token}; path=/; SameSite=Lax`;
  return true;
}

/**
 * Drives the PDS's pages in `page`:
 *  - "Welcome" (no login_hint: "Create a new account" / "Sign in"): clicks "Sign in";
 *  - "Sign in": with a login_hint the username field is pre-filled and read-only; otherwise it is
 *    filled with `username`. Fills the password, clicks the form's submit button, and throws the
 *    page's error (e.g. "Wrong identifier or password") if sign-in fails;
 *  - "Authorize" (consent): clicks "Authorize", or "Deny access" when `deny`.
 * Resolves once the browser has left the PDS (it is being redirected to the client's
 * redirect_uri; the caller then waits for its own page).
 *
 * The page must be on, or navigating to, the PDS's /oauth/authorize page.
 * @param {{password?: string, username?: string, deny?: boolean, timeout?: number}} opts
 */
export async function authorizeOnPds(page, { password, username, deny = false, timeout = 30_000 } = {}) {
  const authorize = await page.waitForUrl((u) => u.pathname.startsWith("/oauth/authorize"), { timeout });
  const pdsOrigin = authorize.origin;
  const consent = button(deny ? "deny access" : "authorize");
  const welcomeSignIn = button("sign in");
  const deadline = Date.now() + timeout;
  let submitted = false;
  for (;;) {
    if (Date.now() > deadline) {
      throw new Error(`authorizeOnPds: no known PDS page after ${timeout} ms (at ${await page.url()})`);
    }
    // (The PDS may redirect without asking again, e.g. for a remembered session and consent.)
    if (new URL(await page.url()).origin !== pdsOrigin) return;
    if (page.browser === "webkit" && authorize.protocol === "http:") await page.evaluate(giveCsrfCookie);
    if (await page.visible(consent)) {
      await page.click(consent);
      break;
    }
    if (await page.visible(PASSWORD)) {
      if (submitted) {
        // Already submitted: wait for the consent page or an error.
        if (await page.visible(ALERT)) {
          throw new Error(`authorizeOnPds: sign-in failed: ${await page.evaluate(visibleAlertText, ALERT)}`);
        }
      } else {
        if (password == null) throw new Error("authorizeOnPds: the PDS asks for a password and none was given");
        if ((await page.visible(USERNAME)) && !(await page.value(USERNAME))) {
          if (!username) throw new Error("authorizeOnPds: the username field is empty and no username was given");
          await page.fill(USERNAME, username);
        }
        await page.fill(PASSWORD, password);
        await page.click(SUBMIT);
        submitted = true;
        continue;
      }
    } else if (!submitted && (await page.visible(welcomeSignIn))) {
      await page.click(welcomeSignIn);
      continue;
    }
    await sleep(100);
  }
  await page.waitForUrl((u) => u.origin !== pdsOrigin, { timeout });
}
