//! Which authorization server serves a PDS (cached for 10 minutes), and the check that a DID's
//! PDS is served by a given issuer: the proof that tokens from that issuer are the account's.

use super::Client;
use crate::error::{err, ErrorCode, Result};
use crate::identity::Identity;
use crate::oauth::metadata::discover;
use crate::oauth::AuthServerMetadata;
use crate::platform::Platform;
use crate::settled::Settled;

impl<P: Platform> Client<P> {
    /// The authorization server of a PDS, or (`entryway`) of a server URL the user gave, which
    /// may be an authorization server itself (`oauth::metadata::discover`). A PDS's is cached
    /// for 10 minutes.
    pub(super) async fn server_for(&self, url: &str, entryway: bool) -> Result<AuthServerMetadata> {
        let origin = self.cfg.check_url(url)?.origin();
        let now = self.now();
        if let Some(meta) = self.servers.get(&origin, now).filter(|_| !entryway) {
            return Ok(meta);
        }
        let meta = discover(&self.platform, &self.cfg, url, entryway)
            .settled()
            .await?;
        if !entryway {
            self.servers.insert(&origin, meta.clone(), now);
        }
        Ok(meta)
    }

    /// Resolves a DID to its PDS and checks that the PDS is served by `issuer`.
    pub(super) async fn verify_issuer_for(&self, did: &str, issuer: &str) -> Result<Identity> {
        let identity = self
            .resolver
            .resolve_from_did(&self.platform, &self.cfg, did, self.now())
            .settled()
            .await?;
        let meta = self.server_for(&identity.pds, false).settled().await?;
        if meta.issuer != issuer {
            return err(
                ErrorCode::SubjectMismatch,
                msg!(did, " is served by ", meta.issuer, ", not by ", issuer),
            );
        }
        Ok(identity)
    }
}
