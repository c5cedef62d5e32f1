//! The session lifecycle. A session becomes live in this page in exactly one place
//! (`make_live`) and is forgotten in exactly one place (`delete_session`); refresh and sign-out
//! are built on those two. A session stored by version 0.1 (its DPoP scalar inside the record)
//! is migrated on first use, under the session's lock.

use std::future::Future;
use std::rc::Rc;

use super::Client;
use crate::dpop::key::{self, Restored};
use crate::dpop::proof::ath;
use crate::dpop::DpopKey;
use crate::error::{err, Error, ErrorCode, Result};
use crate::oauth::server::{process_token_response, refresh_request};
use crate::platform::{Platform, SessionEvent, Table};
use crate::secret::{AccessToken, RefreshToken};
use crate::session::{
    decode_own_session, encode, id_may_be_mine, read_session, session_id, split_session_id,
    Session, SessionInfo, Stored,
};
use crate::settled::Settled;
use crate::util;

/// A session in memory: the record, its key (header precomputed) and its access token's `ath`,
/// so the per-request path touches no storage, hashes nothing but the proof, and copies no
/// record (the session and the key are shared; the 43-byte `ath` is copied: `Rc<str>`'s code,
/// here and for the key's header and thumbprint, was 217 B gzip more).
pub(crate) struct Live<K> {
    pub session: Rc<Session>,
    pub key: Rc<DpopKey<K>>,
    pub ath: String,
}

// Not derived: a derive would demand `K: Clone`; the `Rc`s are cloned, and the `ath`.
impl<K> Clone for Live<K> {
    fn clone(&self) -> Self {
        Live {
            session: self.session.clone(),
            key: self.key.clone(),
            ath: self.ath.clone(),
        }
    }
}

/// The lock that serializes every write of one client's session of `did`, across tabs.
pub(super) fn lock_name(client_id: &str, did: &str) -> String {
    msg!("atproto-oauth:session:", session_id(did, client_id))
}

/// The lock a tab holds while it has the only copy of a session's current tokens (a refresh
/// succeeded, storing its answer failed). The browser releases it when that tab goes away.
fn unsaved_lock_name(client_id: &str, did: &str) -> String {
    msg!("atproto-oauth:unsaved:", session_id(did, client_id))
}

/// The unsaved sessions of a platform's client. Rare and few: a list, not a map (a map of its
/// own would cost kilobytes of Wasm).
pub(crate) type UnsavedOf<P> =
    UnsavedList<<P as crate::platform::KeyType>::Key, <P as crate::platform::Locks>::Guard>;

/// Unsaved sessions, at most one per DID.
pub(crate) struct UnsavedList<K, G>(Vec<Unsaved<K, G>>);

impl<K, G> Default for UnsavedList<K, G> {
    fn default() -> Self {
        UnsavedList(Vec::new())
    }
}

impl<K, G> UnsavedList<K, G> {
    fn find(&self, did: &str) -> Option<usize> {
        self.0.iter().position(|u| u.live.session.did == did)
    }
    fn entry(&self, did: &str) -> Option<&Unsaved<K, G>> {
        self.0.get(self.find(did)?)
    }
    fn entry_mut(&mut self, did: &str) -> Option<&mut Unsaved<K, G>> {
        let i = self.find(did)?;
        self.0.get_mut(i)
    }
    fn remove(&mut self, did: &str) -> Option<Unsaved<K, G>> {
        Some(self.0.swap_remove(self.find(did)?))
    }
    fn insert(&mut self, unsaved: Unsaved<K, G>) {
        self.remove(&unsaved.live.session.did);
        self.0.push(unsaved);
    }
}

/// The longest wait between two attempts to store unsaved tokens, in seconds.
const MAX_BACKOFF_SECS: i64 = 60;

