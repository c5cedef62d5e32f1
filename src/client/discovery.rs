//! Which authorization server serves a PDS (cached for 10 minutes), and the check that a DID's
//! PDS is served by a given issuer: the proof that tokens from that issuer are the account's.

use super::Client;
use crate::error::{err, ErrorCode, Result};
use crate::identity::Identity;
use crate::oauth::metadata::{fetch_auth_server, fetch_protected_resource};
use crate::oauth::AuthServerMetadata;
use crate::platform::Platform;

impl<P: Platform> Client<P> {
    /// The authorization server of a PDS, cached for 10 minutes.
    pub(super) async fn server_for_pds(&self, pds: &str) -> Result<AuthServerMetadata> {
        let origin = self.cfg.check_url(pds)?.origin();
        let now = self.now();
        if let Some(meta) = self.servers.get(&origin, now) {
            return Ok(meta);
        }
        let issuer = fetch_protected_resource(&self.platform, &self.cfg, pds).await?;
        let meta = fetch_auth_server(&self.platform, &self.cfg, &issuer).await?;
        self.servers.insert(&origin, meta.clone(), now);
        Ok(meta)
    }

    /// Resolves a DID to its PDS and checks that the PDS is served by `issuer`.
    pub(super) async fn verify_issuer_for(&self, did: &str, issuer: &str) -> Result<Identity> {
        let identity = self
            .resolver
            .resolve_from_did(&self.platform, &self.cfg, did, self.now())
            .await?;
        let meta = self.server_for_pds(&identity.pds).await?;
        if meta.issuer != issuer {
            return err(
                ErrorCode::SubjectMismatch,
                msg!(did, " is served by ", meta.issuer, ", not by ", issuer),
            );
        }
        Ok(identity)
    }
}
