//! DID syntax and the two methods AT Protocol supports.

use crate::error::{err, ErrorCode, Result};
use crate::util;
use crate::util::AsciiSplit;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DidMethod {
    Plc,
    /// Hostname-level `did:web` only (atproto does not support paths); the host may carry a
    /// percent-encoded port (`did:web:localhost%3A8080`).
    Web {
        host: String,
    },
}

/// Checks the generic DID syntax, then that the method is one atproto supports.
pub(crate) fn parse_did(did: &str) -> Result<DidMethod> {
    // How every message below names the input.
    let quoted = util::quoted(did);
    let valid_syntax = did.len() <= 2048
        && did.starts_with("did:")
        && did.pieces(b':').count() >= 3
        && did
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || crate::util::one_of(b, b"._:%-"))
        && !did.ends_with(':')
        && !did.ends_with('%');
    if !valid_syntax {
        return err(ErrorCode::InvalidDid, msg!(quoted, " is not a valid DID"));
    }
    let (method, rest) = method_and_rest(did);
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_lowercase()) {
        return err(
            ErrorCode::InvalidDid,
            msg!(quoted, " is not a valid DID: bad method"),
        );
    }
    match method {
        "plc" => {
            let ok = rest.len() == 24
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
            if ok {
                Ok(DidMethod::Plc)
            } else {
                err(
                    ErrorCode::InvalidDid,
                    msg!(quoted, " is not a valid did:plc"),
                )
            }
        }
        "web" => {
            if rest.has(b':') {
                return err(
                    ErrorCode::UnsupportedDidMethod,
                    msg!(
                        quoted,
                        ": did:web with a path is not supported by AT Protocol"
                    ),
                );
            }
            let host = util::replace(&util::replace(rest, "%3A", ":"), "%3a", ":");
            if host.is_empty() || host.has(b'%') {
                return err(
                    ErrorCode::InvalidDid,
                    msg!(quoted, " is not a valid did:web"),
                );
            }
            // AT Protocol allows a port only on localhost (development).
            if let Some((name, _port)) = host.cut(b':') {
                if !name.eq_ignore_ascii_case("localhost") {
                    return err(
                        ErrorCode::InvalidDid,
                        msg!(quoted, ": a did:web port is allowed only for localhost"),
                    );
                }
            }
            Ok(DidMethod::Web {
                host: host.to_ascii_lowercase(),
            })
        }
        other => err(
            ErrorCode::UnsupportedDidMethod,
            msg!(
                "did:",
                other,
                " is not supported (only did:plc and did:web)"
            ),
        ),
    }
}

/// The method (between the first two colons) and what follows the second colon, each empty
/// when missing: the second and third parts of `splitn(3, ':')`.
fn method_and_rest(did: &str) -> (&str, &str) {
    let after = did.cut(b':').map_or("", |(_, r)| r);
    after.cut(b':').unwrap_or((after, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string of up to 5 pieces around colons: the parts `splitn(3, ':')` gave.
    #[test]
    fn method_and_rest_as_splitn() {
        for s in crate::testing::strings_of(&[":", "did", "plc", "é", ""], 5) {
            let mut parts = s.splitn(3, ':');
            let _ = parts.next();
            let expected = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert_eq!(method_and_rest(&s), expected, "{s:?}");
        }
    }

    #[test]
    fn parses_supported_methods() {
        assert_eq!(
            parse_did("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap(),
            DidMethod::Plc
        );
        assert_eq!(
            parse_did("did:web:example.com").unwrap(),
            DidMethod::Web {
                host: "example.com".into()
            }
        );
        assert_eq!(
            parse_did("did:web:localhost%3A8080").unwrap(),
            DidMethod::Web {
                host: "localhost:8080".into()
            }
        );
    }

    #[test]
    fn rejects_bad_and_unknown() {
        assert_eq!(
            parse_did("did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme")
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedDidMethod
        );
        assert_eq!(
            parse_did("did:web:example.com:user:alice")
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedDidMethod
        );
        for bad in [
            "did:plc:short",
            "did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ",
            "did:",
            "did:plc:",
            "plc:abc",
            "did:PLC:ewvi7nxzyoun6zhxrhs64oiz",
            "did:plc:ewvi7nxzyoun6zhxrhs64oi/",
            "did:web:exa mple.com",
            "did:web:example.com%3A8443",
            "did:web:127.0.0.1%3A2583",
        ] {
            assert_eq!(
                parse_did(bad).unwrap_err().code,
                ErrorCode::InvalidDid,
                "{bad}"
            );
        }
    }
}