/// A session whose refreshed tokens could not be stored: until a write lands, this tab holds
/// the only copy of its current refresh token, and the stored one is spent. The lock tells the
/// other tabs so: presenting a spent refresh token makes the official server end the grant.
pub(crate) struct Unsaved<K, G> {
    live: Live<K>,
    /// The refresh token storage still holds: the write goes ahead only over that record (not
    /// over a sign-out or a new login made meanwhile in another tab).
    base: Option<RefreshToken>,
    _held: Option<G>,
    /// When the next write is tried, on the monotonic clock (`Clock::monotonic`): the device's
    /// clock set back a day would otherwise put it off a day.
    retry_at: i64,
    backoff: i64,
}

impl<P: Platform> Client<P> {
    /// The one place a session becomes live in this page.
    fn make_live(&self, session: Session, key: Rc<DpopKey<P::Key>>) -> Live<P::Key> {
        let live = Live {
            ath: ath(session.access_token.expose()),
            session: Rc::new(session),
            key,
        };
        self.live
            .borrow_mut()
            .insert(live.session.did.clone(), live.clone());
        live
    }

    /// Stores a new or refreshed session with its key, in this client's namespace, tells every
    /// tab, and makes it live here. `moves_legacy`: the session was read from where version 0.1
    /// stored it (the DID alone), which is removed once the new record is written.
    pub(super) async fn store_session(
        &self,
        mut session: Session,
        key: Rc<DpopKey<P::Key>>,
        moves_legacy: bool,
    ) -> Result<Live<P::Key>> {
        session.dpop_jwk = Some(key.jwk.clone());
        session.dpop_key = None;
        session.client_id = Some(self.cfg.client_id.clone());
        self.write_session(&session, &key).settled().await?;
        self.stored_session(session, key, moves_legacy)
            .settled()
            .await
    }

    /// After a stored session's write: the version 0.1 copy removed, every tab told, live here.
    async fn stored_session(
        &self,
        session: Session,
        key: Rc<DpopKey<P::Key>>,
        moves_legacy: bool,
    ) -> Result<Live<P::Key>> {
        self.unsaved.borrow_mut().remove(&session.did);
        if moves_legacy {
            self.platform
                .delete(Table::Sessions, &session.did)
                .settled()
                .await?;
        }
        self.platform.emit(SessionEvent::Updated {
            did: session.did.clone(),
        });
        Ok(self.make_live(session, key))
    }

    /// The one place a session is forgotten: here, in storage, and (by the event) in every tab.
    async fn delete_session(&self, did: &str, reason: &str) -> Result<()> {
        self.live.borrow_mut().remove(did);
        self.unsaved.borrow_mut().remove(did);
        let client_id = &self.cfg.client_id;
        // A version 0.1 record of the account goes too, unless it is another client's (one that
        // cannot be read or decrypted goes): a migration that stored the new record but could
        // not delete the old one left it, and it would bring the session back.
        let keep = match self.platform.get(Table::Sessions, did).settled().await {
            Ok(Some(old)) => matches!(decode_own_session(&old.data, client_id), Ok(None)),
            Ok(None) => true,
            Err(_) => false,
        };
        if !keep {
            self.platform.delete(Table::Sessions, did).settled().await?;
        }
        self.platform
            .delete(Table::Sessions, &session_id(did, client_id))
            .settled()
            .await?;
        self.platform.emit(SessionEvent::Deleted {
            did: did.to_string(),
            reason: reason.to_string(),
        });
        Ok(())
    }

