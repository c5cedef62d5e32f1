//! DPoP proofs (RFC 9449 §4). The header is computed once per key (`DpopKey::header`) and `ath`
//! once per access token, so a proof costs the claims, one random `jti` and one platform
//! signature.

use crate::dpop::DpopKey;
use crate::error::{Error, ErrorCode, Result};
use crate::util::{self, b64url, random_token, sha256};

/// `ath`: base64url SHA-256 of the access token, binding the proof to it.
pub(crate) fn ath(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes()))
}

/// The base64url claims of a proof.
fn claims(
    method: &str,
    htu: &str,
    now: i64,
    nonce: Option<&str>,
    ath: Option<&str>,
) -> Result<String> {
    let mut claims = msg!(
        r#"{"jti":""#,
        random_token::<16>()?,
        r#"","htm":"#,
        crate::json::string(method),
        r#","htu":"#,
        crate::json::string(htu),
        r#","iat":"#,
        util::int(now)
    );
    if let Some(nonce) = nonce {
        claims.push_str(&msg!(r#","nonce":"#, crate::json::string(nonce)));
    }
    if let Some(ath) = ath {
        claims.push_str(&msg!(r#","ath":""#, ath, r#"""#));
    }
    claims.push('}');
    Ok(b64url(claims.as_bytes()))
}

/// The signing input of a proof for one request to `htu`, the target URI without query and
/// fragment (RFC 9449 §4.2; see `Target`): the header and claims, base64url, joined by a dot.
/// `ath` is the precomputed hash of the access token the request carries, if any. The platform
/// signs it and [`finish`]es the proof (`SendWithProof`).
pub(crate) fn signing_input<K>(
    key: &DpopKey<K>,
    method: &str,
    htu: &str,
    now: i64,
    nonce: Option<&str>,
    ath: Option<&str>,
) -> Result<String> {
    Ok(msg!(key.header, ".", claims(method, htu, now, nonce, ath)?))
}

/// The proof: the signing input and its ES256 signature, which must be the raw 64-byte
/// `r || s`.
pub(crate) fn finish(mut input: String, signature: &[u8]) -> Result<String> {
    if signature.len() != 64 {
        return Err(Error::new(
            ErrorCode::CryptoError,
            msg!(
                "ES256 signature of ",
                util::int(signature.len() as i64),
                " bytes"
            ),
        ));
    }
    input.push('.');
    input.push_str(&b64url(signature));
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop::key;
    use crate::platform::Keys;
    use crate::testing::FakePlatform;
    use crate::util::b64url_decode;
    use futures::executor::block_on;
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

    fn proof(
        method: &str,
        url: &str,
        now: i64,
        nonce: Option<&str>,
        token: Option<&str>,
    ) -> String {
        let p = FakePlatform::default();
        let key = block_on(key::create(&p)).unwrap();
        let ath = token.map(ath);
        let input = signing_input(
            &key,
            method,
            &crate::dpop::Target::of(url).unwrap().htu,
            now,
            nonce,
            ath.as_deref(),
        )
        .unwrap();
        let signature = block_on(p.sign(&key.handle, input.as_bytes())).unwrap();
        finish(input, &signature).unwrap()
    }

    #[test]
    fn proof_has_required_header_and_claims() {
        let jwt = proof(
            "POST",
            "https://pds.example/xrpc/x.y.z?limit=5#frag",
            1_700_000_123,
            Some("n0\"nce"),
            Some("tok"),
        );
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
        assert_eq!(claims["nonce"], "n0\"nce");
        // ath = base64url(sha256("tok"))
        assert_eq!(claims["ath"], "GnZ0607njffhrEOak8P6jjyUV4TU3sn9jjARc4svHWI");
        assert!(claims["jti"].as_str().unwrap().len() >= 22);
    }

    #[test]
    fn a_signature_that_is_not_64_bytes_is_refused() {
        for len in [0, 63, 65, 72] {
            let e = finish("h.c".into(), &vec![1; len]).unwrap_err();
            assert_eq!(e.code, ErrorCode::CryptoError, "{len}");
        }
        assert_eq!(
            finish("h.c".into(), &[0; 64]).unwrap(),
            format!("h.c.{}", "A".repeat(86))
        );
    }

    #[test]
    fn optional_claims_absent_and_jti_unique() {
        let a = verify(&proof("GET", "https://as.example/oauth/par", 1, None, None)).1;
        let b = verify(&proof("GET", "https://as.example/oauth/par", 1, None, None)).1;
        assert!(a.get("nonce").is_none());
        assert!(a.get("ath").is_none());
        assert_ne!(a["jti"], b["jti"]);
    }
}
