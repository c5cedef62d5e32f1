// Sign-in in a popup window (startLogin(input, { display: "popup" })) against the real local
// PDS, in Chromium (Playwright tells us about popup windows): the popup goes through the PDS's
// own pages, comes back to the app, hands the session to the opener and closes. The PDS serves
// its pages with Cross-Origin-Opener-Policy: same-origin, which cuts the popup off from the
// opener (window.opener is gone, popup.closed reads true while it is open): the result travels
// over a BroadcastChannel all the same. Closing the popup: a typed error (popup_closed where the
// browser can tell, else the timeout).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";

import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers } from "../../scripts/browsers/index.mjs";
import { startStack } from "./site.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

for (const name of browsers().filter((b) => b === "chromium")) {
  describe(name, () => {
    let pds, site, browser, stack, page, account;

    before(async () => {
      ({ pds, site, browser } = stack = await startStack(name));
      account = pds.accounts[0];
      page = await browser.newPage();
      await page.goto(`${site.url}/`);
      await page.waitFor(() => window.ready === true, undefined, { what: "the test page" });
    });

    after(() => stack?.stop());

    /** Adds a button whose click starts a popup login, as an app's click handler would; the
     *  outcome lands in window.popupOutcome. Returns the popup window. */
    async function clickToSignIn(options) {
      await page.evaluate(
        ([handle, options]) => {
          window.popupOutcome = undefined;
          document.getElementById("popup-login")?.remove();
          const button = document.createElement("button");
          button.id = "popup-login";
          button.textContent = "Sign in";
          button.onclick = () => {
            window.client.startLogin(handle, { display: "popup", ...options }).then(
              (value) => (window.popupOutcome = { ok: true, value }),
              (e) =>
                (window.popupOutcome = {
                  ok: false,
                  name: e.name,
                  code: e.code,
                  message: e.message,
                  serverError: e.serverError,
                  status: e.status,
                }),
            );
          };
          document.body.append(button);
        },
        [account.handle, options],
      );
      return page.popupDuring(() => page.playwright.page.click("#popup-login"));
    }

    async function outcome() {
      await page.waitFor(() => window.popupOutcome !== undefined, undefined, { what: "the popup login's outcome" });
      return page.evaluate(() => window.popupOutcome);
    }

    test("signs in through the PDS's pages in a popup, which hands the session over and closes", async () => {
      const popup = await clickToSignIn({ state: "from-the-popup" });
      await authorizeOnPds(popup, { password: account.password });
      await popup.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await popup.waitFor(() => window.ready === true, undefined, { what: "the callback page in the popup" });
      // The app's page code, as on any page load: finish the callback. The popup then closes.
      await popup.evaluate(() => window.call("handleCallback")).catch(() => {});
      const got = await outcome();
      assert.equal(got.ok, true, JSON.stringify(got));
      assert.equal(got.value.session.did, account.did);
      assert.equal(got.value.state, "from-the-popup");
      for (let i = 0; i < 40 && !popup.playwright.page.isClosed(); i++) await sleep(50);
      assert.ok(popup.playwright.page.isClosed(), "the popup closed itself");
      const listed = await page.evaluate(() => window.client.listSessions());
      assert.ok(listed.some((s) => s.did === account.did));
      const records = await page.evaluate(
        (did) => window.call("fetchRecords", did, "com.example.e2e.item", { limit: 1 }),
        account.did,
      );
      assert.equal(records.ok, true, JSON.stringify(records));
    });

    test("access denied in the popup: the opener's error is the popup's, serverError included", async () => {
      const popup = await clickToSignIn({});
      await authorizeOnPds(popup, { password: account.password, deny: true });
      await popup.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await popup.waitFor(() => window.ready === true, undefined, { what: "the callback page in the popup" });
      const there = await popup.evaluate(() => window.call("handleCallback")).catch(() => undefined);
      const got = await outcome();
      assert.equal(got.ok, false, JSON.stringify(got));
      assert.equal(got.name, "OAuthError");
      assert.equal(got.code, "access_denied", JSON.stringify(got));
      assert.equal(got.serverError, "access_denied", JSON.stringify(got));
      if (there) assert.equal(got.message, there.message);
    });

    test("the user closing the popup on a page without COOP: popup_closed, right away", async () => {
      // An authorization page without Cross-Origin-Opener-Policy (the PDS always sends one, so
      // this page stands in for it: a server that does not): the opener can see the close.
      const context = page.playwright.context;
      const strip = (route) =>
        route.fulfill({
          status: 200,
          contentType: "text/html",
          body: "<!doctype html><title>Sign in</title><form><input type=password></form>",
        });
      await context.route(`${pds.pds}/oauth/authorize**`, strip);
      try {
        const popup = await clickToSignIn({ popupTimeoutMs: 60_000 });
        await popup.waitFor(() => !!document.querySelector("input[type=password]"), undefined, {
          what: "the sign-in page in the popup",
        });
        await sleep(600); // the opener sees it open on the server's page
        const closedAt = Date.now();
        await popup.playwright.page.close();
        const got = await outcome();
        assert.equal(got.code, "popup_closed", JSON.stringify(got));
        assert.ok(Date.now() - closedAt < 5_000, "well before the timeout");
      } finally {
        await context.unroute(`${pds.pds}/oauth/authorize**`, strip);
      }
    });

    test("the user closing the popup behind COOP: the timeout ends the wait, as timeout, even with the clock set back", async () => {
      const popup = await clickToSignIn({ popupTimeoutMs: 4_000 });
      await popup.waitFor(() => !!document.querySelector("input[type=password]"), undefined, {
        what: "the sign-in page in the popup",
      });
      await popup.playwright.page.close();
      // The device's clock set back an hour meanwhile: the wait is measured in elapsed time.
      await page.evaluate(() => {
        const now = (window.realDateNow = Date.now);
        Date.now = () => now.call(Date) - 3_600_000;
      });
      const got = await outcome();
      await page.evaluate(() => {
        Date.now = window.realDateNow;
      });
      assert.equal(got.code, "timeout", JSON.stringify(got));
    });

    test("a popup login that timed out is over: signing in in the popup, still open behind COOP, stores nothing", async () => {
      await page.evaluate((did) => window.client.signOut(did), account.did);
      const popup = await clickToSignIn({ popupTimeoutMs: 3_000 });
      await popup.waitFor(() => !!document.querySelector("input[type=password]"), undefined, {
        what: "the sign-in page in the popup",
      });
      const got = await outcome();
      assert.equal(got.code, "timeout", JSON.stringify(got));
      // Behind COOP the opener cannot close it: the user goes on and signs in there.
      await authorizeOnPds(popup, { password: account.password });
      await popup.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await popup.waitFor(() => window.ready === true, undefined, { what: "the callback page in the popup" });
      const there = await popup.evaluate(() => window.call("handleCallback"));
      assert.equal(there.code, "invalid_state", JSON.stringify(there));
      const listed = await page.evaluate(() => window.client.listSessions());
      assert.ok(!listed.some((s) => s.did === account.did), JSON.stringify(listed));
    });

    test("the popup's callback took the login before the wait ended: the opener waits for its outcome, not timeout", async () => {
      await page.evaluate((did) => window.client.signOut(did), account.did);
      const timeoutMs = 9_000;
      const clicked = Date.now();
      const popup = await clickToSignIn({ popupTimeoutMs: timeoutMs });
      await authorizeOnPds(popup, { password: account.password });
      await popup.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await popup.waitFor(() => window.ready === true, undefined, { what: "the callback page in the popup" });
      // The code exchange is held until the opener's wait has ended: the popup's callback has
      // taken the login by then, and its sign-in is still going on.
      let exchanges = 0;
      await popup.playwright.page.route("**/oauth/token", async (route) => {
        exchanges++;
        await sleep(Math.max(0, clicked + timeoutMs + 1_500 - Date.now()));
        await route.continue();
      });
      assert.ok(Date.now() < clicked + timeoutMs - 1_000, "the authorization took too long for this test");
      const there = popup.evaluate(() => window.call("handleCallback")).catch(() => {});
      const got = await outcome();
      await there;
      assert.ok(exchanges >= 1);
      assert.ok(Date.now() > clicked + timeoutMs, "the outcome came after the wait's end");
      assert.equal(got.ok, true, JSON.stringify(got));
      assert.equal(got.value.session.did, account.did);
      const listed = await page.evaluate(() => window.client.listSessions());
      assert.ok(listed.some((s) => s.did === account.did));
    });

    test("a callback that fails with timeout in the popup: the opener gets that error at once, not after a longer wait", async () => {
      await page.evaluate((did) => window.client.signOut(did), account.did);
      const popup = await clickToSignIn({ popupTimeoutMs: 60_000 });
      await authorizeOnPds(popup, { password: account.password });
      await popup.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await popup.waitFor(() => window.ready === true, undefined, { what: "the callback page in the popup" });
      // The code exchange never answers within the popup's requestTimeoutMs.
      await popup.playwright.page.route("**/oauth/token", async (route) => {
        await sleep(4_000);
        await route.abort().catch(() => {});
      });
      const began = Date.now();
      popup.evaluate(() => window.makeClient({ requestTimeoutMs: 1_000 }).handleCallback()).catch(() => {});
      const got = await outcome();
      assert.equal(got.code, "timeout", JSON.stringify(got));
      assert.match(got.message, /token|exchange|request/i, JSON.stringify(got));
      assert.ok(Date.now() - began < 15_000, `the opener answered after ${Date.now() - began} ms`);
    });

    test("two handleCallback calls in the popup: the opener gets the login's outcome, not the second call's invalid_state", async () => {
      const popup = await clickToSignIn({});
      await authorizeOnPds(popup, { password: account.password });
      await popup.waitForUrl((u) => u.href.startsWith(`${site.url}/callback`));
      await popup.waitFor(() => window.ready === true, undefined, { what: "the callback page in the popup" });
      // As a page that runs its callback code twice (React's StrictMode in development).
      await popup
        .evaluate(() => Promise.all([window.call("handleCallback"), window.call("handleCallback")]))
        .catch(() => {});
      const got = await outcome();
      assert.equal(got.ok, true, JSON.stringify(got));
      assert.equal(got.value.session.did, account.did);
    });

    test("display values are checked before anything opens", async () => {
      const got = await page.evaluate(() =>
        window.client.startLogin("alice.test", { display: "window" }).then(
          () => "resolved",
          (e) => e.code,
        ),
      );
      assert.equal(got, "invalid_input");
    });
  });
}
