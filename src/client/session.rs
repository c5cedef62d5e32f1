//! The session lifecycle. A session becomes live in this page in exactly one place
//! (`make_live`) and is forgotten in exactly one place (`delete_session`); refresh and sign-out
//! are built on those two.

use std::rc::Rc;

use super::Client;
use crate::dpop::DpopKey;
use crate::error::{err, Error, ErrorCode, Result};
use crate::oauth::server::{
    process_revocation_response, process_token_response, refresh_request, revocation_request,
};
use crate::platform::{Platform, SessionEvent, Table};
use crate::secret::AccessToken;
use crate::session::{encode, read_session, Session, SessionInfo};

/// A session in memory: the record plus its parsed key, so the per-request path touches
/// neither storage nor key parsing.
#[derive(Clone)]
pub(crate) struct Live {
    pub session: Session,
    pub key: Rc<DpopKey>,
}

fn lock_name(did: &str) -> String {
    format!("atproto-oauth:session:{did}")
}

impl<P: Platform> Client<P> {
    /// The one place a session becomes live in this page. `key` is the already parsed key
    /// when the caller has it.
    fn make_live(&self, session: Session, key: Option<Rc<DpopKey>>) -> Result<Live> {
        let key = match key {
            Some(key) => key,
            None => Rc::new(DpopKey::from_secret(&session.dpop_key)?),
        };
        let live = Live { session, key };
        self.live
            .borrow_mut()
            .insert(live.session.did.clone(), live.clone());
        Ok(live)
    }

    /// Stores a new or refreshed session, tells every tab, and makes it live here.
    pub(super) async fn store_session(&self, session: Session, key: Rc<DpopKey>) -> Result<Live> {
        self.platform
            .put(Table::Sessions, &session.did, &encode(&session)?)
            .await?;
        self.platform.emit(SessionEvent::Updated {
            did: session.did.clone(),
        });
        self.make_live(session, Some(key))
    }

    /// The one place a session is forgotten: here, in storage, and (by the event) in every tab.
    async fn delete_session(&self, did: &str, reason: &str) -> Result<()> {
        self.live.borrow_mut().remove(did);
        self.platform.delete(Table::Sessions, did).await?;
        self.platform.emit(SessionEvent::Deleted {
            did: did.to_string(),
            reason: reason.to_string(),
        });
        Ok(())
    }

    /// The session in memory, or loaded from storage once. No network.
    pub(super) async fn live(&self, did: &str) -> Result<Live> {
        if let Some(live) = self.live.borrow().get(did) {
            return Ok(live.clone());
        }
        let session = read_session(&self.platform, did).await?.ok_or_else(|| {
            Error::new(ErrorCode::SessionNotFound, format!("no session for {did}"))
        })?;
        self.make_live(session, None)
    }

    /// Restores a stored session without any network request.
    pub async fn restore(&self, did: &str) -> Result<SessionInfo> {
        Ok(self.live(did).await?.session.info())
    }

    /// Every stored session, sorted by DID.
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>> {
        let mut out = Vec::new();
        for did in self.platform.keys(Table::Sessions).await? {
            if let Some(session) = read_session(&self.platform, &did).await? {
                out.push(session.info());
            }
        }
        out.sort_by(|a, b| a.did.cmp(&b.did));
        Ok(out)
    }

    /// Forgets the in-memory copy (another tab changed the stored one).
    pub fn forget(&self, did: &str) {
        self.live.borrow_mut().remove(did);
    }

    /// Refreshes the session unless another tab already replaced the tokens this tab holds.
    pub async fn refresh(&self, did: &str) -> Result<SessionInfo> {
        let held = self.live(did).await?.session.access_token;
        Ok(self.refresh_replacing(did, &held).await?.session.info())
    }

