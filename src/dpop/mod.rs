//! DPoP (RFC 9449): the key, proofs, the per-origin nonce cache, and the one function every
//! DPoP-bound request goes through.

pub(crate) mod key;
pub(crate) mod nonce;
pub(crate) mod proof;

pub(crate) use key::{DpopKey, PublicJwk};
pub(crate) use nonce::{NonceCache, PersistedNonces};
pub(crate) use proof::create_proof;

use crate::config::origin_of;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{Http, HttpRequest, HttpResponse, Keys};

/// An access token with its precomputed `ath`, for a request to a resource server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BoundToken<'a> {
    pub token: &'a str,
    pub ath: &'a str,
}

/// Whether the server asked for (another) nonce: a 400 `use_dpop_nonce` JSON error from an
/// authorization server, or a 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` from a
/// resource server.
pub(crate) fn is_use_dpop_nonce(resp: &HttpResponse) -> bool {
    match resp.status {
        400 => {
            /// Only the field looked at: a `serde_json::Value` would link its parser and map.
            #[derive(serde::Deserialize)]
            struct Body {
                error: String,
            }
            serde_json::from_slice::<Body>(&resp.body).is_ok_and(|b| b.error == "use_dpop_nonce")
        }
        401 => resp.header("www-authenticate").is_some_and(|h| {
            h.trim_start().to_ascii_lowercase().starts_with("dpop") && h.contains("use_dpop_nonce")
        }),
        _ => false,
    }
}

/// What `send` learned besides the response: the origin's new nonce, if it changed.
#[derive(Debug)]
pub(crate) struct DpopOutcome {
    pub response: HttpResponse,
    pub new_nonce: Option<(String, String)>,
}

