// The demo page itself (www/), end to end, exactly as `npm start` serves it (scripts/demo.mjs's
// startDemo: the official PDS with the demo accounts + www/ and pkg/ on http://127.0.0.1:8080 with
// a generated config.json), in each browser (scripts/browsers/index.mjs), driven only by clicking and
// typing: sign in from the demo account list, the PDS's sign-in and consent pages, the session
// shown, records created, paged through and deleted, a second account, switching, reload,
// sign-out, and an error.
//
// Run: node tests/e2e/run.mjs demo            (one browser: node tests/e2e/run.mjs demo firefox)
//
// The tests are one click path per browser, in order, on one page. When a step fails, a full-page
// screenshot and the page's HTML are saved to tests/e2e/artifacts/ (its path is printed) before
// anything is closed, and the later steps are skipped. ATPROTO_E2E_SCREENSHOTS=1 also saves a
// screenshot after every step.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startDemo } from "../../scripts/demo.mjs";
import { authorizeOnPds } from "../../scripts/browsers/authorize.mjs";
import { browsers, launch } from "../../scripts/browsers/index.mjs";
import { artifactName, clickPath } from "./steps.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, "artifacts");
const STEP_SCREENSHOTS = process.env.ATPROTO_E2E_SCREENSHOTS === "1";
const TIMEOUT = 30_000;
const NOTES = "com.example.demo.note"; // a collection of our own (no lexicon: not validated)

/** A button whose text is exactly `label`, optionally inside the element an XPath `within` names. */
const button = (label, within = "") => `${within}//button[normalize-space()='${label}']`;
const listItem = (listId, text) => `//ul[@id='${listId}']/li[contains(., '${text}')]`;

