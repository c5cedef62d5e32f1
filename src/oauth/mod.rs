//! The OAuth side: discovery, PKCE, the authorization server's endpoints, the callback.

pub(crate) mod callback;
pub(crate) mod metadata;
pub(crate) mod pkce;
pub(crate) mod scope;
pub(crate) mod server;

pub(crate) use metadata::AuthServerMetadata;
