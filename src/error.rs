//! The one error type of the crate. Every variant has a stable `code` string that the
//! JavaScript surface exposes as `err.code`, so apps can branch on it; messages are for humans.
//! An error can keep the error that caused it (`cause`), which JavaScript sees as `err.cause`.

use std::fmt;

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident => $code:literal,)*) => {
        /// Stable error codes. The string form (`as_str`) is part of the public API: never
        /// rename one. This enum is the single source of truth: the TypeScript union in
        /// `src/wasm/types.d.ts` and the README's list are checked against `ErrorCode::ALL`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The stable string form (`err.code` in JavaScript).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }
        }
    };
}

error_codes! {
    /// The app's configuration (client id, redirect URI, URLs) is unusable.
    InvalidConfig => "invalid_config",
    /// An argument from the app is malformed: login input that is neither a handle, a DID nor
    /// an http(s) URL, a value of the wrong type, a bad NSID.
    InvalidInput => "invalid_input",
    /// A handle that breaks the AT Protocol handle syntax.
    InvalidHandle => "invalid_handle",
    /// A DID that breaks the DID syntax.
    InvalidDid => "invalid_did",
    /// A syntactically valid DID whose method is neither `plc` nor `web`.
    UnsupportedDidMethod => "unsupported_did_method",
    /// No resolution method could map the handle to a DID.
    HandleResolutionFailed => "handle_resolution_failed",
    /// The DID document could not be fetched or is malformed.
    DidResolutionFailed => "did_resolution_failed",
    /// The DID document does not claim the handle (`alsoKnownAs`), so the handle is not verified.
    HandleMismatch => "handle_mismatch",
    /// The DID document lists no `#atproto_pds` service.
    NoPds => "no_pds",
    /// Protected-resource or authorization-server metadata is missing or fails a check.
    InvalidMetadata => "invalid_metadata",
    /// A plain-http server was met and the app did not opt in to http for local development.
    InsecureUrl => "insecure_url",
    /// The request could not be sent or no response arrived (offline, CORS, DNS).
    NetworkError => "network_error",
    /// A server did not answer in time (`requestTimeoutMs`), or its answer never finished.
    Timeout => "timeout",
    /// A response body was larger than allowed (1 MiB for documents, `maxResponseBytes` for XRPC).
    ResponseTooLarge => "response_too_large",
    /// A server answered something that cannot be parsed or breaks the protocol.
    InvalidResponse => "invalid_response",
    /// The pushed authorization request was refused.
    ParFailed => "par_failed",
    /// The callback URL has no `state`, or a `state` this client never issued or already used.
    InvalidState => "invalid_state",
    /// The callback's `state` is known but its login attempt expired.
    StateExpired => "state_expired",
    /// The callback's `iss` is missing or names another authorization server.
    IssuerMismatch => "issuer_mismatch",
    /// The user declined the authorization (`error=access_denied`).
    AccessDenied => "access_denied",
    /// The authorization server sent any other `error` to the callback.
    AuthorizationError => "authorization_error",
    /// The token endpoint refused the request (other than a dead refresh token).
    TokenFailed => "token_failed",
    /// The token response's `sub` is not the expected account, or its PDS is not served by this issuer.
    SubjectMismatch => "subject_mismatch",
    /// No stored session for that DID (never signed in, signed out, or deleted after a failure).
    SessionNotFound => "session_not_found",
    /// The session's refresh token was refused: the session is dead and was deleted.
    SessionExpired => "session_expired",
    /// The PDS answered an XRPC call with an error status.
    XrpcError => "xrpc_error",
    /// The PDS refused an XRPC call (403) because the session's scope does not grant it;
    /// `missing_scope` names the permission to request.
    InsufficientScope => "insufficient_scope",
    /// IndexedDB failed.
    StorageError => "storage_error",
    /// The cross-tab lock (Web Locks) could not be taken.
    LockFailed => "lock_failed",
    /// WebCrypto or signing failed.
    CryptoError => "crypto_error",
    /// The code runs somewhere that lacks a browser API it needs, or the authorization server
    /// does not support what was asked (sign-up with `prompt: "create"`).
    Unsupported => "unsupported",
    /// A bug in this library: a state it should never reach. Please report it.
    Internal => "internal_error",
    /// The browser did not open the sign-in popup (call `startLogin` from the click handler).
    PopupBlocked => "popup_blocked",
    /// The user closed the sign-in popup before signing in.
    PopupClosed => "popup_closed",
}

