//! Handle syntax (atproto.com/specs/handle), checked before any request is made.

use crate::error::{err, ErrorCode, Result};
use crate::util;
use crate::util::AsciiSplit;

/// TLDs the spec forbids for handles. `.test` stays allowed: it is the development TLD the
/// official PDS uses on loopback.
const DISALLOWED_TLDS: &[&str] = &[
    "alt",
    "arpa",
    "example",
    "internal",
    "invalid",
    "local",
    "localhost",
    "onion",
];

/// Validates a handle and returns its normalized (lower-case) form. Accepts a leading `@`,
/// which users often type, and refuses the TLDs the spec reserves.
pub(crate) fn normalize_handle(input: &str) -> Result<String> {
    handle_syntax(input.trim().trim_start_byte(b'@'), input, false)
}

/// `handle` checked against the spec's grammar and lower-cased; a reserved TLD is refused
/// unless `reserved_ok` (the syntax alone). Messages quote `input`.
pub(crate) fn handle_syntax(handle: &str, input: &str, reserved_ok: bool) -> Result<String> {
    // How every message below names the input.
    let quoted = util::quoted(input);
    let handle = handle.to_ascii_lowercase();
    if handle.is_empty() || handle.len() > 253 {
        return err(
            ErrorCode::InvalidHandle,
            msg!(quoted, " is not a valid handle: bad length"),
        );
    }
    if !handle.has(b'.') {
        return err(
            ErrorCode::InvalidHandle,
            msg!(
                quoted,
                " is not a valid handle: it needs a domain (like alice.bsky.social)"
            ),
        );
    }
    for label in handle.pieces(b'.') {
        let bytes = label.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-';
        if !ok {
            return err(
                ErrorCode::InvalidHandle,
                msg!(
                    quoted,
                    " is not a valid handle: bad segment ",
                    util::quoted(label)
                ),
            );
        }
    }
    // Not empty: every label was checked above.
    let tld = &handle[handle
        .bytes()
        .rposition(|b| b == b'.')
        .map_or(0, |dot| dot + 1)..];
    if tld.starts_with(|c: char| c.is_ascii_digit()) {
        return err(
            ErrorCode::InvalidHandle,
            msg!(
                quoted,
                " is not a valid handle: the top-level domain starts with a digit"
            ),
        );
    }
    if !reserved_ok && DISALLOWED_TLDS.contains(&tld) {
        return err(
            ErrorCode::InvalidHandle,
            msg!(quoted, " is not a valid handle: .", tld, " is not allowed"),
        );
    }
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `normalize_handle` against its earlier form (the labels collected into a vector
    /// first), on every string of up to 6 pieces of a set that makes each rule matter: the
    /// same handles accepted, the same message for each refused.
    #[test]
    fn handle_syntax_as_before() {
        fn before(handle: &str) -> Result<String> {
            let quoted = util::quoted(handle);
            let handle = handle.trim().trim_start_matches('@').to_ascii_lowercase();
            normalize_labels_before(&handle, &quoted)
        }
        fn normalize_labels_before(handle: &str, quoted: &str) -> Result<String> {
            if handle.is_empty() || handle.len() > 253 {
                return err(
                    ErrorCode::InvalidHandle,
                    format!("{quoted} is not a valid handle: bad length"),
                );
            }
            let labels: Vec<&str> = handle.split('.').collect();
            if labels.len() < 2 {
                return err(ErrorCode::InvalidHandle, format!("{quoted} is not a valid handle: it needs a domain (like alice.bsky.social)"));
            }
            for label in &labels {
                let bytes = label.as_bytes();
                let ok = !bytes.is_empty()
                    && bytes.len() <= 63
                    && bytes
                        .iter()
                        .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
                    && bytes[0] != b'-'
                    && bytes[bytes.len() - 1] != b'-';
                if !ok {
                    return err(
                        ErrorCode::InvalidHandle,
                        format!(
                            "{quoted} is not a valid handle: bad segment {}",
                            util::quoted(label)
                        ),
                    );
                }
            }
            let tld = labels[labels.len() - 1];
            if tld.as_bytes()[0].is_ascii_digit() {
                return err(
                    ErrorCode::InvalidHandle,
                    format!(
                        "{quoted} is not a valid handle: the top-level domain starts with a digit"
                    ),
                );
            }
            if DISALLOWED_TLDS.contains(&tld) {
                return err(
                    ErrorCode::InvalidHandle,
                    format!("{quoted} is not a valid handle: .{tld} is not allowed"),
                );
            }
            Ok(handle.to_string())
        }
        for s in crate::testing::strings_of(&["a", "1", "-", ".", "local", "é"], 6) {
            let (ours, earlier) = (normalize_handle(&s), before(&s));
            assert_eq!(ours.as_ref().ok(), earlier.as_ref().ok(), "{s}");
            if let (Err(a), Err(b)) = (ours, earlier) {
                assert_eq!(a.message, b.message, "{s}");
            }
        }
    }

    #[test]
    fn accepts_and_normalizes() {
        assert_eq!(
            normalize_handle("Alice.Bsky.Social").unwrap(),
            "alice.bsky.social"
        );
        assert_eq!(normalize_handle("@alice.test").unwrap(), "alice.test");
        assert_eq!(
            normalize_handle(" xn--ls8h.example.com ").unwrap(),
            "xn--ls8h.example.com"
        );
        assert_eq!(normalize_handle("a.co").unwrap(), "a.co");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "alice",
            "alice..test",
            "-alice.test",
            "alice-.test",
            "alice.test.",
            ".alice.test",
            "al ice.test",
            "alice_x.test",
            "alice.123",
            "alice.local",
            "alice.onion",
            "ålice.test",
            "did:plc:abc",
            "https://alice.test",
        ] {
            let e = normalize_handle(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidHandle, "{bad:?}");
        }
        let long = format!("{}.test", "a".repeat(64));
        assert!(normalize_handle(&long).is_err());
        let too_long = format!("{}test", "abcdefghi.".repeat(25));
        assert!(too_long.len() > 253);
        assert!(normalize_handle(&too_long).is_err());
    }
}
