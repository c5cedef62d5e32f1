//! Revocation (RFC 7009), best effort: on sign-out, and for tokens that arrived but are refused
//! (nothing keeps them, so they must not stay valid at the server).

use std::future::Future;

use super::Client;
use crate::dpop::DpopKey;
use crate::oauth::server::{process_revocation_response, revocation_request, Tokens};
use crate::oauth::AuthServerMetadata;
use crate::platform::Platform;
use crate::session::Session;
use crate::settled::Settled;

impl<P: Platform> Client<P> {
    /// Revokes a session's tokens at its authorization server, as `client_id` (the client they
    /// were issued to). Best effort: the server being unreachable, or refusing, must not keep
    /// anyone signed in.
    ///
    /// (This and `revoke_tokens` return `revoke_token`'s future itself: an `async fn` around it
    /// would be one more state machine in the .wasm.)
    pub(super) fn revoke<'a>(
        &'a self,
        s: &'a Session,
        key: &'a DpopKey<P::Key>,
        client_id: &'a str,
    ) -> impl Future<Output = ()> + 'a {
        let token = match &s.refresh_token {
            Some(rt) => rt.expose(),
            None => s.access_token.expose(),
        };
        self.revoke_token(&s.server, token, key, client_id)
    }

    /// Revokes tokens that arrived but are refused (best effort, like `revoke`).
    pub(super) fn revoke_tokens<'a>(
        &'a self,
        server: &'a AuthServerMetadata,
        tokens: &'a Tokens,
        key: &'a DpopKey<P::Key>,
        client_id: &'a str,
    ) -> impl Future<Output = ()> + 'a {
        let token = match &tokens.refresh_token {
            Some(rt) => rt.expose(),
            None => tokens.access_token.expose(),
        };
        self.revoke_token(server, token, key, client_id)
    }

    async fn revoke_token(
        &self,
        server: &AuthServerMetadata,
        token: &str,
        key: &DpopKey<P::Key>,
        client_id: &str,
    ) {
        if let Some(request) = revocation_request(server, client_id, token) {
            let _ = self
                .dpop_send(key, &request, None, None)
                .settled()
                .await
                .and_then(|resp| process_revocation_response(&resp));
        }
    }
}
