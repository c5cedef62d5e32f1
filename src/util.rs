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
/// in the browser (getrandom's `js` feature).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// Fills `buf` from the platform's CSPRNG, in place.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf).map_err(|_e| {
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

/// `application/x-www-form-urlencoded` body from pairs.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("{what}: unreadable JSON ({e})"),
        )
    })
}