    /// The key of a stored session: the platform key stored with it, or the legacy scalar
    /// imported (the caller holds the session's lock and rewrites the record).
    /// (`key::restore`'s future itself: an `async fn` around it would be one more state machine.)
    fn stored_key<'a>(
        &'a self,
        stored: &'a Stored<Session, P::Key>,
    ) -> impl Future<Output = Result<Restored<P::Key>>> + 'a {
        key::restore(
            &self.platform,
            stored.key.clone(),
            stored.record.dpop_jwk.as_ref(),
            stored.record.dpop_key.as_ref(),
        )
    }

    /// The session in memory, or loaded from storage once. No network.
    pub(crate) async fn live(&self, did: &str) -> Result<Live<P::Key>> {
        if let Some(live) = self.retry_unsaved(did).settled().await {
            return Ok(live);
        }
        if let Some(live) = self.live.borrow().get(did) {
            return Ok(live.clone());
        }
        let not_found = || Error::new(ErrorCode::SessionNotFound, msg!("no session for ", did));
        let client_id = &self.cfg.client_id;
        // Stored by version 0.1: migrate under the lock, from a fresh read (the loop's second
        // pass), so a refresh in another tab is neither lost nor overwritten. (One await of
        // each call for both passes: each await is code.)
        let mut guard = None;
        loop {
            let stored = read_session(&self.platform, client_id, did)
                .settled()
                .await?
                .ok_or_else(not_found)?;
            if (stored.key.is_none() || stored.legacy) && guard.is_none() {
                guard = Some(
                    self.platform
                        .lock(&lock_name(client_id, did))
                        .settled()
                        .await?,
                );
                continue;
            }
            let restored = self.stored_key(&stored).settled().await?;
            let key = Rc::new(restored.key);
            return if restored.migrated || stored.legacy {
                self.store_session(stored.record, key, stored.legacy)
                    .settled()
                    .await
            } else {
                Ok(self.make_live(stored.record, key))
            };
        }
    }

    /// Restores a stored session without any network request.
    pub async fn restore(&self, did: &str) -> Result<SessionInfo> {
        Ok(self.live(did).settled().await?.session.info())
    }

    /// Every stored session of this client, sorted by DID: its own, and any stored by version
    /// 0.1 (which it takes over on first use). Other clients' sessions are not listed. A record
    /// that cannot be read does not hide the others: see `unreadable_sessions`.
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>> {
        Ok(self.scan_sessions().settled().await?.0)
    }

    /// The DIDs of this client's stored sessions that cannot be read (corrupt, or written under
    /// a storage key that is gone), each with why. `sign_out` removes one.
    pub async fn unreadable_sessions(&self) -> Result<Vec<(String, Error)>> {
        Ok(self.scan_sessions().settled().await?.1)
    }

    /// `list_sessions` and `unreadable_sessions` from one scan (what the JS methods await: one
    /// state machine fewer for each).
    pub(crate) async fn scan_sessions(&self) -> Result<(Vec<SessionInfo>, Vec<(String, Error)>)> {
        let mut out: Vec<SessionInfo> = Vec::new();
        let mut unreadable = Vec::new();
        for id in self.platform.keys(Table::Sessions).settled().await? {
            if !id_may_be_mine(&id, &self.cfg.client_id) {
                continue;
            }
            let read = match self.platform.get(Table::Sessions, &id).settled().await {
                Ok(Some(entry)) => decode_own_session(&entry.data, &self.cfg.client_id),
                Ok(None) => continue,
                Err(e) => Err(e),
            };
            match read {
                Ok(Some(session)) => out.push(session.info()),
                Ok(None) => {}
                Err(e) => {
                    let did = split_session_id(&id).map_or(id.as_str(), |(did, _)| did);
                    unreadable.push((did.to_string(), e));
                }
            }
        }
        util::sort_by_key(&mut out, |s| s.did.as_str());
        // A version 0.1 record beside its migrated copy (a crash between the two writes).
        out.dedup_by(|a, b| a.did == b.did);
        util::sort_by_key(&mut unreadable, |u| u.0.as_str());
        Ok((out, unreadable))
    }

    /// Forgets the in-memory copy (another tab changed the stored one). Tokens this tab could
    /// not store are kept, and the next call checks at once whether they are still wanted.
    pub fn forget(&self, did: &str) {
        self.live.borrow_mut().remove(did);
        if let Some(u) = self.unsaved.borrow_mut().entry_mut(did) {
            u.retry_at = i64::MIN;
        }
    }

    /// Keeps refreshed tokens that could not be stored live in this tab, holds the lock that
    /// tells the other tabs their stored copy is spent, and tells the app.
    fn keep_unsaved(
        &self,
        session: Session,
        key: Rc<DpopKey<P::Key>>,
        base: Option<RefreshToken>,
        held: Option<<P as crate::platform::Locks>::Guard>,
        cause: &Error,
    ) -> Live<P::Key> {
        let did = session.did.clone();
        let earlier = self.unsaved.borrow_mut().remove(&did);
        let live = self.make_live(session, key);
        self.unsaved.borrow_mut().insert(Unsaved {
            live: live.clone(),
            base,
            _held: held.or(earlier.and_then(|u| u._held)),
            retry_at: self.platform.monotonic().saturating_add(1),
            backoff: 1,
        });
        self.platform.emit(SessionEvent::Unsaved {
            did,
            reason: msg!(
                "the refreshed tokens could not be stored (",
                cause.message,
                "): this tab keeps them and retries"
            ),
        });
        live
    }

    /// This tab's unsaved tokens for `did`, after an attempt (when one is due) to store them.
    async fn retry_unsaved(&self, did: &str) -> Option<Live<P::Key>> {
        let due = self.unsaved.borrow().entry(did)?.retry_at <= self.platform.monotonic();
        if due {
            // Only if the session's lock is free now: the write is no reason for a call to wait
            // (up to minutes) for another tab's refresh, or for a lock held elsewhere.
            match self
                .platform
                .try_lock(&lock_name(&self.cfg.client_id, did))
                .settled()
                .await
            {
                // Unreadable: the tokens held are still used for calls, which write nothing.
                Ok(Some(_guard)) => {
                    let _ = self.save_unsaved(did).settled().await;
                }
                _ => self.postpone_unsaved(did),
            }
        }
        self.unsaved.borrow().entry(did).map(|u| u.live.clone())
    }

    /// Tries to store this tab's unsaved tokens (the caller holds the session's lock). They are
    /// dropped instead when the stored record is no longer the one they replace: the session
    /// was signed out, or replaced by a new login, in another tab. An error when the stored
    /// record could not be read: then nobody knows whether the tokens are still the session's,
    /// and they must not be used to write or refresh (they stay, for the next try).
    async fn save_unsaved(&self, did: &str) -> Result<()> {
        let Some((live, base)) = self
            .unsaved
            .borrow()
            .entry(did)
            .map(|u| (u.live.clone(), u.base.clone()))
        else {
            return Ok(());
        };
        let mut unread = None;
        let saved = match read_session(&self.platform, &self.cfg.client_id, did)
            .settled()
            .await
        {
            Ok(Some(stored)) if stored.record.refresh_token == base => {
                self.write_session(&live.session, &live.key)
                    .settled()
                    .await
                    .is_ok()
                    && (!stored.legacy
                        || self
                            .platform
                            .delete(Table::Sessions, did)
                            .settled()
                            .await
                            .is_ok())
            }
            Ok(_) => {
                self.unsaved.borrow_mut().remove(did);
                self.live.borrow_mut().remove(did);
                return Ok(());
            }
            Err(e) => {
                unread = Some(e);
                false
            }
        };
        if saved {
            self.unsaved.borrow_mut().remove(did);
            self.live.borrow_mut().insert(did.to_string(), live);
            self.platform.emit(SessionEvent::Updated {
                did: did.to_string(),
            });
        } else {
            self.postpone_unsaved(did);
        }
        unread.map_or(Ok(()), Err)
    }

    /// The next try to store `did`'s unsaved tokens, twice as far off as the last (at most
    /// `MAX_BACKOFF_SECS`).
    fn postpone_unsaved(&self, did: &str) {
        if let Some(u) = self.unsaved.borrow_mut().entry_mut(did) {
            u.backoff = u.backoff.saturating_mul(2).min(MAX_BACKOFF_SECS);
            u.retry_at = self.platform.monotonic().saturating_add(u.backoff);
        }
    }

    /// Refreshes the session unless another tab already replaced the tokens this tab holds.
    pub async fn refresh(&self, did: &str) -> Result<SessionInfo> {
        let held = self.live(did).settled().await?.session.access_token.clone();
        Ok(self
            .refresh_replacing(did, &held)
            .settled()
            .await?
            .session
            .info())
    }

    /// The refresh protocol. Under a lock shared by every tab: re-read the stored session; if
    /// its tokens are not the `stale` ones we hold, another tab rotated them and we adopt them;
    /// otherwise verify the issuer still serves the DID and rotate. Exactly one tab refreshes.
    pub(super) async fn refresh_replacing(
        &self,
        did: &str,
        stale: &AccessToken,
    ) -> Result<Live<P::Key>> {
        let client_id = &self.cfg.client_id;
        let _guard = self
            .platform
            .lock(&lock_name(client_id, did))
            .settled()
            .await?;
        let now = self.now();
        // Tokens this tab could not store come first: stored now if storage works again;
        // otherwise they are the session (the stored refresh token is spent), once the stored
        // record was read and is still the one they replace. Without that read, another tab
        // may have signed in again or out: nothing is sent or written, the call fails.
        self.save_unsaved(did).settled().await?;
        let held = self
            .unsaved
            .borrow()
            .entry(did)
            .map(|u| (u.live.clone(), u.base.clone()));
        let unsaved = held.is_some();
        let (mut session, key, legacy, migrated, base) = match held {
            Some((live, base)) => ((*live.session).clone(), live.key, false, false, base),
            None => {
                let Some(stored) = read_session(&self.platform, client_id, did)
                    .settled()
                    .await?
                else {
                    self.live.borrow_mut().remove(did);
                    return err(
                        ErrorCode::SessionNotFound,
                        msg!("the session of ", did, " was deleted"),
                    );
                };
                let restored = self.stored_key(&stored).settled().await?;
                let base = stored.record.refresh_token.clone();
                let key = Rc::new(restored.key);
                (stored.record, key, stored.legacy, restored.migrated, base)
            }
        };
        // Nothing to refresh: another tab already did, or the session has no refresh token
        // and its access token has not expired yet (it is used until then: only its expiry,
        // below, ends such a session, not a refresh asked for ahead of it).
        let unrefreshable =
            session.refresh_token.is_none() && session.expires_at.is_some_and(|at| at > now);
        if unrefreshable
            || &session.access_token != stale
                && !session.needs_refresh(now, self.cfg.refresh_margin_secs)
        {
            return if migrated || legacy {
                self.store_session(session, key, legacy).settled().await
            } else {
                Ok(self.make_live(session, key))
            };
        }
        // Every way the refresh ends the session comes out of this block with its reason and
        // error, and the session is deleted below, still under the lock: one await of
        // `delete_session` rather than one per reason.
        let (reason, error) = 'ended: {
            let Some(refresh_token) = session.refresh_token.clone() else {
                break 'ended (
                    "expired without a refresh token",
                    Error::new(
                        ErrorCode::SessionExpired,
                        "the session expired and has no refresh token",
                    ),
                );
            };
            // Where the account lives now: an account that moved to another PDS of the same
            // issuer, or changed handle, keeps its session with the new values.
            let identity = match self
                .verify_issuer_for(did, &session.server.issuer)
                .settled()
                .await
            {
                Ok(identity) => identity,
                Err(e) if e.code == ErrorCode::SubjectMismatch => {
                    // Its tokens are revoked where they were issued: nothing keeps them now.
                    self.revoke(&session, &key, client_id).settled().await;
                    break 'ended (
                        "the account moved to another authorization server",
                        Error::new(ErrorCode::SessionExpired, e.message.clone()).with_cause(e),
                    );
                }
                Err(e) => return Err(e),
            };
            // Another tab may hold newer tokens it could not store: then the stored refresh token
            // is spent, and presenting it would make the official server end the whole grant (it
            // deletes a grant whose old refresh token comes back). That tab's lock says so.
            let spare = if unsaved {
                None
            } else {
                let free = self
                    .platform
                    .try_lock(&unsaved_lock_name(client_id, did))
                    .settled()
                    .await?;
                if free.is_none() {
                    return err(
                        ErrorCode::StorageError,
                        msg!(
                            "another tab holds the current tokens of ",
                            did,
                            ", not stored yet: the \
                             stored ones are spent (presenting them would end the session). Retry \
                             later"
                        ),
                    );
                }
                free
            };
            // A refresh whose answer never arrived (network gone, timeout) may still have rotated
            // the tokens at the server. Remember that one is in flight, so that if the old refresh
            // token is refused later, the app is told why the session ended.
            let lost_before = session.refresh_sent_at.is_some();
            if !unsaved {
                // Marked in place: the answer below clears the mark again. Only a better
                // message rides on it: where it cannot be written (a full quota), the refresh
                // goes ahead, and tokens it cannot store are kept as unsaved ones.
                session.refresh_sent_at = Some(now);
                let _ = self.write_session(&session, &key).settled().await;
            }
            let request = refresh_request(&session.server, &self.cfg.client_id, &refresh_token);
            let resp = self.dpop_send(&key, &request, None, None).settled().await?;
            // An answer came: this refresh's own mark goes, an earlier lost one's stays (an
            // error answer now does not make its loss a plain refusal later).
            let session = Session {
                refresh_sent_at: session.refresh_sent_at.filter(|_| lost_before),
                ..session
            };
            match process_token_response(&resp, now) {
                Ok(tokens) if tokens.sub != did => {
                    // Tokens for another account are refused, and revoked first: they must not
                    // stay valid at the server when nobody keeps them.
                    self.revoke_tokens(&session.server, &tokens, &key, client_id)
                        .settled()
                        .await;
                    (
                        "the refresh answered for another account",
                        Error::new(
                            ErrorCode::SubjectMismatch,
                            msg!("refresh for ", did, " returned tokens for ", tokens.sub),
                        ),
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
                        pds: identity.pds,
                        handle: identity.handle,
                        dpop_jwk: Some(key.jwk.clone()),
                        dpop_key: None,
                        client_id: Some(client_id.clone()),
                        refresh_sent_at: None,
                        ..session
                    };
                    return match self.write_session(&session, &key).settled().await {
                        Ok(()) => self.stored_session(session, key, legacy).settled().await,
                        // The server rotated: these tokens exist nowhere else. Keep them.
                        Err(e) => Ok(self.keep_unsaved(session, key, base, spare, &e)),
                    };
                }
                Err(e) if e.server_error.as_deref() == Some("invalid_grant") => {
                    // Without Web Locks another tab may have rotated meanwhile: its tokens win.
                    // (Not when this tab's own unsaved tokens were refused: storage holds older.)
                    let again = if unsaved {
                        None
                    } else {
                        read_session(&self.platform, client_id, did)
                            .settled()
                            .await?
                    };
                    if let Some(again) = again {
                        if again.record.refresh_token != session.refresh_token {
                            let key = Rc::new(self.stored_key(&again).settled().await?.key);
                            return Ok(self.make_live(again.record, key));
                        }
                    }
                    let reason = if lost_before {
                        "the response to an earlier refresh was lost: the server rotated the \
                         tokens but this browser never received them, and the server gives no \
                         way back"
                    } else {
                        "the refresh token was refused"
                    };
                    let (server_error, status) = (e.server_error.clone(), e.status);
                    let e = Error::new(
                        ErrorCode::SessionExpired,
                        msg!(
                            "the session of ",
                            did,
                            " ended: ",
                            reason,
                            " (",
                            e.message,
                            ")"
                        ),
                    )
                    .with_server_error(server_error, status)
                    .with_cause(e);
                    (reason, e)
                }
                Err(e) => {
                    // An answer did arrive: nothing was lost in flight, unless it was a success
                    // this client could not read (the server may have rotated): then the mark
                    // stored before sending stays.
                    if !unsaved && !resp.is_success() {
                        self.write_session(&session, &key).settled().await?;
                    }
                    return Err(e);
                }
            }
        };
        self.delete_session(did, reason).settled().await?;
        Err(error)
    }

    /// Writes the record as it is, with its key, without telling anyone (a bookkeeping write
    /// under the session's lock, not a new session).
    async fn write_session(&self, session: &Session, key: &DpopKey<P::Key>) -> Result<()> {
        self.platform
            .put(
                Table::Sessions,
                &session_id(&session.did, &self.cfg.client_id),
                &encode(session),
                Some(&key.handle),
            )
            .settled()
            .await
    }

    /// Revokes the tokens at the authorization server (best effort) and deletes the session
    /// locally in every case.
    pub async fn sign_out(&self, did: &str) -> Result<()> {
        let client_id = &self.cfg.client_id;
        // Under the session's lock, from a fresh read: a refresh in another tab can neither
        // rotate the tokens we revoke nor write the session back after we delete it.
        let _guard = self
            .platform
            .lock(&lock_name(client_id, did))
            .settled()
            .await?;
        // Tokens this tab could not store are the current ones; the stored ones are spent.
        let unsaved = self.unsaved.borrow_mut().remove(did);
        let read = read_session(&self.platform, client_id, did).settled().await;
        let restored;
        // One await of each call for every way through (each await is code).
        let current = match (&unsaved, read.as_ref().ok().and_then(Option::as_ref)) {
            (Some(u), _) => Some((&*u.live.session, &*u.live.key)),
            (None, Some(stored)) => match self.stored_key(stored).settled().await {
                Ok(r) => {
                    restored = r;
                    Some((&stored.record, &restored.key))
                }
                Err(_) => None,
            },
            (None, None) => None,
        };
        if let Some((session, key)) = current {
            self.revoke(session, key, client_id).settled().await;
        }
        // An unreadable record goes away all the same (also where version 0.1 kept it: see
        // `delete_session`), and the sign-out succeeds: its tokens cannot be revoked, as when
        // the server is down.
        self.delete_session(did, "signed out").settled().await
    }

    /// Stores the session a login just produced, under the session's lock (so a refresh of an
    /// earlier session of the account, in another tab, cannot overwrite it). A session this
    /// client already had for the account (a scope upgrade, a second sign-in) is replaced, and
    /// its tokens are revoked at its authorization server: nothing keeps them any more, so
    /// they must not stay valid. Best effort, after the new session is stored, so a failed
    /// revocation never costs the new session.
    ///
    /// `session` is complete (key, client id): it is written as it is. A session that cannot
    /// be stored (its lock not had in time, a failed write) has its own tokens revoked before
    /// the error is reported, as refused ones are: the code is spent and the callback gone, so
    /// nothing would ever hold them.
    pub(super) async fn store_new_session(
        &self,
        session: Session,
        key: Rc<DpopKey<P::Key>>,
    ) -> Result<Live<P::Key>> {
        let client_id = &self.cfg.client_id;
        let written = 'written: {
            let guard = match self
                .platform
                .lock(&lock_name(client_id, &session.did))
                .settled()
                .await
            {
                Ok(guard) => guard,
                Err(e) => break 'written Err(e),
            };
            // An unreadable earlier record is simply overwritten.
            let earlier = read_session(&self.platform, client_id, &session.did)
                .settled()
                .await
                .ok()
                .flatten();
            self.write_session(&session, &key)
                .settled()
                .await
                .map(|()| (guard, earlier))
        };
        let (guard, earlier) = match written {
            Ok(written) => written,
            Err(e) => {
                self.revoke(&session, &key, client_id).settled().await;
                return Err(e);
            }
        };
        let legacy = earlier.as_ref().is_some_and(|e| e.legacy);
        let live = self.stored_session(session, key, legacy).settled().await?;
        drop(guard);
        if let Some(earlier) = earlier {
            // The server checks that the DPoP key is the one the tokens are bound to.
            if let Ok(restored) = self.stored_key(&earlier).settled().await {
                self.revoke(&earlier.record, &restored.key, client_id)
                    .settled()
                    .await;
            }
        }
        Ok(live)
    }
}
