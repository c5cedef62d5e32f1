//! Small encoding and randomness helpers shared by the protocol modules.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorCode, Result};

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::new(ErrorCode::InvalidResponse, "invalid base64url"))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Cryptographically secure random bytes: the OS in native builds, `crypto.getRandomValues`
/// in the browser (getrandom's `wasm_js` backend, which fills Wasm memory in place: 0.2's `js`
/// feature also shipped a Node.js path, 0.7 KB gzip more).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// Fills `buf` from the platform's CSPRNG, in place.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_e| {
        // In the browser the one source is crypto.getRandomValues: getrandom's messages for
        // every platform (and std's I/O error texts behind them) stay out of the .wasm.
        #[cfg(target_arch = "wasm32")]
        let why = "crypto.getRandomValues is unavailable or failed";
        #[cfg(not(target_arch = "wasm32"))]
        let why = _e.to_string();
        Error::new(
            ErrorCode::CryptoError,
            format!("no secure randomness: {why}"),
        )
    })
}

/// A random URL-safe token carrying `N` bytes of entropy.
pub(crate) fn random_token<const N: usize>() -> Result<String> {
    Ok(b64url(&random_bytes::<N>()?))
}

/// A string in double quotes for an error message, escaped so that hostile input cannot forge
/// the message's shape: `"` and `\` get a backslash; line breaks, other control characters and
/// the invisible format characters that reorder or hide text (bidi overrides, zero-width
/// marks) are written as `\u{..}`.
///
/// Messages use this rather than `{:?}`: the shipped build is compiled with
/// `-Zfmt-debug=none` (scripts/build.sh), where every `Debug` prints nothing; `npm test`'s lint
/// stage refuses `Debug` formatting in the crate's non-test code.
pub(crate) struct Quoted<'a>(pub &'a str);

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' | '\\' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                c if c.is_control()
                    || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                        | '\u{2060}'..='\u{206f}' | '\u{feff}') =>
                {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// `application/x-www-form-urlencoded` body from pairs.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub(crate) fn json_body<T: crate::json::FromJson>(body: &[u8], what: &str) -> Result<T> {
    crate::json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("{what}: unreadable JSON ({e})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::Quoted;

    #[test]
    fn quoted_escapes_what_could_forge_or_hide_text() {
        let q = |s: &str| Quoted(s).to_string();
        assert_eq!(q("alice.bsky.social"), r#""alice.bsky.social""#);
        assert_eq!(q(r#"a"b\c"#), r#""a\"b\\c""#);
        // A line break cannot start a forged line; a tab or NUL is visible.
        assert_eq!(q("a\nb\r\t\0"), r#""a\u{a}b\u{d}\u{9}\u{0}""#);
        // Bidi overrides and zero-width characters are shown, not obeyed.
        assert_eq!(
            q("x\u{202e}y\u{200b}z\u{2066}\u{feff}"),
            r#""x\u{202e}y\u{200b}z\u{2066}\u{feff}""#
        );
        // Other text, non-ASCII included, is as it is.
        assert_eq!(q("héllo ünïcode 日本"), "\"héllo ünïcode 日本\"");
    }
}
