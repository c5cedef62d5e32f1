// The demo page itself (www/), end to end, exactly as `npm start` serves it (scripts/demo.mjs's
// startDemo: the official PDS with the demo accounts + www/ and pkg/ on http://127.0.0.1:8080 with
// a generated config.json), in headless Chromium, driven only by clicking and typing: sign in from
// the demo account list, the PDS's sign-in and consent pages, the session shown, records created,
// paged through and deleted, a second account, switching, reload, sign-out, and an error.
//
// Run: node tests/e2e/run.mjs demo
//
// The tests are one click path, in order, on one page. When a step fails, a full-page screenshot
// and the page's HTML are saved to tests/e2e/artifacts/ (its path is printed) before anything is
// closed, and the later steps are skipped. ATPROTO_E2E_SCREENSHOTS=1 also saves a screenshot
// after every step.
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startDemo } from "../../scripts/demo.mjs";
import { launchChromium, authorizeOnPds } from "./browser.mjs";
import { artifactName, clickPath } from "./steps.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = path.join(HERE, "artifacts");
const STEP_SCREENSHOTS = process.env.ATPROTO_E2E_SCREENSHOTS === "1";
const TIMEOUT = 30_000;
const NOTES = "com.example.demo.note"; // a collection of our own (no lexicon: not validated)

let demo, browser, context, page;

before(async () => {
  demo = await startDemo({ network: "local", host: "127.0.0.1", port: 8080 });
  browser = await launchChromium();
  context = await browser.newContext({ viewport: { width: 1000, height: 900 }, locale: "en-US" });
  context.setDefaultTimeout(TIMEOUT);
  page = await context.newPage();
  page.on("pageerror", (err) => console.error(`[page error] ${err.message}`));
});

after(async () => {
  await context?.close().catch(() => {});
  await browser?.close().catch(() => {});
  await demo?.stop();
});

const alice = () => demo.pds.accounts.find((a) => a.handle === "alice.test");
const bob = () => demo.pds.accounts.find((a) => a.handle === "bob.test");

// ---- helpers -----------------------------------------------------------------------------------

/** Saves a full-page screenshot and the page's HTML; returns the screenshot's path. */
async function saveArtifacts(name) {
  if (!page || page.isClosed()) return null;
  mkdirSync(ARTIFACTS, { recursive: true });
  const base = path.join(ARTIFACTS, artifactName("demo", name));
  try {
    await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 10_000 });
    writeFileSync(`${base}.html`, await page.content());
    console.error(`[demo.test] saved ${base}.png and ${base}.html`);
    return `${base}.png`;
  } catch (err) {
    console.error(`could not save a screenshot: ${err.message}`);
    return null;
  }
}

/** A step of the click path: screenshot + HTML on failure (before the browser closes). */
const step = clickPath({ save: saveArtifacts, label: "demo.test", saveEveryStep: STEP_SCREENSHOTS });

const $ = (sel) => page.locator(sel);
const text = async (sel) => (await $(sel).innerText()).trim();
const visible = (sel) => $(sel).isVisible();

/**
 * Waits until the page is idle (no "Working…" indicator) and, unless `allowError`, fails with the
 * error box's text if it shows one.
 */
async function settle({ allowError = false } = {}) {
  await page.waitForFunction(
    () => document.body.dataset.ready === "true" && document.getElementById("busy").hidden,
    null,
    { timeout: TIMEOUT },
  );
  if (!allowError && (await visible("#error"))) {
    assert.fail(`the page shows an error: ${await text("#error")}`);
  }
}

/** Waits for `predicate` (run in the page) while failing early if the error box appears. */
async function waitForPage(what, predicate, arg) {
  const handle = await page
    .waitForFunction(
      ([src, a]) => {
        const err = document.getElementById("error");
        if (err && !err.hidden) return { error: err.innerText };
        // eslint-disable-next-line no-new-func
        return new Function("arg", `return (${src})(arg)`)(a) ? { ok: true } : false;
      },
      [predicate.toString(), arg],
      { timeout: TIMEOUT },
    )
    .catch((err) => {
      throw new Error(`timed out waiting for ${what}: ${err.message.split("\n")[0]}`);
    });
  const result = await handle.jsonValue();
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
  const iso = await $("#s-expiry time").getAttribute("datetime");
  const expiresAt = Date.parse(iso);
  assert.ok(expiresAt > Date.now(), `token expiry ${iso} is in the future`);
  assert.ok(expiresAt < Date.now() + 24 * 3600_000, `token expiry ${iso} is within a day`);
  assert.equal(await visible("#records"), true, "the records card is shown");
}

/** The Accounts list: [{label, current}] in page order. */
async function accountsList() {
  const items = $("#account-list li");
  const out = [];
  for (let i = 0; i < (await items.count()); i++) {
    const item = items.nth(i);
    out.push({
      label: (await item.locator("span").first().innerText()).trim(),
      current: (await item.getAttribute("class"))?.split(/\s+/).includes("current") ?? false,
      canSwitch: (await item.getByRole("button", { name: "Switch" }).count()) === 1,
    });
  }
  return out;
}

