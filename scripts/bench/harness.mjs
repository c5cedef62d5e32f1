// scripts/bench/harness.mjs — the one place where the benchmark takes the pieces it shares with
// the end-to-end tests: the local PDS launcher (scripts/pds.mjs), headless Chromium and the PDS's
// own sign-in and consent pages (scripts/browsers/). The bench itself only sees:
//
//   startPds(opts)          → { pds, plc, accounts, stop }
//   launchBrowser()         → { version, newPage(), close() }
//     newPage()             → { page, context, authorize({ password }), close() }: a Playwright
//                             page in a fresh browser context (fresh storage), and the PDS pages'
//                             driver bound to it
//   createStaticServer(...) (scripts/static-server.mjs)

export { createStaticServer } from "../static-server.mjs";

const load = (rel) => import(new URL(`../../${rel}`, import.meta.url));

export async function startPds(opts) {
  const { startPds } = await load("scripts/pds.mjs");
  return startPds(opts);
}

export async function launchBrowser() {
  const [{ launchChromium }, { authorizeOnPds }] = await Promise.all([
    load("scripts/browsers/playwright.mjs"),
    load("scripts/browsers/authorize.mjs"),
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
