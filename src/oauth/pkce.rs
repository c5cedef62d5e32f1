//! PKCE with S256 (RFC 7636), the only method AT Protocol allows.

use crate::error::Result;
use crate::secret::PkceVerifier;
use crate::util::{b64url, random_token, sha256};

/// A verifier (kept until the code exchange) and its S256 challenge (sent in the PAR).
pub(crate) struct Pkce {
    pub verifier: PkceVerifier,
    pub challenge: String,
}

/// A 32-byte random verifier (43 base64url characters, inside RFC 7636's 43–128).
pub(crate) fn generate() -> Result<Pkce> {
    let verifier = random_token::<32>()?;
    let challenge = challenge_for(&verifier);
    Ok(Pkce {
        verifier: PkceVerifier::new(verifier),
        challenge,
    })
}

pub(crate) fn challenge_for(verifier: &str) -> String {
    b64url(&sha256(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_is_random_and_in_range() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.verifier, b.verifier);
        let v = a.verifier.expose();
        assert_eq!(v.len(), 43);
        assert!(v
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(a.challenge, challenge_for(v));
    }
}