/** Record items currently listed: [{text, uri}]. */
async function listedRecords() {
  const items = $("#record-list li[data-uri]");
  const out = [];
  for (let i = 0; i < (await items.count()); i++) {
    const item = items.nth(i);
    out.push({ uri: await item.getAttribute("data-uri"), text: (await item.locator(".text").innerText()).split("\n")[0].trim() });
  }
  return out;
}

/** Signs in with whatever is in the sign-in field: the PDS's pages, then back to the demo. */
async function signInThroughPds(account) {
  await $("#login-form").getByRole("button", { name: "Sign in" }).click();
  await authorizeOnPds(page, { password: account.password, timeout: TIMEOUT });
  await page.waitForURL((u) => u.origin === demo.url, { timeout: TIMEOUT });
  await assertSession(account);
  // The authorization response is gone from the address bar.
  assert.equal(page.url(), `${demo.url}/`);
}

async function createRecordViaForm(postText) {
  await $("#post-text").click();
  await $("#post-text").fill(postText);
  await page.getByRole("button", { name: "Create record" }).click();
  await waitForPage(
    `the record "${postText}" in the list`,
    (t) => [...document.querySelectorAll("#record-list li[data-uri] .text")].some((e) => e.firstChild?.textContent === t),
    postText,
  );
  await settle();
  assert.equal(await $("#post-text").inputValue(), "", "the text field is cleared");
}

async function loadCollection(nsid) {
  await $("#collection").fill(nsid);
  await page.getByRole("button", { name: "Load" }).click();
  await settle();
}

// ---- the click path ----------------------------------------------------------------------------

step("the page loads signed out and lists the demo accounts", async () => {
  await page.goto(`${demo.url}/`);
  await settle();
  assert.match(await text("#network"), /Local PDS at http:\/\/localhost:2583/);
  for (const id of ["#session", "#records", "#accounts"]) assert.equal(await visible(id), false, `${id} hidden`);
  assert.equal(await visible("#login"), true);
  assert.equal(await visible("#demo-accounts"), true);
  const items = await $("#demo-account-list li").allInnerTexts();
  assert.equal(items.length, 2);
  assert.match(items[0], /alice\.test.*alice-pass/s);
  assert.match(items[1], /bob\.test.*bob-pass/s);
});

