//! Identity: handle → DID → DID document → PDS, with the bidirectional handle check.

pub mod did;
pub mod document;
pub mod handle;
pub mod resolver;

pub use did::{parse_did, DidMethod};
pub use document::DidDocument;
pub use handle::normalize_handle;
pub use resolver::{Identity, IdentityResolver};
