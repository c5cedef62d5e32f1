// tests/e2e/browser.mjs — browsers for the end-to-end tests (playwright-core driving Debian's
// browsers: no Playwright browser downloads), and a driver for the PDS's own OAuth pages.
//
//   import { launchChromium, authorizeOnPds } from './browser.mjs'
//   const browser = await launchChromium()
//   const page = await (await browser.newContext()).newPage()
//   ... the app redirects the page to the PDS's /oauth/authorize ...
//   await authorizeOnPds(page, { password: 'alice-pass' })          // or { ..., deny: true }
//   ... the PDS redirects back to the app's redirect_uri ...
//
// Environment: ATPROTO_CHROMIUM overrides the browser executable. Firefox: see webdriver.mjs.

import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'

export const CHROMIUM_ARGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
])

function firstExisting(...candidates) {
  return candidates.find((p) => p && existsSync(p))
}

/**
 * Headless Chromium (Debian's /usr/bin/chromium). Playwright gives every launch a fresh profile.
 * @param {import('playwright-core').LaunchOptions} [options] extra launch options (merged)
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchChromium(options = {}) {
  const executablePath =
    options.executablePath ??
    firstExisting(process.env.ATPROTO_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser')
  if (!executablePath) throw new Error('Chromium not found (apt-get install chromium, or set ATPROTO_CHROMIUM)')
  return chromium.launch({
    headless: true,
    timeout: 60_000,
    ...options,
    executablePath,
    args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
  })
}

/**
 * Drives the PDS's own OAuth pages (those of @atproto/oauth-provider) in `page`:
 *  - "Welcome" (no login_hint: "Create a new account" / "Sign in"): clicks "Sign in";
 *  - "Sign in": with a login_hint the username field is pre-filled and read-only; otherwise it is
 *    filled with `username`. Fills `input[type=password]`, clicks the form's submit button, and
 *    throws the page's error (e.g. "Wrong identifier or password") if sign-in fails;
 *  - "Authorize" (consent): clicks "Authorize", or "Deny access" when `deny`.
 * Resolves once the browser has left the PDS (it is being redirected to the client's
 * redirect_uri; the caller then waits for its own page).
 *
 * The page must be on, or navigating to, the PDS's /oauth/authorize page.
 * @param {import('playwright-core').Page} page
 * @param {{password?: string, username?: string, deny?: boolean, timeout?: number}} opts
 */
export async function authorizeOnPds(page, { password, username, deny = false, timeout = 30_000 } = {}) {
  const pdsOrigin = await pdsOriginOf(page, timeout)
  const passwordInput = page.locator('input[type=password]').first()
  const consentButton = page.getByRole('button', { name: deny ? /^deny access$/i : /^authorize$/i }).first()
  const welcomeSignIn = page.getByRole('button', { name: /^sign in$/i, exact: false }).first()
  const alert = page.locator('[role=alert]').first()

  const deadline = Date.now() + timeout
  const visible = (loc) => loc.isVisible().catch(() => false)
  let signedIn = false
  for (;;) {
    if (Date.now() > deadline) {
      throw new Error(`authorizeOnPds: no known PDS page after ${timeout} ms (at ${page.url()})`)
    }
    // (The PDS may redirect without asking again, e.g. for a remembered session and consent.)
    if (new URL(page.url()).origin !== pdsOrigin) return
    if (await visible(consentButton)) break
    if (await visible(passwordInput)) {
      if (signedIn) {
        // Already submitted: wait for the consent page or an error.
        if (await visible(alert)) {
          throw new Error(`authorizeOnPds: sign-in failed: ${(await alert.innerText()).trim()}`)
        }
        await page.waitForTimeout(100)
        continue
      }
      if (password == null) throw new Error('authorizeOnPds: the PDS asks for a password and none was given')
      const form = passwordInput.locator('xpath=ancestor::form[1]')
      const usernameInput = form
        .locator('input[autocomplete~=username], input[name=username], input[type=email], input[type=text]')
        .first()
      if ((await usernameInput.count()) > 0 && (await visible(usernameInput))) {
        const current = await usernameInput.inputValue().catch(() => '')
        if (!current) {
          if (!username) throw new Error('authorizeOnPds: the username field is empty and no username was given')
          await usernameInput.fill(username)
        }
      }
      await passwordInput.fill(password)
      await form.locator('button[type=submit]').first().click()
      signedIn = true
      continue
    }
    if (!signedIn && (await visible(welcomeSignIn))) {
      await welcomeSignIn.click()
      await passwordInput.waitFor({ state: 'visible', timeout: Math.max(1, deadline - Date.now()) })
      continue
    }
    await page.waitForTimeout(100)
  }

  await consentButton.click()
  await page.waitForURL((url) => url.origin !== pdsOrigin, { timeout, waitUntil: 'commit' })
}

async function pdsOriginOf(page, timeout) {
  const isAuthorize = (url) => url.pathname.startsWith('/oauth/authorize')
  if (!isAuthorize(new URL(page.url()))) {
    await page.waitForURL(isAuthorize, { timeout, waitUntil: 'commit' })
  }
  return new URL(page.url()).origin
}