    /// The refresh protocol. Under a lock shared by every tab: re-read the stored session; if
    /// its tokens are not the `stale` ones we hold, another tab rotated them and we adopt them;
    /// otherwise verify the issuer still serves the DID and rotate. Exactly one tab refreshes.
    pub(super) async fn refresh_replacing(&self, did: &str, stale: &AccessToken) -> Result<Live> {
        let _guard = self.platform.lock(&lock_name(did)).await?;
        let now = self.now();
        let Some(stored) = read_session(&self.platform, did).await? else {
            self.live.borrow_mut().remove(did);
            return err(
                ErrorCode::SessionNotFound,
                format!("the session of {did} was deleted"),
            );
        };
        if &stored.access_token != stale && !stored.needs_refresh(now, self.cfg.refresh_margin_secs)
        {
            return self.make_live(stored, None);
        }
        let Some(refresh_token) = stored.refresh_token.clone() else {
            self.delete_session(did, "expired without a refresh token")
                .await?;
            return err(
                ErrorCode::SessionExpired,
                "the session expired and has no refresh token",
            );
        };
        match self.verify_issuer_for(did, &stored.server.issuer).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::SubjectMismatch => {
                self.delete_session(did, "the account moved to another authorization server")
                    .await?;
                return Err(Error::new(ErrorCode::SessionExpired, e.message.clone()).with_cause(e));
            }
            Err(e) => return Err(e),
        }
        let key = Rc::new(DpopKey::from_secret(&stored.dpop_key)?);
        let request = refresh_request(&stored.server, &self.cfg.client_id, &refresh_token);
        let resp = self.dpop_send(&key, request, None).await?;
        match process_token_response(&resp, now) {
            Ok(tokens) if tokens.sub != did => {
                self.delete_session(did, "the refresh answered for another account")
                    .await?;
                err(
                    ErrorCode::SubjectMismatch,
                    format!("refresh for {did} returned tokens for {}", tokens.sub),
                )
            }
            Ok(tokens) => {
                let session = Session {
                    scope: tokens.scope,
                    access_token: tokens.access_token,
                    // A server that does not rotate keeps the old refresh token valid.
                    refresh_token: tokens.refresh_token.or(Some(refresh_token)),
                    expires_at: tokens.expires_at,
                    updated_at: now,
                    ..stored
                };
                self.store_session(session, key).await
            }
            Err(e) if e.server_error.as_deref() == Some("invalid_grant") => {
                // Without Web Locks another tab may have rotated meanwhile: its tokens win.
                if let Some(again) = read_session(&self.platform, did).await? {
                    if again.refresh_token != stored.refresh_token {
                        return self.make_live(again, None);
                    }
                }
                self.delete_session(did, "the refresh token was refused")
                    .await?;
                let (server_error, status) = (e.server_error.clone(), e.status);
                Err(Error::new(
                    ErrorCode::SessionExpired,
                    format!("the session of {did} ended: {}", e.message),
                )
                .with_server_error(server_error, status)
                .with_cause(e))
            }
            Err(e) => Err(e),
        }
    }

    /// Revokes the tokens at the authorization server (best effort) and deletes the session
    /// locally in every case.
    pub async fn sign_out(&self, did: &str) -> Result<()> {
        let live = match self.live(did).await {
            Ok(live) => Some(live),
            Err(e) if e.code == ErrorCode::SessionNotFound => None,
            Err(e) => {
                // An unreadable record must still go away.
                self.delete_session(did, "signed out").await?;
                return Err(e);
            }
        };
        if let Some(live) = live {
            let s = &live.session;
            let token = match &s.refresh_token {
                Some(rt) => rt.expose(),
                None => s.access_token.expose(),
            };
            if let Some(request) = revocation_request(&s.server, &self.cfg.client_id, token) {
                // The server being unreachable, or refusing, must not keep the user signed in.
                let _ = self
                    .dpop_send(&live.key, request, None)
                    .await
                    .and_then(|resp| process_revocation_response(&resp));
            }
        }
        self.delete_session(did, "signed out").await
    }
}
