//! `application/x-www-form-urlencoded` (the URL Standard, §5): request bodies, query strings
//! and the authorization response's parameters.
//!
//! By hand rather than with the `form_urlencoded` crate: its parser (an iterator of
//! copy-on-write pairs with lossy UTF-8 decoding) and its serializer (a builder generic over
//! its target) were about 2.3 KB of the .wasm for these two loops. The crate stays as the
//! reference in the tests: the same pairs read from any input, the same text written.

use crate::util::AsciiSplit;

/// The pairs of a form-encoded string, decoded: split on `&` (empty pieces skipped), each at
/// its first `=` (no `=`: the value is empty), `+` read as a space, then percent-decoded (a
/// `%` not followed by two hex digits stays as it is), and invalid UTF-8 replaced by U+FFFD.
pub(crate) fn parse(input: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for piece in input.pieces(b'&') {
        if !piece.is_empty() {
            let (name, value) = piece.cut(b'=').unwrap_or((piece, ""));
            pairs.push((decode(name), decode(value)));
        }
    }
    pairs
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        i += 1;
        out.push(match b {
            b'+' => b' ',
            b'%' => match (bytes.get(i).and_then(hex), bytes.get(i + 1).and_then(hex)) {
                (Some(high), Some(low)) => {
                    i += 2;
                    high << 4 | low
                }
                _ => b'%',
            },
            b => b,
        });
    }
    String::from_utf8(out).unwrap_or_else(|e| crate::util::utf8_lossy(e.as_bytes()))
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

/// Appends the pairs to `out`, form-encoded, after a `&` when `out` is not empty.
pub(crate) fn append<K: AsRef<str>, V: AsRef<str>>(out: &mut String, pairs: &[(K, V)]) {
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        push_encoded(out, name.as_ref());
        out.push('=');
        push_encoded(out, value.as_ref());
    }
}

/// The pairs form-encoded.
pub(crate) fn encode<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    append(&mut out, pairs);
    out
}

/// The URL Standard's byte serializer: ASCII letters, digits and `*-._` as they are, a space
/// as `+`, every other byte of the UTF-8 as `%XX` (upper-case hex).
fn push_encoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{encode, parse};

    // Strings made of the pieces that matter to the format, every combination up to a length.
    use crate::testing::strings_of as samples;

    #[test]
    fn parses_as_the_form_urlencoded_crate() {
        let pieces = [
            "a", "=", "&", "+", "%", "%4", "%41", "%4g", "%e2%82", "%ac", "%FF", "é", " ", "%2B",
        ];
        for input in samples(&pieces, 4) {
            let theirs: Vec<(String, String)> = form_urlencoded::parse(input.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(parse(&input), theirs, "{input:?}");
        }
    }

    #[test]
    fn encodes_as_the_form_urlencoded_crate() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        let texts = [
            "",
            "a b",
            "x y&z=+/ä",
            "日本",
            "\u{feff}%",
            every_ascii.as_str(),
        ];
        for name in texts {
            for value in texts {
                let pairs = [(name, value), ("k", "v w&"), (value, name)];
                for n in 0..=pairs.len() {
                    let theirs = form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&pairs[..n])
                        .finish();
                    assert_eq!(encode(&pairs[..n]), theirs);
                    let parsed = parse(&theirs);
                    let expected: Vec<(String, String)> = pairs[..n]
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    assert_eq!(parsed, expected);
                }
            }
        }
    }
}
