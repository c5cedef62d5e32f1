// scripts/bench/harness.mjs — the one place where the benchmark reaches into the end-to-end
// harness: the local PDS launcher, headless Chromium, and the driver of the PDS's own sign-in and
// consent pages. The bench itself only sees:
//
//   startPds(opts)          → { pds, plc, accounts, stop }
//   launchBrowser()         → { version, newPage(), close() }
//     newPage()             → { page, context, authorize({ password }), close() }: a Playwright
//                             page in a fresh browser context (fresh storage), and the PDS pages'
//                             driver bound to it
//   createStaticServer(...) (scripts/static-server.mjs)
//
// Two layouts of the harness are known, so that the bench runs before and after the move:
//   old  tests/e2e/pds.mjs, tests/e2e/browser.mjs (launchChromium → Playwright Browser,
//        authorizeOnPds(playwrightPage, opts))
//   new  scripts/pds.mjs, tests/e2e/drivers/playwright.mjs (launchChromium → driver Browser whose
//        pages carry .playwright = { page, context }), tests/e2e/authorize.mjs
//        (authorizeOnPds(driverPage, opts))
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export { createStaticServer } from "../static-server.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const NEW_LAYOUT =
  existsSync(path.join(ROOT, "scripts/pds.mjs")) && existsSync(path.join(ROOT, "tests/e2e/authorize.mjs"));

const load = (rel) => import(new URL(`../../${rel}`, import.meta.url));

export async function startPds(opts) {
  const { startPds } = await load(NEW_LAYOUT ? "scripts/pds.mjs" : "tests/e2e/pds.mjs");
  return startPds(opts);
}

export async function launchBrowser() {
  if (NEW_LAYOUT) {
    const [{ launchChromium }, { authorizeOnPds }] = await Promise.all([
      load("tests/e2e/drivers/playwright.mjs"),
      load("tests/e2e/authorize.mjs"),
    ]);
    const driver = await launchChromium();
    let version = null;
    return {
      get version() {
        return version;
      },
      async newPage() {
        const driverPage = await driver.newPage();
        const { page, context } = driverPage.playwright;
        version ??= context.browser()?.version() ?? null;
        return { page, context, authorize: (o) => authorizeOnPds(driverPage, o), close: () => driverPage.close() };
      },
      close: () => driver.close(),
    };
  }
  const { launchChromium, authorizeOnPds } = await load("tests/e2e/browser.mjs");
  const browser = await launchChromium();
  return {
    version: browser.version(),
    async newPage() {
      const context = await browser.newContext();
      const page = await context.newPage();
      return { page, context, authorize: (o) => authorizeOnPds(page, o), close: () => context.close() };
    },
    close: () => browser.close(),
  };
}
