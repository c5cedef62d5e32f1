//! The one error type of the crate. Every variant has a stable `code` string that the
//! JavaScript surface exposes as `err.code`, so apps can branch on it; messages are for humans.

use std::fmt;

/// Stable error codes. The string form (`as_str`) is part of the public API: never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The app's configuration (client id, redirect URI, URLs) is unusable.
    InvalidConfig,
    /// Login input is neither a valid handle, a DID, nor an http(s) URL.
    InvalidInput,
    /// A handle that breaks the AT Protocol handle syntax.
    InvalidHandle,
    /// A DID that breaks the DID syntax.
    InvalidDid,
    /// A syntactically valid DID whose method is neither `plc` nor `web`.
    UnsupportedDidMethod,
    /// No resolution method could map the handle to a DID.
    HandleResolutionFailed,
    /// The DID document could not be fetched or is malformed.
    DidResolutionFailed,
    /// The DID document does not claim the handle (`alsoKnownAs`), so the handle is not verified.
    HandleMismatch,
    /// The DID document lists no `#atproto_pds` service.
    NoPds,
    /// Protected-resource or authorization-server metadata is missing or fails a check.
    InvalidMetadata,
    /// A plain-http server was met and the app did not opt in to http for local development.
    InsecureUrl,
    /// The request could not be sent or no response arrived (offline, CORS, DNS).
    NetworkError,
    /// A server answered something that cannot be parsed or breaks the protocol.
    InvalidResponse,
    /// The pushed authorization request was refused.
    ParFailed,
    /// The callback URL has no `state`, or a `state` this client never issued or already used.
    InvalidState,
    /// The callback's `state` is known but its login attempt expired.
    StateExpired,
    /// The callback's `iss` is missing or names another authorization server.
    IssuerMismatch,
    /// The user declined the authorization (`error=access_denied`).
    AccessDenied,
    /// The authorization server sent any other `error` to the callback.
    AuthorizationError,
    /// The token endpoint refused the request (other than a dead refresh token).
    TokenFailed,
    /// The token response's `sub` is not the expected account, or its PDS is not served by this issuer.
    SubjectMismatch,
    /// No stored session for that DID (never signed in, signed out, or deleted after a failure).
    SessionNotFound,
    /// The session's refresh token was refused: the session is dead and was deleted.
    SessionExpired,
    /// The PDS answered an XRPC call with an error status.
    XrpcError,
    /// IndexedDB failed.
    StorageError,
    /// WebCrypto or signing failed.
    CryptoError,
    /// The code runs somewhere that lacks a browser API it needs.
    Unsupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::InvalidHandle => "invalid_handle",
            ErrorCode::InvalidDid => "invalid_did",
            ErrorCode::UnsupportedDidMethod => "unsupported_did_method",
            ErrorCode::HandleResolutionFailed => "handle_resolution_failed",
            ErrorCode::DidResolutionFailed => "did_resolution_failed",
            ErrorCode::HandleMismatch => "handle_mismatch",
            ErrorCode::NoPds => "no_pds",
            ErrorCode::InvalidMetadata => "invalid_metadata",
            ErrorCode::InsecureUrl => "insecure_url",
            ErrorCode::NetworkError => "network_error",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::ParFailed => "par_failed",
            ErrorCode::InvalidState => "invalid_state",
            ErrorCode::StateExpired => "state_expired",
            ErrorCode::IssuerMismatch => "issuer_mismatch",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::AuthorizationError => "authorization_error",
            ErrorCode::TokenFailed => "token_failed",
            ErrorCode::SubjectMismatch => "subject_mismatch",
            ErrorCode::SessionNotFound => "session_not_found",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::XrpcError => "xrpc_error",
            ErrorCode::StorageError => "storage_error",
            ErrorCode::CryptoError => "crypto_error",
            ErrorCode::Unsupported => "unsupported",
        }
    }
}

/// An error with a stable code, a human message, and, where a server said so, the server's own
/// error name (OAuth `error` or XRPC `error`) and HTTP status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// The server's own error name: OAuth `error` (`invalid_grant`, …) or XRPC `error` (`RecordNotFound`, …).
    pub server_error: Option<String>,
    pub status: Option<u16>,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            server_error: None,
            status: None,
        }
    }

    pub fn with_server_error(mut self, server_error: Option<String>, status: Option<u16>) -> Self {
        self.server_error = server_error;
        self.status = status;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand used all over the crate: `err(ErrorCode::InvalidDid, "…")`.
pub fn err<T>(code: ErrorCode, message: impl Into<String>) -> Result<T> {
    Err(Error::new(code, message))
}