step("an invalid handle shows invalid_handle", async () => {
  await $("#login-input").fill("not a handle");
  await $("#login-form").getByRole("button", { name: "Sign in" }).click();
  await settle({ allowError: true });
  assert.equal(await visible("#error"), true, "the error box is shown");
  assert.equal(await text("#error code"), "invalid_handle");
  assert.match(await text("#error"), /doesn't look like a handle/);
  assert.equal(page.url(), `${demo.url}/`, "no navigation");
});

step("sign in as alice from the demo account list", async () => {
  await $("#demo-account-list li").filter({ hasText: "alice.test" }).getByRole("button", { name: "Use" }).click();
  assert.equal(await $("#login-input").inputValue(), "alice.test");
  await signInThroughPds(alice());
  assert.equal(await visible("#error"), false, "the earlier error is gone");
  assert.equal(await text("#login-title"), "Sign in another account");
  assert.deepEqual(await accountsList(), [{ label: "@alice.test", current: true, canSwitch: false }]);
  // app.bsky.feed.post is the default collection, empty for a new account.
  assert.equal(await $("#collection").inputValue(), "app.bsky.feed.post");
  assert.deepEqual(await listedRecords(), []);
  assert.match(await text("#record-list"), /No records in this collection yet/);
  assert.equal(await visible("#more-button"), false);
});

let postUri;
step("create an app.bsky.feed.post record, then delete it", async () => {
  await createRecordViaForm("Hello from the demo page");
  const records = await listedRecords();
  assert.equal(records.length, 1, JSON.stringify(records));
  assert.equal(records[0].text, "Hello from the demo page");
  assert.match(records[0].uri, new RegExp(`^at://${alice().did}/app\\.bsky\\.feed\\.post/[a-z0-9]+$`));
  postUri = records[0].uri;
  assert.equal(await visible("#more-button"), false, "no next page for one record");

  await $(`#record-list li[data-uri="${postUri}"]`).getByRole("button", { name: "Delete" }).click();
  await settle();
  assert.deepEqual(await listedRecords(), []);
  assert.match(await text("#record-list"), /No records in this collection yet/);
  // Gone on the server too, not just from the list.
  await page.getByRole("button", { name: "Load" }).click();
  await settle();
  assert.deepEqual(await listedRecords(), []);
});

step(`a collection of our own (${NOTES}): 11 records, two pages`, async () => {
  await loadCollection(NOTES);
  assert.deepEqual(await listedRecords(), []);
  const t0 = Date.now();
  for (let i = 1; i <= 11; i++) await createRecordViaForm(`note ${i}`);
  const ms = Date.now() - t0;
  console.error(`[demo.test] 11 records through the form in ${ms} ms`);

  // Newest first, 10 per page.
  let records = await listedRecords();
  assert.deepEqual(records.map((r) => r.text), Array.from({ length: 10 }, (_, i) => `note ${11 - i}`));
  for (const r of records) assert.match(r.uri, new RegExp(`^at://${alice().did}/${NOTES.replaceAll(".", "\\.")}/`));
  assert.equal(await visible("#more-button"), true, "Next page is offered");
  await page.getByRole("button", { name: "Next page" }).click();
  await settle();
  records = await listedRecords();
  assert.deepEqual(records.map((r) => r.text), [...Array.from({ length: 10 }, (_, i) => `note ${11 - i}`), "note 1"]);
  assert.equal(await visible("#more-button"), false, "no page after the last");

  // Delete one from the second page.
  const first = records.at(-1);
  await $(`#record-list li[data-uri="${first.uri}"]`).getByRole("button", { name: "Delete" }).click();
  await settle();
  assert.equal((await listedRecords()).some((r) => r.uri === first.uri), false);
  await loadCollection(NOTES);
  assert.equal((await listedRecords()).length, 10);
  // A full page can't tell whether more follow: the next page is offered, and turns out empty.
  assert.equal(await visible("#more-button"), true);
  await page.getByRole("button", { name: "Next page" }).click();
  await settle();
  assert.equal((await listedRecords()).length, 10);
  assert.equal(await visible("#more-button"), false, "no page after an empty one");
});

step("refresh tokens now", async () => {
  const before = await $("#s-expiry time").getAttribute("datetime");
  await page.getByRole("button", { name: "Refresh tokens now" }).click();
  await settle();
  await assertSession(alice());
  const afterIso = await $("#s-expiry time").getAttribute("datetime");
  assert.ok(Date.parse(afterIso) >= Date.parse(before), `${afterIso} >= ${before}`);
});

step("sign in a second account (bob) by typing the handle", async () => {
  await $("#login-input").fill("");
  await $("#login-input").pressSequentially("bob.test");
  await signInThroughPds(bob());
  const accounts = await accountsList();
  assert.equal(accounts.length, 2, JSON.stringify(accounts));
  assert.deepEqual(accounts.find((a) => a.label === "@bob.test"), { label: "@bob.test", current: true, canSwitch: false });
  assert.deepEqual(accounts.find((a) => a.label === "@alice.test"), { label: "@alice.test", current: false, canSwitch: true });
  assert.deepEqual(await listedRecords(), [], "bob has no posts");
});

step("switch between the accounts", async () => {
  await $("#account-list li").filter({ hasText: "@alice.test" }).getByRole("button", { name: "Switch" }).click();
  await assertSession(alice());
  let accounts = await accountsList();
  assert.equal(accounts.find((a) => a.current)?.label, "@alice.test");
  assert.equal(accounts.find((a) => a.label === "@bob.test")?.canSwitch, true);
  // alice's notes, in the collection the field still names.
  await loadCollection(NOTES);
  assert.equal((await listedRecords()).length, 10);

  await $("#account-list li").filter({ hasText: "@bob.test" }).getByRole("button", { name: "Switch" }).click();
  await assertSession(bob());
  accounts = await accountsList();
  assert.equal(accounts.find((a) => a.current)?.label, "@bob.test");
  assert.deepEqual(await listedRecords(), [], "bob has no notes");

  await $("#account-list li").filter({ hasText: "@alice.test" }).getByRole("button", { name: "Switch" }).click();
  await assertSession(alice());
});

step("a reload keeps the account shown", async () => {
  await page.reload();
  await assertSession(alice());
  assert.equal((await accountsList()).length, 2);
});

step("sign out of both accounts", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  // The other stored account is shown next.
  await assertSession(bob());
  assert.deepEqual(await accountsList(), [{ label: "@bob.test", current: true, canSwitch: false }]);

  await page.getByRole("button", { name: "Sign out" }).click();
  await waitForPage("the signed-out state", () => document.getElementById("session").hidden);
  await settle();
  for (const id of ["#session", "#records", "#accounts"]) assert.equal(await visible(id), false, `${id} hidden`);
  assert.equal(await visible("#login"), true);
  assert.equal(await text("#login-title"), "Sign in");
  assert.equal(await visible("#demo-accounts"), true);

  // Still signed out after a reload: nothing is left stored.
  await page.reload();
  await settle();
  for (const id of ["#session", "#records", "#accounts"]) assert.equal(await visible(id), false, `${id} hidden after reload`);
});

step("signed out, an invalid handle still shows invalid_handle", async () => {
  await $("#login-input").fill("not a handle");
  await $("#login-input").press("Enter");
  await settle({ allowError: true });
  assert.equal(await text("#error code"), "invalid_handle");
});
