// tests/e2e/webdriver.mjs — headless Firefox for the end-to-end tests over classic W3C
// WebDriver (geckodriver). Not Playwright: its usual Firefox route needs Playwright's own patched
// Firefox (Debian's firefox-esr starts and exits at once), and its WebDriver-BiDi route
// (channel 'moz-firefox') starts firefox-esr 153 but playwright-core 1.65 then fails in
// newContext() with "emulation.setMediaFeaturesOverride: unknown command" (it targets Firefox 159).
// A small client: sessions, navigation, scripts, elements, windows.
//
//   const ff = await launchFirefoxWebDriver()
//   await ff.navigate('http://127.0.0.1:8080/')
//   const r = await ff.execute('return window.call(...arguments)', ['restore', did])  // awaits promises
//   await authorizeOnPdsWebDriver(ff, { password })
//   await ff.quit()                                                        // always, in after()
//
// Environment: ATPROTO_GECKODRIVER, ATPROTO_FIREFOX (scripts/env.sh sets both).

import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'

function firstExisting(...candidates) {
  return candidates.find((p) => p && existsSync(p))
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

export class WebDriverError extends Error {}

/** Calls `check` every 100 ms until it returns a truthy value (returned), or throws after
 *  `timeout` ms with `what` and the browser's URL. */
async function poll(ff, check, { timeout = 30_000, what }) {
  const deadline = Date.now() + timeout
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what} (at ${await ff.url()})`)
    await sleep(100)
  }
}

/**
 * Starts geckodriver and a headless Firefox session (with the same prefs as the wasm-bindgen
 * tests: webdriver.json). Throws if either is missing: scripts/setup.sh installs both.
 */
export async function launchFirefoxWebDriver() {
  const driverPath = firstExisting(process.env.ATPROTO_GECKODRIVER, path.join(process.env.HOME ?? '', '.cargo/bin/geckodriver'))
  if (!driverPath) throw new Error('geckodriver not found (run scripts/setup.sh, or set ATPROTO_GECKODRIVER)')
  const binary = firstExisting(process.env.ATPROTO_FIREFOX, '/usr/bin/firefox-esr', '/usr/bin/firefox')
  if (!binary) throw new Error('Firefox not found (apt-get install firefox-esr, or set ATPROTO_FIREFOX)')
  const options = JSON.parse(readFileSync(path.join(ROOT, 'webdriver.json'), 'utf8'))['moz:firefoxOptions']

  const port = await freePort()
  const driver = spawn(driverPath, ['--host', '127.0.0.1', '--port', String(port), '--log', 'error'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  driver.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000) })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (driver.exitCode !== null) throw new Error(`geckodriver exited (${driver.exitCode}): ${stderr}`)
    try {
      if ((await fetch(`${base}/status`)).ok) break
    } catch {}
    if (Date.now() > deadline) {
      driver.kill('SIGKILL')
      throw new Error(`geckodriver did not answer on ${base}: ${stderr}`)
    }
    await sleep(100)
  }
  try {
    const res = await request(base, 'POST', '/session', {
      capabilities: {
        alwaysMatch: {
          browserName: 'firefox',
          'moz:firefoxOptions': { ...options, binary },
          timeouts: { script: 60_000, pageLoad: 60_000, implicit: 0 },
        },
      },
    })
    return new FirefoxSession(base, res.sessionId, driver)
  } catch (err) {
    driver.kill('SIGKILL')
    throw new Error(`Firefox did not start: ${err.message} ${stderr}`)
  }
}

async function request(base, method, route, body) {
  const res = await fetch(base + route, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = await res.json().catch(() => ({}))
  if (!res.ok) {
    const v = json.value ?? {}
    throw new WebDriverError(`${method} ${route}: ${v.error ?? res.status}: ${v.message ?? ''}`.trim())
  }
  return json.value
}

class FirefoxSession {
  constructor(base, id, driver) {
    this.base = base
    this.id = id
    this.driver = driver
  }

  cmd(method, route, body) {
    return request(this.base, method, `/session/${this.id}${route}`, body)
  }

  navigate(url) { return this.cmd('POST', '/url', { url }) }
  url() { return this.cmd('GET', '/url') }
  refresh() { return this.cmd('POST', '/refresh', {}) }

  /** Runs `script` (a function body; `arguments` are `args`) and awaits a returned promise. */
  execute(script, args = []) { return this.cmd('POST', '/execute/sync', { script, args }) }

  /** Polls `script` (with `args`) until it returns a truthy value; returns that value. */
  waitFor(script, { args = [], timeout, what = script } = {}) {
    return poll(this, () => this.execute(script, args).catch((err) => {
      // A navigation in progress discards the script; try again on the next document.
      if (err instanceof WebDriverError) return null
      throw err
    }), { timeout, what })
  }

  /** Polls the current URL until `pred` holds for it; returns it as a URL. */
  waitForUrl(pred, { timeout } = {}) {
    return poll(this, async () => {
      const u = new URL(await this.url())
      return pred(u) && u
    }, { timeout, what: 'a URL' })
  }

  /** Visible elements matching a CSS selector, or an XPath when `selector` starts with `//`. */
  async visible(selector) {
    const using = selector.startsWith('//') ? 'xpath' : 'css selector'
    let found = []
    try {
      found = await this.cmd('POST', '/elements', { using, value: selector })
    } catch (err) {
      if (err instanceof WebDriverError) return []
      throw err
    }
    const out = []
    for (const e of found) {
      const id = e[ELEMENT]
      if (await this.cmd('GET', `/element/${id}/displayed`).catch(() => false)) out.push(id)
    }
    return out
  }

  /** The first visible element matching `selector`, waiting for it up to `timeout` ms. */
  find(selector, { timeout } = {}) {
    return poll(this, async () => (await this.visible(selector))[0], { timeout, what: `a visible ${selector}` })
  }

  /** A PNG of the current viewport. */
  async screenshot() {
    return Buffer.from(await this.cmd('GET', '/screenshot'), 'base64')
  }

  click(el) { return this.cmd('POST', `/element/${el}/click`, {}) }
  type(el, text) { return this.cmd('POST', `/element/${el}/value`, { text }) }
  property(el, name) { return this.cmd('GET', `/element/${el}/property/${name}`) }

  /** Opens a new tab, switches to it, and returns its handle. */
  async newTab() {
    const { handle } = await this.cmd('POST', '/window/new', { type: 'tab' })
    await this.switchTo(handle)
    return handle
  }
  windowHandle() { return this.cmd('GET', '/window') }
  switchTo(handle) { return this.cmd('POST', '/window', { handle }) }
  closeTab() { return this.cmd('DELETE', '/window') }

  async quit() {
    try {
      await this.cmd('DELETE', '')
    } catch {}
    this.driver.kill('SIGTERM')
    const t = setTimeout(() => { try { this.driver.kill('SIGKILL') } catch {} }, 5000)
    await new Promise((r) => (this.driver.exitCode !== null ? r() : this.driver.once('exit', r)))
    clearTimeout(t)
  }
}