impl ErrorCode {
    /// The code of a code string (`internal_error` for one this version does not know).
    pub fn from_code(code: &str) -> ErrorCode {
        for &c in ErrorCode::ALL {
            if c.as_str() == code {
                return c;
            }
        }
        ErrorCode::Internal
    }
}

/// An error with a stable code, a human message, and, where a server said so, the server's own
/// error name (OAuth `error` or XRPC `error`) and HTTP status.
///
/// One pointer wide: the fields live in a box, so every `Result` the crate passes around (and
/// every `?`) moves a pointer, not the whole error. The fields are read through `Deref`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(Box<ErrorFields>);

/// The fields of an [`Error`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorFields {
    /// What went wrong, as a stable code.
    pub code: ErrorCode,
    /// For humans; never branch on it.
    pub message: String,
    /// The server's own error name: OAuth `error` (`invalid_grant`, …) or XRPC `error` (`RecordNotFound`, …).
    pub server_error: Option<String>,
    /// The HTTP status, when a server answered.
    pub status: Option<u16>,
    /// The error this one was caused by, when it wraps another.
    pub cause: Option<Box<Error>>,
    /// For `InsufficientScope`: the scope the server said is missing, when it said.
    pub missing_scope: Option<String>,
}

impl Error {
    /// An error with a code and a message, nothing else.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error(Box::new(ErrorFields {
            code,
            message: message.into(),
            server_error: None,
            status: None,
            cause: None,
            missing_scope: None,
        }))
    }

    /// Adds what the server said: its `error` name and the HTTP status.
    pub fn with_server_error(mut self, server_error: Option<String>, status: Option<u16>) -> Self {
        self.server_error = server_error;
        self.status = status;
        self
    }

    /// Keeps `cause` as the error this one wraps.
    pub fn with_cause(mut self, cause: Error) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// A new error of `code` that wraps `self`, keeping its message in front of the context.
    pub fn wrap(self, code: ErrorCode, context: &str) -> Error {
        let message = msg!(context, ": ", self.message);
        Error::new(code, message).with_cause(self)
    }
}

impl std::ops::Deref for Error {
    type Target = ErrorFields;
    fn deref(&self) -> &ErrorFields {
        &self.0
    }
}

impl std::ops::DerefMut for Error {
    fn deref_mut(&mut self) -> &mut ErrorFields {
        &mut self.0
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&msg!(self.code.as_str(), ": ", self.message))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// Shorthand used all over the crate: `err(ErrorCode::InvalidDid, "…")`.
pub(crate) fn err<T>(code: ErrorCode, message: impl Into<String>) -> Result<T> {
    Err(Error::new(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn codes() -> BTreeSet<&'static str> {
        ErrorCode::ALL.iter().map(|c| c.as_str()).collect()
    }

    /// The quoted snake_case words of `text` between `start` and the next `end`.
    fn quoted_codes(text: &str, start: &str, end: &str, quote: char) -> BTreeSet<String> {
        let from = text.find(start).expect("start marker") + start.len();
        let section = &text[from..];
        let section = &section[..section.find(end).expect("end marker")];
        section
            .split(quote)
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn codes_are_unique_snake_case() {
        assert_eq!(codes().len(), ErrorCode::ALL.len());
        for code in codes() {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }

    #[test]
    fn typescript_union_lists_exactly_the_codes() {
        let ts = include_str!("wasm/types.d.ts");
        let listed = quoted_codes(ts, "export type OAuthErrorCode =", ";", '"');
        let want: BTreeSet<String> = codes().into_iter().map(String::from).collect();
        assert_eq!(listed, want, "src/wasm/types.d.ts OAuthErrorCode");
    }

    #[test]
    fn readme_lists_exactly_the_codes() {
        let readme = include_str!("../README.md");
        let listed = quoted_codes(readme, "\nCodes: ", ".\n", '`');
        let want: BTreeSet<String> = codes().into_iter().map(String::from).collect();
        assert_eq!(
            listed, want,
            "README.md, the line starting with \"Codes: \""
        );
    }

    #[test]
    fn cause_is_kept_and_exposed_as_source() {
        let inner = Error::new(ErrorCode::NetworkError, "offline");
        let outer = inner
            .clone()
            .wrap(ErrorCode::DidResolutionFailed, "did doc");
        assert_eq!(outer.message, "did doc: offline");
        assert_eq!(outer.cause.as_deref(), Some(&inner));
        let source = std::error::Error::source(&outer).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("network_error: offline"));
    }
}
