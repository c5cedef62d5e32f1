// The demo page (www/) in headless Firefox (Debian's firefox-esr over geckodriver), as `npm start`
// serves it, driven only by clicking and typing: sign in from the demo account list through the
// PDS's pages, create and delete a record, reload, sign out. demo.test.mjs walks the longer path
// in Chromium. A failed step saves a screenshot to tests/e2e/artifacts/ and skips the rest.
//
// Run: node tests/e2e/run.mjs demo-firefox
import { before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { startDemo } from "../../scripts/demo.mjs";
import { launchFirefoxWebDriver, authorizeOnPdsWebDriver } from "./webdriver.mjs";
import { artifactName, clickPath } from "./steps.mjs";

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "artifacts");

let demo, ff;

before(async () => {
  demo = await startDemo({ network: "local", host: "127.0.0.1", port: 8080 });
  ff = await launchFirefoxWebDriver();
});

after(async () => {
  await ff?.quit();
  await demo?.stop();
});

const alice = () => demo.pds.accounts.find((a) => a.handle === "alice.test");

async function saveScreenshot(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${artifactName("demo-firefox", name)}.png`);
  writeFileSync(file, await ff.screenshot());
  return file;
}

const step = clickPath({ save: saveScreenshot, label: "demo-firefox" });

const button = (label, within = "") => `${within}//button[normalize-space()='${label}']`;
const text = (id) => ff.execute("return document.getElementById(arguments[0]).innerText.trim()", [id]);
const hidden = (id) => ff.execute("return document.getElementById(arguments[0]).hidden", [id]);
const listed = () =>
  ff.execute("return [...document.querySelectorAll('#record-list li[data-uri]')].map((li) => ({ uri: li.dataset.uri, text: li.querySelector('.text').firstChild.textContent }))");

/** Waits until the page is idle, and fails with the error box's text if it shows one. */
async function settle() {
  await ff.waitFor("return document.body.dataset.ready === 'true' && document.getElementById('busy').hidden", { what: "the page to settle" });
  if (!(await hidden("error"))) assert.fail(`the page shows an error: ${await text("error")}`);
}

async function assertSignedInAs(account) {
  await ff.waitFor("return !document.getElementById('session').hidden && document.getElementById('s-did').textContent === arguments[0]", {
    args: [account.did],
    what: `the session of ${account.handle}`,
  });
  await settle();
  assert.equal(await text("s-handle"), `@${account.handle}`);
}

step("Firefox demo: the page loads signed out with the demo accounts", async () => {
  await ff.navigate(`${demo.url}/`);
  await settle();
  assert.equal(await hidden("session"), true);
  assert.match(await text("demo-account-list"), /alice\.test[\s\S]*bob\.test/);
});

step("Firefox demo: sign in as alice from the demo account list", async () => {
  await ff.click(await ff.find(button("Use", "//ul[@id='demo-account-list']/li[contains(., 'alice.test')]")));
  await ff.click(await ff.find(button("Sign in", "//form[@id='login-form']")));
  await authorizeOnPdsWebDriver(ff, { password: alice().password });
  await ff.waitForUrl((u) => u.origin === demo.url);
  await assertSignedInAs(alice());
  assert.equal(await ff.url(), `${demo.url}/`, "the authorization response is gone from the address bar");
});

step("Firefox demo: create a record, then delete it", async () => {
  const input = await ff.find("#post-text");
  await ff.click(input);
  await ff.type(input, "Hello from Firefox");
  await ff.click(await ff.find(button("Create record")));
  await ff.waitFor("return [...document.querySelectorAll('#record-list li[data-uri] .text')].some((e) => e.firstChild?.textContent === arguments[0])", {
    args: ["Hello from Firefox"],
    what: "the new record in the list",
  });
  await settle();
  const [record] = await listed();
  assert.equal(record.text, "Hello from Firefox");
  assert.match(record.uri, new RegExp(`^at://${alice().did}/app\\.bsky\\.feed\\.post/`));

  await ff.click(await ff.find(button("Delete", `//li[@data-uri='${record.uri}']`)));
  await settle();
  assert.deepEqual(await listed(), []);
});

step("Firefox demo: a reload keeps the account, sign-out forgets it", async () => {
  await ff.refresh();
  await assertSignedInAs(alice());
  await ff.click(await ff.find(button("Sign out")));
  await ff.waitFor("return document.getElementById('session').hidden", { what: "the signed-out state" });
  await settle();
  await ff.refresh();
  await settle();
  assert.equal(await hidden("session"), true, "still signed out after a reload");
});