for (const name of browsers()) {
  describe(name, () => {
    let demo, browser, page;
    const label = `demo.test ${name}`;

    before(async () => {
      demo = await startDemo({ network: "local", host: "127.0.0.1", port: 8080 });
      browser = await launch(name);
      page = await browser.newPage({
        viewport: { width: 1000, height: 900 },
        locale: "en-US",
        timeout: TIMEOUT,
        onPageError: (err) => console.error(`[page error] ${err.message}`),
      });
    });

    after(async () => {
      await page?.close().catch(() => {});
      await browser?.close().catch(() => {});
      await demo?.stop();
    });

    const alice = () => demo.pds.accounts.find((a) => a.handle === "alice.test");
    const bob = () => demo.pds.accounts.find((a) => a.handle === "bob.test");

    // ---- helpers -------------------------------------------------------------------------------

    /** Saves a full-page screenshot and the page's HTML; returns the screenshot's path. */
    async function saveArtifacts(step) {
      if (!page || page.isClosed()) return null;
      mkdirSync(ARTIFACTS, { recursive: true });
      const base = path.join(ARTIFACTS, artifactName(`demo-${name}`, step));
      try {
        await page.screenshot(`${base}.png`);
        writeFileSync(`${base}.html`, await page.html());
        console.error(`[${label}] saved ${base}.png and ${base}.html`);
        return `${base}.png`;
      } catch (err) {
        console.error(`could not save a screenshot: ${err.message}`);
        return null;
      }
    }

    /** A step of the click path: screenshot + HTML on failure (before the browser closes). */
    const step = clickPath({ save: saveArtifacts, label, saveEveryStep: STEP_SCREENSHOTS });

    const text = async (sel) => (await page.text(sel)).trim();
    const visible = (sel) => page.visible(sel);

    /**
     * Waits until the page is idle (no "Working…" indicator) and, unless `allowError`, fails with
     * the error box's text if it shows one.
     */
    async function settle({ allowError = false } = {}) {
      await page.waitFor(
        () => document.body.dataset.ready === "true" && document.getElementById("busy").hidden,
        undefined,
        { timeout: TIMEOUT, what: "the page to settle" },
      );
      if (!allowError && (await visible("#error"))) {
        assert.fail(`the page shows an error: ${await text("#error")}`);
      }
    }

    /** Waits for `predicate` (run in the page) while failing early if the error box appears. */
    async function waitForPage(what, predicate, arg) {
      const result = await page.waitFor(
        ([src, a]) => {
          const err = document.getElementById("error");
          if (err && !err.hidden) return { error: err.innerText };
          // eslint-disable-next-line no-new-func
          return new Function("arg", `return (${src})(arg)`)(a) ? { ok: true } : false;
        },
        [predicate.toString(), arg],
        { timeout: TIMEOUT, what },
      );
      if (result.error) assert.fail(`waiting for ${what}, the page shows an error: ${result.error}`);
    }

    /** The signed-in card shows `account`. */
    async function assertSession(account) {
      await waitForPage(
        `the session of ${account.handle}`,
        (did) => !document.getElementById("session").hidden && document.getElementById("s-did").textContent === did,
        account.did,
      );
      await settle();
      assert.equal(await text("#s-handle"), `@${account.handle}`);
      assert.equal(await text("#s-did"), account.did);
      assert.equal(await text("#s-pds"), demo.pds.pds);
      assert.deepEqual((await text("#s-scope")).split(/\s+/).sort(), ["atproto", "transition:generic"]);
      // The expiry is shown as a date, and carries it machine-readably.
      const expiry = await text("#s-expiry");
      assert.ok(expiry && expiry !== "—", `expiry shown: ${JSON.stringify(expiry)}`);
      const iso = await page.attribute("#s-expiry time", "datetime");
      const expiresAt = Date.parse(iso);
      assert.ok(expiresAt > Date.now(), `token expiry ${iso} is in the future`);
      assert.ok(expiresAt < Date.now() + 24 * 3600_000, `token expiry ${iso} is within a day`);
      assert.equal(await visible("#records"), true, "the records card is shown");
    }

    /** The Accounts list: [{label, current, canSwitch}] in page order. */
    const accountsList = () =>
      page.evaluate(() =>
        [...document.querySelectorAll("#account-list li")].map((item) => ({
          label: item.querySelector("span").innerText.trim(),
          current: item.classList.contains("current"),
          canSwitch: [...item.querySelectorAll("button")].filter((b) => b.textContent.trim() === "Switch").length === 1,
        })),
      );

    /** Record items currently listed: [{text, uri}]. */
    const listedRecords = () =>
      page.evaluate(() =>
        [...document.querySelectorAll("#record-list li[data-uri]")].map((item) => ({
          uri: item.getAttribute("data-uri"),
          text: item.querySelector(".text").innerText.split("\n")[0].trim(),
        })),
      );

    /** Signs in with whatever is in the sign-in field: the PDS's pages, then back to the demo. */
    async function signInThroughPds(account) {
      await page.click(button("Sign in", "//form[@id='login-form']"));
      await authorizeOnPds(page, { password: account.password, timeout: TIMEOUT });
      await page.waitForUrl((u) => u.origin === demo.url, { timeout: TIMEOUT });
      await assertSession(account);
      // The authorization response is gone from the address bar.
      assert.equal(await page.url(), `${demo.url}/`);
    }

    async function createRecordViaForm(postText) {
      await page.click("#post-text");
      await page.fill("#post-text", postText);
      await page.click(button("Create record"));
      await waitForPage(
        `the record "${postText}" in the list`,
        (t) =>
          [...document.querySelectorAll("#record-list li[data-uri] .text")].some(
            (e) => e.firstChild?.textContent === t,
          ),
        postText,
      );
      await settle();
      assert.equal(await page.value("#post-text"), "", "the text field is cleared");
    }

    async function loadCollection(nsid) {
      await page.fill("#collection", nsid);
      await page.click(button("Load"));
      await settle();
    }

    // ---- the click path ------------------------------------------------------------------------

    step("the page loads signed out and lists the demo accounts", async () => {
      await page.goto(`${demo.url}/`);
      await settle();
      assert.match(await text("#network"), /Local PDS at http:\/\/localhost:2583/);
      for (const id of ["#session", "#records", "#accounts"]) assert.equal(await visible(id), false, `${id} hidden`);
      assert.equal(await visible("#login"), true);
      assert.equal(await visible("#demo-accounts"), true);
      const items = await page.evaluate(() =>
        [...document.querySelectorAll("#demo-account-list li")].map((e) => e.innerText),
      );
      assert.equal(items.length, 2);
      assert.match(items[0], /alice\.test.*alice-pass/s);
      assert.match(items[1], /bob\.test.*bob-pass/s);
    });

    step("an invalid handle shows invalid_handle", async () => {
      await page.fill("#login-input", "not a handle");
      await page.click(button("Sign in", "//form[@id='login-form']"));
      await settle({ allowError: true });
      assert.equal(await visible("#error"), true, "the error box is shown");
      assert.equal(await text("#error code"), "invalid_handle");
      assert.match(await text("#error"), /doesn't look like a handle/);
      assert.equal(await page.url(), `${demo.url}/`, "no navigation");
    });

    step("sign in as alice from the demo account list", async () => {
      await page.click(button("Use", listItem("demo-account-list", "alice.test")));
      assert.equal(await page.value("#login-input"), "alice.test");
      await signInThroughPds(alice());
      assert.equal(await visible("#error"), false, "the earlier error is gone");
      assert.equal(await text("#login-title"), "Sign in another account");
      assert.deepEqual(await accountsList(), [{ label: "@alice.test", current: true, canSwitch: false }]);
      // app.bsky.feed.post is the default collection, empty for a new account.
      assert.equal(await page.value("#collection"), "app.bsky.feed.post");
      assert.deepEqual(await listedRecords(), []);
      assert.match(await text("#record-list"), /No records in this collection yet/);
      assert.equal(await visible("#more-button"), false);
    });

    step("create an app.bsky.feed.post record, then delete it", async () => {
      await createRecordViaForm("Hello from the demo page");
      const records = await listedRecords();
      assert.equal(records.length, 1, JSON.stringify(records));
      assert.equal(records[0].text, "Hello from the demo page");
      assert.match(records[0].uri, new RegExp(`^at://${alice().did}/app\\.bsky\\.feed\\.post/[a-z0-9]+$`));
      const postUri = records[0].uri;
      assert.equal(await visible("#more-button"), false, "no next page for one record");

      await page.click(button("Delete", `//li[@data-uri='${postUri}']`));
      await settle();
      assert.deepEqual(await listedRecords(), []);
      assert.match(await text("#record-list"), /No records in this collection yet/);
      // Gone on the server too, not just from the list.
      await page.click(button("Load"));
      await settle();
      assert.deepEqual(await listedRecords(), []);
    });

    step(`a collection of our own (${NOTES}): 11 records, two pages`, async () => {
      await loadCollection(NOTES);
      assert.deepEqual(await listedRecords(), []);
      const t0 = Date.now();
      for (let i = 1; i <= 11; i++) await createRecordViaForm(`note ${i}`);
      const ms = Date.now() - t0;
      console.error(`[${label}] 11 records through the form in ${ms} ms`);

      // Newest first, 10 per page.
      let records = await listedRecords();
      assert.deepEqual(
        records.map((r) => r.text),
        Array.from({ length: 10 }, (_, i) => `note ${11 - i}`),
      );
      for (const r of records) assert.match(r.uri, new RegExp(`^at://${alice().did}/${NOTES.replaceAll(".", "\\.")}/`));
      assert.equal(await visible("#more-button"), true, "Next page is offered");
      await page.click(button("Next page"));
      await settle();
      records = await listedRecords();
      assert.deepEqual(
        records.map((r) => r.text),
        [...Array.from({ length: 10 }, (_, i) => `note ${11 - i}`), "note 1"],
      );
      assert.equal(await visible("#more-button"), false, "no page after the last");

      // Delete one from the second page.
      const first = records.at(-1);
      await page.click(button("Delete", `//li[@data-uri='${first.uri}']`));
      await settle();
      assert.equal(
        (await listedRecords()).some((r) => r.uri === first.uri),
        false,
      );
      await loadCollection(NOTES);
      assert.equal((await listedRecords()).length, 10);
      // A full page can't tell whether more follow: the next page is offered, and turns out empty.
      assert.equal(await visible("#more-button"), true);
      await page.click(button("Next page"));
      await settle();
      assert.equal((await listedRecords()).length, 10);
      assert.equal(await visible("#more-button"), false, "no page after an empty one");
    });

    step("refresh tokens now", async () => {
      const before = await page.attribute("#s-expiry time", "datetime");
      await page.click(button("Refresh tokens now"));
      await settle();
      await assertSession(alice());
      const afterIso = await page.attribute("#s-expiry time", "datetime");
      assert.ok(Date.parse(afterIso) >= Date.parse(before), `${afterIso} >= ${before}`);
    });

    step("sign in a second account (bob) by typing the handle", async () => {
      await page.fill("#login-input", "");
      await page.type("#login-input", "bob.test");
      await signInThroughPds(bob());
      const accounts = await accountsList();
      assert.equal(accounts.length, 2, JSON.stringify(accounts));
      assert.deepEqual(
        accounts.find((a) => a.label === "@bob.test"),
        { label: "@bob.test", current: true, canSwitch: false },
      );
      assert.deepEqual(
        accounts.find((a) => a.label === "@alice.test"),
        { label: "@alice.test", current: false, canSwitch: true },
      );
      assert.deepEqual(await listedRecords(), [], "bob has no posts");
    });

    step("switch between the accounts", async () => {
      await page.click(button("Switch", listItem("account-list", "@alice.test")));
      await assertSession(alice());
      let accounts = await accountsList();
      assert.equal(accounts.find((a) => a.current)?.label, "@alice.test");
      assert.equal(accounts.find((a) => a.label === "@bob.test")?.canSwitch, true);
      // alice's notes, in the collection the field still names.
      await loadCollection(NOTES);
      assert.equal((await listedRecords()).length, 10);

      await page.click(button("Switch", listItem("account-list", "@bob.test")));
      await assertSession(bob());
      accounts = await accountsList();
      assert.equal(accounts.find((a) => a.current)?.label, "@bob.test");
      assert.deepEqual(await listedRecords(), [], "bob has no notes");

      await page.click(button("Switch", listItem("account-list", "@alice.test")));
      await assertSession(alice());
    });

    step("a reload keeps the account shown", async () => {
      await page.reload();
      await assertSession(alice());
      assert.equal((await accountsList()).length, 2);
    });

    step("sign out of both accounts", async () => {
      await page.click(button("Sign out"));
      // The other stored account is shown next.
      await assertSession(bob());
      assert.deepEqual(await accountsList(), [{ label: "@bob.test", current: true, canSwitch: false }]);

      await page.click(button("Sign out"));
      await waitForPage("the signed-out state", () => document.getElementById("session").hidden);
      await settle();
      for (const id of ["#session", "#records", "#accounts"]) assert.equal(await visible(id), false, `${id} hidden`);
      assert.equal(await visible("#login"), true);
      assert.equal(await text("#login-title"), "Sign in");
      assert.equal(await visible("#demo-accounts"), true);

      // Still signed out after a reload: nothing is left stored.
      await page.reload();
      await settle();
      for (const id of ["#session", "#records", "#accounts"]) {
        assert.equal(await visible(id), false, `${id} hidden after reload`);
      }
    });

    step("signed out, an invalid handle still shows invalid_handle", async () => {
      await page.fill("#login-input", "not a handle");
      await page.press("#login-input", "Enter");
      await settle({ allowError: true });
      assert.equal(await text("#error code"), "invalid_handle");
    });
  });
}