/// Sends a DPoP-bound request: a fresh proof per attempt, the cached nonce for the origin,
/// the nonce from every response remembered, and exactly one retry when the server demands a
/// nonce we did not send. The request is borrowed: each attempt sends a copy with its own proof,
/// and a caller that may send it again (after a refresh) needs no copy of its own.
pub(crate) async fn send<P: Http + Keys>(
    platform: &P,
    key: &DpopKey<P::Key>,
    nonces: &NonceCache,
    request: &HttpRequest,
    access: Option<BoundToken<'_>>,
    now: i64,
) -> Result<DpopOutcome> {
    let origin = crate::url::Url::parse(&request.url)
        .map(|u| origin_of(&u))
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidResponse,
                format!("{:?} is not a URL", request.url),
            )
        })?;
    let mut new_nonce = None;
    for attempt in 0..2 {
        let nonce = nonces.get(&origin);
        let proof = create_proof(
            platform,
            key,
            &request.method,
            &request.url,
            now,
            nonce.as_deref(),
            access.map(|a| a.ath),
        )
        .await?;
        let mut req = request.clone().header("DPoP", proof);
        if let Some(access) = access {
            req = req.header("Authorization", format!("DPoP {}", access.token));
        }
        let response = platform.send(req).await?;
        // AT Protocol OAuth: "Clients must reject responses missing a DPoP-Nonce header (case
        // insensitive), if the request included DPoP." The official server sends one on every
        // authorization-server response, and from the PDS wherever it checks the proof; XRPC
        // endpoints that need no auth never look at it and answer without (see the e2e test
        // "DPoP-Nonce: …" in tests/e2e/pds-pages.test.mjs). So: required from the
        // authorization server (requests without an access token) and on a resource server's
        // 401; elsewhere a missing header keeps the nonce we have.
        let fresh = response.header("dpop-nonce").map(str::to_string);
        let required = access.is_none() || response.status == 401;
        if fresh.is_none() && required {
            return Err(Error::new(
                ErrorCode::InvalidResponse,
                format!(
                    "{} answered HTTP {} without a DPoP-Nonce header",
                    origin, response.status
                ),
            )
            .with_server_error(None, Some(response.status)));
        }
        if let Some(fresh) = &fresh {
            if nonces.set(&origin, fresh) {
                new_nonce = Some((origin.clone(), fresh.clone()));
            }
        }
        let retry =
            attempt == 0 && is_use_dpop_nonce(&response) && fresh.is_some() && fresh != nonce;
        if !retry {
            return Ok(DpopOutcome {
                response,
                new_nonce,
            });
        }
    }
    // The loop returns on its second pass; this is unreachable but keeps the compiler happy
    // without a panic path.
    Err(Error::new(
        ErrorCode::Internal,
        "DPoP nonce retry did not finish",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json, text, with_header, FakePlatform};
    use crate::util::b64url_decode;
    use futures::executor::block_on;

    fn setup() -> (
        FakePlatform,
        DpopKey<<FakePlatform as crate::platform::KeyType>::Key>,
    ) {
        let p = FakePlatform::default();
        let key = block_on(key::create(&p)).unwrap();
        (p, key)
    }

    fn token(t: &str) -> Option<BoundToken<'_>> {
        Some(BoundToken {
            token: t,
            ath: "ath",
        })
    }

    fn claims(req: &HttpRequest) -> serde_json::Value {
        let jwt = req.header_value("DPoP").unwrap();
        serde_json::from_slice(&b64url_decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn retries_once_on_authorization_server_nonce_error() {
        let (p, key) = setup();
        let http = &p.http;
        let url = "https://as.example/oauth/par";
        http.on_fn("POST", url, |req| {
            let c = claims(req);
            if c.get("nonce").and_then(|n| n.as_str()) == Some("n1") {
                with_header(
                    json(201, r#"{"request_uri":"urn:x","expires_in":60}"#),
                    "DPoP-Nonce",
                    "n1",
                )
            } else {
                with_header(
                    json(400, r#"{"error":"use_dpop_nonce"}"#),
                    "DPoP-Nonce",
                    "n1",
                )
            }
        });
        let nonces = NonceCache::default();
        let mut req = HttpRequest::get(url);
        req.method = "POST".into();
        let out = block_on(send(&p, &key, &nonces, &req, None, 10)).unwrap();
        assert_eq!(out.response.status, 201);
        assert_eq!(
            out.new_nonce,
            Some(("https://as.example".into(), "n1".into()))
        );
        assert_eq!(http.count(), 2);
        // Steady state: the cached nonce is sent first time, one request per call.
        let out = block_on(send(&p, &key, &nonces, &req, None, 11)).unwrap();
        assert_eq!(out.response.status, 201);
        assert_eq!(out.new_nonce, None);
        assert_eq!(http.count(), 3);
    }

    #[test]
    fn retries_once_on_resource_server_nonce_error_and_no_more() {
        let (p, key) = setup();
        let http = &p.http;
        let url = "https://pds.example/xrpc/com.atproto.repo.listRecords?repo=x";
        // A broken server that always wants a new nonce must not cause a loop.
        let counter = std::cell::Cell::new(0);
        http.on_fn("GET", url, move |_| {
            counter.set(counter.get() + 1);
            with_header(
                with_header(text(401, ""), "WWW-Authenticate", r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#),
                "DPoP-Nonce",
                &format!("n{}", counter.get()),
            )
        });
        let nonces = NonceCache::default();
        let out = block_on(send(
            &p,
            &key,
            &nonces,
            &HttpRequest::get(url),
            token("tok"),
            10,
        ))
        .unwrap();
        assert_eq!(out.response.status, 401);
        assert_eq!(http.count(), 2);
        let sent = http.log.borrow();
        assert_eq!(sent[0].header_value("Authorization"), Some("DPoP tok"));
        assert_eq!(claims(&sent[1])["nonce"], "n1");
        assert_eq!(
            claims(&sent[1])["htu"],
            "https://pds.example/xrpc/com.atproto.repo.listRecords"
        );
        assert!(claims(&sent[1])["ath"].is_string());
        assert_ne!(claims(&sent[0])["jti"], claims(&sent[1])["jti"]);
    }

    #[test]
    fn a_response_without_a_dpop_nonce_is_refused() {
        let (p, key) = setup();
        let send_to = |url: &str, access: Option<BoundToken<'_>>, nonces: &NonceCache| {
            block_on(send(&p, &key, nonces, &HttpRequest::get(url), access, 1))
        };
        // An authorization server must always send one.
        let as_url = "https://as.example/oauth/token";
        for status in [200, 201, 400, 401, 500] {
            p.http.on("GET", as_url, json(status, "{}"));
            let e = send_to(as_url, None, &NonceCache::default()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponse, "{status}");
            assert_eq!(e.status, Some(status));
        }
        // A resource server must on its 401 challenges; its no-auth endpoints need not.
        let url = "https://pds.example/xrpc/a.b.c";
        p.http.on("GET", url, json(401, "{}"));
        let e = send_to(url, token("t"), &NonceCache::default()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidResponse);
        let nonces = NonceCache::default();
        p.http.on("GET", url, json(200, "{}"));
        send_to(url, token("t"), &nonces).unwrap();
        assert_eq!(nonces.get("https://pds.example"), None);
        nonces.set("https://pds.example", "kept");
        for status in [200, 400, 500] {
            p.http.on("GET", url, json(status, "{}"));
            assert_eq!(
                send_to(url, token("t"), &nonces).unwrap().response.status,
                status
            );
            assert_eq!(nonces.get("https://pds.example").as_deref(), Some("kept"));
        }
        // The header's name is case-insensitive.
        p.http.on(
            "GET",
            as_url,
            with_header(json(200, "{}"), "DpOp-NoNcE", "n"),
        );
        send_to(as_url, None, &NonceCache::default()).unwrap();
    }

    #[test]
    fn nonce_learned_from_successful_responses() {
        let (p, key) = setup();
        let http = &p.http;
        let url = "https://pds.example/xrpc/a.b.c";
        http.on(
            "GET",
            url,
            with_header(json(200, "{}"), "DPoP-Nonce", "fresh"),
        );
        let nonces = NonceCache::default();
        block_on(send(
            &p,
            &key,
            &nonces,
            &HttpRequest::get(url),
            token("t"),
            1,
        ))
        .unwrap();
        assert_eq!(nonces.get("https://pds.example").as_deref(), Some("fresh"));
        assert!(!is_use_dpop_nonce(&json(
            400,
            r#"{"error":"invalid_request"}"#
        )));
        assert!(!is_use_dpop_nonce(&with_header(
            text(401, ""),
            "WWW-Authenticate",
            r#"DPoP error="invalid_token""#
        )));
    }
}
