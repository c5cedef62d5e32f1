//! DPoP proofs (RFC 9449 §4).

use serde_json::json;
use url::Url;

use crate::dpop::DpopKey;
use crate::error::{Error, ErrorCode, Result};
use crate::util::{b64url, random_token, sha256};

/// `htu`: the target URI without query and fragment (RFC 9449 §4.2).
pub(crate) fn htu(url: &str) -> Result<String> {
    let mut parsed = Url::parse(url)
        .map_err(|_| Error::new(ErrorCode::InvalidResponse, format!("{url:?} is not a URL")))?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.to_string())
}

/// `ath`: base64url SHA-256 of the access token, binding the proof to it.
pub(crate) fn ath(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes()))
}

pub(crate) fn create_proof(
    key: &DpopKey,
    method: &str,
    url: &str,
    now: i64,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<String> {
    let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": key.public_jwk().clone() });
    let mut claims = json!({
        "jti": random_token::<16>()?,
        "htm": method,
        "htu": htu(url)?,
        "iat": now,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(token) = access_token {
        claims["ath"] = json!(ath(token));
    }
    Ok(key.sign_jwt(&header, &claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::KeySecret;
    use crate::util::b64url_decode;
    use p256::ecdsa::signature::Verifier;
    use p256::ecdsa::{Signature, VerifyingKey};
    use serde_json::Value;

    fn decode(part: &str) -> Value {
        serde_json::from_slice(&b64url_decode(part).unwrap()).unwrap()
    }

    /// Verifies the proof with nothing but its own embedded JWK, as a server does.
    fn verify(jwt: &str) -> (Value, Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = decode(parts[0]);
        let claims = decode(parts[1]);
        let jwk = &header["jwk"];
        let mut sec1 = vec![4u8];
        sec1.extend(b64url_decode(jwk["x"].as_str().unwrap()).unwrap());
        sec1.extend(b64url_decode(jwk["y"].as_str().unwrap()).unwrap());
        let vk = VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = Signature::from_slice(&b64url_decode(parts[2]).unwrap()).unwrap();
        vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        (header, claims)
    }

    #[test]
    fn proof_has_required_header_and_claims() {
        let key = DpopKey::generate().unwrap();
        let jwt = create_proof(
            &key,
            "POST",
            "https://pds.example/xrpc/x.y.z?limit=5#frag",
            1_700_000_123,
            Some("n0nce"),
            Some("tok"),
        )
        .unwrap();
        let (header, claims) = verify(&jwt);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"]["kty"], "EC");
        assert_eq!(header["jwk"]["crv"], "P-256");
        assert!(
            header["jwk"].get("d").is_none(),
            "private key must not be in the header"
        );
        assert_eq!(claims["htm"], "POST");
        assert_eq!(claims["htu"], "https://pds.example/xrpc/x.y.z");
        assert_eq!(claims["iat"], 1_700_000_123);
        assert_eq!(claims["nonce"], "n0nce");
        // ath = base64url(sha256("tok"))
        assert_eq!(claims["ath"], "GnZ0607njffhrEOak8P6jjyUV4TU3sn9jjARc4svHWI");
        assert!(claims["jti"].as_str().unwrap().len() >= 22);
    }

    #[test]
    fn optional_claims_absent_and_jti_unique() {
        let key = DpopKey::generate().unwrap();
        let a = verify(
            &create_proof(&key, "GET", "https://as.example/oauth/par", 1, None, None).unwrap(),
        )
        .1;
        let b = verify(
            &create_proof(&key, "GET", "https://as.example/oauth/par", 1, None, None).unwrap(),
        )
        .1;
        assert!(a.get("nonce").is_none());
        assert!(a.get("ath").is_none());
        assert_ne!(a["jti"], b["jti"]);
    }

    #[test]
    fn key_round_trips_through_secret_string() {
        let key = DpopKey::generate().unwrap();
        let again = DpopKey::from_secret(&key.to_secret()).unwrap();
        assert_eq!(key.public_jwk(), again.public_jwk());
        assert!(!format!("{key:?}").contains(key.to_secret().expose()));
        assert_eq!(
            DpopKey::from_secret(&KeySecret::new("garbage!"))
                .unwrap_err()
                .code,
            ErrorCode::CryptoError
        );
        assert_eq!(
            DpopKey::from_secret(&KeySecret::new(b64url(&[0u8; 32])))
                .unwrap_err()
                .code,
            ErrorCode::CryptoError
        );
    }
}
