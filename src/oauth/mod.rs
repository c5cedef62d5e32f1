//! The OAuth side: discovery, PKCE, the authorization server's endpoints, the callback.

pub mod callback;
pub mod metadata;
pub mod pkce;
pub mod server;

pub use metadata::AuthServerMetadata;
