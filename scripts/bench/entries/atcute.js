// Bundle entry for @atcute/oauth-browser-client: exactly what the bench page uses (the OAuth
// client, and the identity resolvers its README configures, minus DNS-free well-known/DoH ones).
export {
  configureOAuth,
  createAuthorizationUrl,
  finalizeAuthorization,
  getSession,
  listStoredSessions,
  OAuthUserAgent,
} from "@atcute/oauth-browser-client";
export {
  CompositeDidDocumentResolver,
  LocalActorResolver,
  PlcDidDocumentResolver,
  WebDidDocumentResolver,
  XrpcHandleResolver,
} from "@atcute/identity-resolver";
