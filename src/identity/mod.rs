//! Identity: handle → DID → DID document → PDS, with the bidirectional handle check.

pub(crate) mod did;
pub(crate) mod document;
pub(crate) mod handle;
pub(crate) mod methods;
pub(crate) mod resolver;

pub(crate) use did::{parse_did, DidMethod};
pub(crate) use document::DidDocument;
pub(crate) use handle::normalize_handle;
pub(crate) use resolver::{Identity, IdentityResolver};
