// The client's configuration, shared by the page (main.js) and the worker (worker.js): sessions
// belong to a client id, so both must use the same one.
import { loopbackClientId } from "atproto-oauth-wasm";

export const COLLECTION = "app.example.vite.note";

/** Call after init(). */
export function clientConfig() {
  const scope = "atproto transition:generic";
  const env = import.meta.env;
  // Production: VITE_CLIENT_ID is the https URL of your client metadata document, VITE_REDIRECT_URI
  // one of its redirect_uris. Without them: the loopback client (open the page on 127.0.0.1).
  const redirectUri = env.VITE_REDIRECT_URI || `${self.location.origin}/`;
  return {
    clientId: env.VITE_CLIENT_ID || loopbackClientId(redirectUri, scope),
    redirectUri,
    scope,
    // A local PDS (the tests, or your own development PDS); never set these in production.
    ...(env.VITE_HANDLE_RESOLVER ? { handleResolver: env.VITE_HANDLE_RESOLVER } : {}),
    ...(env.VITE_PLC_DIRECTORY_URL ? { plcDirectoryUrl: env.VITE_PLC_DIRECTORY_URL } : {}),
    allowHttp: env.VITE_ALLOW_HTTP === "true",
  };
}
