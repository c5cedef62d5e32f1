// Bundle entry for @atproto/oauth-client-browser: exactly what the bench page uses.
export { BrowserOAuthClient } from "@atproto/oauth-client-browser";
