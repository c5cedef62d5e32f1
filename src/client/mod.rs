//! The client: one `Client` per app (client id + redirect URI) that coordinates the protocol
//! modules over the `Platform` traits. Each concern has its own file:
//! - `login.rs`: start a login (resolve, PAR) and finish it (callback checks, code exchange);
//! - `session.rs`: the one place a session becomes live or is forgotten; refresh; sign-out;
//! - `xrpc.rs`: authenticated calls to the PDS, and record paging;
//! - `discovery.rs`: which authorization server serves a PDS, and whether it serves a DID;
//! - `loopback.rs`: retiring sessions of an earlier loopback client id after a scope change;
//! - `revoke.rs`: revoking tokens (sign-out, and tokens refused after they arrived).

mod discovery;
mod login;
mod loopback;
mod revoke;
mod session;
mod xrpc;

#[cfg(test)]
pub(crate) mod tests;

use crate::settled::Settled;
use crate::strmap::StrMap;
use crate::url::Url;
use std::cell::RefCell;

pub use login::{is_popup_state, CallbackResult, LoginOptions, LoginStart, Prompt};
#[cfg(feature = "fuzzing")]
pub(crate) use xrpc::is_invalid_token;
pub use xrpc::{check_proxy, PdsRequest, RecordsPage, RecordsQuery, XrpcRequest};

use crate::cache::TtlCache;
use crate::config::ClientConfig;
use crate::dpop::{self, BoundToken, DpopKey, PersistedNonces};
use crate::error::Result;
use crate::identity::IdentityResolver;
use crate::oauth::AuthServerMetadata;
use crate::platform::{HttpRequest, HttpResponse, Platform};
use session::{Live, UnsavedOf};

/// An AT Protocol OAuth client, written once over the `Platform` traits: the browser build runs
/// it on fetch, IndexedDB, Web Locks and BroadcastChannel; native tests on in-memory fakes.
pub struct Client<P: Platform> {
    platform: P,
    cfg: ClientConfig,
    resolver: IdentityResolver,
    /// PDS origin → its authorization server, for the 10 minutes the spec allows.
    servers: TtlCache<AuthServerMetadata>,
    nonces: PersistedNonces,
    /// Sessions in memory by DID, so the per-request path touches no storage.
    live: RefCell<StrMap<Live<P::Key>>>,
    /// Sessions by DID whose refreshed tokens could not be stored: this tab holds the only copy.
    unsaved: RefCell<UnsavedOf<P>>,
    /// The last PDS URL that requests went to, as the session names it and as checked and
    /// parsed: a call to the same PDS parses only its own path (in the browser, one `new URL()`
    /// per call instead of two).
    pds_base: RefCell<Option<(String, Url)>>,
}

impl<P: Platform> Client<P> {
    /// Validates the configuration and builds a client. Makes no request and reads no storage.
    pub fn new(cfg: ClientConfig, platform: P) -> Result<Self> {
        cfg.validate()?;
        Ok(Client {
            platform,
            cfg,
            resolver: IdentityResolver::default(),
            servers: TtlCache::default(),
            nonces: PersistedNonces::default(),
            live: RefCell::default(),
            unsaved: RefCell::default(),
            pds_base: RefCell::default(),
        })
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The platform the client runs on.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    fn now(&self) -> i64 {
        self.platform.now()
    }

    /// Sends a DPoP-bound request with the origin's nonce (loaded from storage on first contact)
    /// and persists a new nonce in the background. `target` is the request URL's, when the
    /// caller parsed that URL already (the XRPC path, on every call); else it is parsed here.
    async fn dpop_send(
        &self,
        key: &DpopKey<P::Key>,
        request: &HttpRequest,
        target: Option<&dpop::Target>,
        access: Option<BoundToken<'_>>,
    ) -> Result<HttpResponse> {
        let parsed;
        let target = match target {
            Some(target) => target,
            None => {
                parsed = dpop::Target::of(&request.url)?;
                &parsed
            }
        };
        self.nonces
            .load(&self.platform, &target.origin)
            .settled()
            .await;
        let out = dpop::send(
            &self.platform,
            key,
            self.nonces.cache(),
            request,
            target,
            access,
            // Clock corrections only within one request's time (in whole seconds, rounded up:
            // the clock reads seconds).
            i64::from(self.cfg.request_timeout_ms.div_ceil(1000)),
        )
        .settled()
        .await?;
        self.nonces.save(&self.platform, out.changed.as_deref());
        Ok(out.response)
    }
}
