//! Loopback clients whose scope changed on purpose. A loopback client id carries the redirect
//! URI and the scope, so a developer who changes the scope gets a new client id, and the
//! sessions stored under the earlier one can neither be used nor refreshed under the new one.
//! A new login of the same account retires them: revoked as the client they belong to, removed.

use super::session::lock_name;
use super::Client;
use crate::dpop::key;
use crate::platform::{Platform, Table};
use crate::session::{decode, split_session_id, Session};
use crate::settled::Settled;

impl<P: Platform> Client<P> {
    /// After a new login for `did`: a session of the same account stored by this app under an
    /// earlier loopback client id (same redirect URI, another scope: the developer changed the
    /// scope on purpose) is revoked as the client it belongs to and removed, so it neither
    /// lingers nor is ever refreshed under the wrong client id.
    pub(super) async fn retire_earlier_loopback_sessions(&self, did: &str) {
        let Some(ours) = loopback_redirect(&self.cfg.client_id) else {
            return;
        };
        let Ok(ids) = self.platform.keys(Table::Sessions).settled().await else {
            return;
        };
        for id in ids {
            let Some((id_did, client)) = split_session_id(&id) else {
                continue;
            };
            if id_did != did || client == self.cfg.client_id {
                continue;
            }
            if loopback_redirect(client).as_deref() != Some(ours.as_str()) {
                continue;
            }
            // Without its lock (held elsewhere past the wait's deadline), the earlier session
            // may be refreshing in another tab: left for the next login to retire.
            let Ok(_guard) = self.platform.lock(&lock_name(client, did)).settled().await else {
                continue;
            };
            if let Ok(Some(mut entry)) = self.platform.get(Table::Sessions, &id).settled().await {
                if let Ok(session) = decode::<Session>(&entry.data) {
                    let restored = key::restore(
                        &self.platform,
                        entry.key.take(),
                        session.dpop_jwk.as_ref(),
                        session.dpop_key.as_ref(),
                    )
                    .settled()
                    .await;
                    if let Ok(restored) = restored {
                        self.revoke(&session, &restored.key, client).settled().await;
                    }
                }
            }
            let _ = self.platform.delete(Table::Sessions, &id).settled().await;
        }
    }
}

/// The redirect URI of a loopback client id (`http://localhost?redirect_uri=…&scope=…`).
fn loopback_redirect(client_id: &str) -> Option<String> {
    let url = crate::url::Url::parse(client_id)?;
    if url.scheme() != "http" || url.host_str() != Some("localhost") {
        return None;
    }
    for (k, v) in url.query_pairs() {
        if k == "redirect_uri" {
            return Some(v);
        }
    }
    None
}
