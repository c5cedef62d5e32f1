// What the test page (index.html) and the worker script (worker.js) share: the package loaded,
// a client for the local PDS, and calls whose outcome can cross to the test (a value, or the
// error's code and fields). Only the package's public API is used.
import init, * as lib from "/pkg/atproto_oauth_wasm.js";

export { lib };

/** Loads the .wasm and the local PDS's URLs; returns `makeClient(overrides)`. A test can put the
 *  page's clock off by `sessionStorage["e2e.clockSkewMs"]` milliseconds, which then holds across
 *  the navigations of a sign-in (the PDS's own pages are another origin and keep the real time). */
export async function setUp() {
  const skew = Number(globalThis.sessionStorage?.getItem("e2e.clockSkewMs") || 0);
  if (skew) {
    const real = Date.now;
    Date.now = () => real() + skew;
  }
  await init();
  const config = await (await fetch("/config.json")).json();
  const redirectUri = `${location.origin}/callback`;
  const scope = "atproto transition:generic";
  return (overrides = {}) =>
    new lib.OAuthClient({
      clientId: lib.loopbackClientId(redirectUri, scope),
      redirectUri,
      scope,
      handleResolver: config.pds,
      plcDirectoryUrl: config.plc,
      handleResolution: ["xrpc"],
      allowHttp: true,
      ...overrides,
    });
}

/** Calls `client[method](...args)`: `{ ok: true, value }` or `{ ok: false, code, … }`, so a test
 *  can assert on err.code across the page (or worker) boundary. */
export async function callMethod(client, method, args) {
  try {
    const value = await client[method](...args);
    // A session object's fetchHandler cannot be cloned to the test: say what it is instead.
    if (typeof value?.fetchHandler === "function") {
      return { ok: true, value: { ...value, fetchHandler: "function" } };
    }
    return { ok: true, value };
  } catch (e) {
    return {
      ok: false,
      code: e?.code,
      name: e?.name,
      message: e?.message ?? String(e),
      serverError: e?.serverError,
      status: e?.status,
      missingScope: e?.missingScope,
      isError: e instanceof Error,
    };
  }
}
