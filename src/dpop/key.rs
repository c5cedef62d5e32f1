//! The DPoP key: a P-256 key generated in Wasm from browser randomness. Only its public JWK
//! ever leaves this module in clear; the private scalar is serialized solely for the encrypted
//! store.

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::json;

use crate::error::{Error, ErrorCode, Result};
use crate::secret::KeySecret;
use crate::util::{b64url, b64url_decode, random_bytes};

/// A P-256 signing key and its public JWK.
pub(crate) struct DpopKey {
    key: SigningKey,
    /// Computed once: every proof embeds it.
    jwk: serde_json::Value,
}

impl DpopKey {
    pub fn generate() -> Result<DpopKey> {
        // Rejection sampling: a random 32-byte string is a valid scalar with overwhelming
        // probability; the loop bound only guards against a broken RNG.
        for _ in 0..16 {
            let bytes = random_bytes::<32>()?;
            if let Ok(key) = SigningKey::from_slice(&bytes) {
                return Ok(DpopKey::from_signing_key(key));
            }
        }
        Err(Error::new(
            ErrorCode::CryptoError,
            "could not generate a P-256 key",
        ))
    }

    /// For the encrypted store only.
    pub fn to_secret(&self) -> KeySecret {
        KeySecret::new(b64url(&self.key.to_bytes()))
    }

    pub fn from_secret(secret: &KeySecret) -> Result<DpopKey> {
        let bytes = b64url_decode(secret.expose())
            .map_err(|_| Error::new(ErrorCode::CryptoError, "stored DPoP key is corrupt"))?;
        let key = SigningKey::from_slice(&bytes)
            .map_err(|_| Error::new(ErrorCode::CryptoError, "stored DPoP key is corrupt"))?;
        Ok(DpopKey::from_signing_key(key))
    }

    fn from_signing_key(key: SigningKey) -> DpopKey {
        let point = key.verifying_key().to_encoded_point(false);
        // An uncompressed point always has both coordinates.
        let coord = |c: Option<&p256::FieldBytes>| c.map(|b| b64url(b)).unwrap_or_default();
        let jwk =
            json!({ "kty": "EC", "crv": "P-256", "x": coord(point.x()), "y": coord(point.y()) });
        DpopKey { key, jwk }
    }

    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// A compact JWS (ES256) over the given header and claims.
    pub fn sign_jwt(&self, header: &serde_json::Value, claims: &serde_json::Value) -> String {
        let signing_input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64url(&signature.to_bytes()))
    }
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the private key, even in debug output.
        write!(f, "DpopKey({})", self.public_jwk())
    }
}