/**
 * The PDS's own sign-in and consent pages, over WebDriver: the same steps as authorizeOnPds in
 * browser.mjs (welcome → sign in → Authorize / Deny access). Resolves once the browser has left
 * the PDS.
 */
export async function authorizeOnPdsWebDriver(ff, { password, username, deny = false, timeout = 30_000 } = {}) {
  const authorize = await ff.waitForUrl((u) => u.pathname.startsWith('/oauth/authorize'), { timeout })
  const pdsOrigin = authorize.origin
  const consent = deny
    ? "//button[translate(normalize-space(), 'DENYACS', 'denyacs')='deny access']"
    : "//button[translate(normalize-space(), 'AUTHORIZE', 'authorize')='authorize']"
  const welcomeSignIn = "//button[translate(normalize-space(), 'SIGNI', 'signi')='sign in']"
  const deadline = Date.now() + timeout
  let submitted = false
  for (;;) {
    if (Date.now() > deadline) throw new Error(`authorizeOnPdsWebDriver: no known PDS page after ${timeout} ms (at ${await ff.url()})`)
    if (new URL(await ff.url()).origin !== pdsOrigin) return
    const [button] = await ff.visible(consent)
    if (button) {
      await ff.click(button)
      break
    }
    const [pw] = await ff.visible('form input[type=password]')
    if (pw && !submitted) {
      const [user] = await ff.visible('form input[autocomplete~=username], form input[name=username], form input[type=email], form input[type=text]')
      if (user && !(await ff.property(user, 'value'))) {
        if (!username) throw new Error('authorizeOnPdsWebDriver: the username field is empty and no username was given')
        await ff.type(user, username)
      }
      await ff.type(pw, password)
      const [submit] = await ff.visible('form button[type=submit]')
      if (!submit) throw new Error('authorizeOnPdsWebDriver: no submit button on the sign-in form')
      await ff.click(submit)
      submitted = true
      continue
    }
    if (submitted) {
      const [alert] = await ff.visible('[role=alert]')
      if (alert) throw new Error(`authorizeOnPdsWebDriver: sign-in failed: ${await ff.property(alert, 'innerText')}`)
    } else {
      const [signIn] = await ff.visible(welcomeSignIn)
      if (signIn) await ff.click(signIn)
    }
    await sleep(100)
  }
  await ff.waitForUrl((u) => u.origin !== pdsOrigin, { timeout })
}
