//! DPoP (RFC 9449): the key, proofs, the per-origin nonce cache, and the one function every
//! DPoP-bound request goes through.

pub(crate) mod clock;
pub(crate) mod key;
pub(crate) mod nonce;
pub(crate) mod proof;

pub(crate) use key::{DpopKey, PublicJwk};
pub(crate) use nonce::{NonceCache, PersistedNonces};

/// Where a DPoP request goes, read once per request: the origin (whose nonce and clock offset
/// apply) and the proof's `htu`.
#[derive(Debug)]
pub(crate) struct Target {
    pub origin: String,
    pub htu: String,
}

impl Target {
    pub fn of(url: &str) -> Result<Target> {
        Ok(Target::at(&crate::url::Url::parse_given(url)?))
    }

    /// The target of a URL already parsed (in the browser a parse is a `new URL()`).
    pub fn at(url: &crate::url::Url) -> Target {
        Target {
            origin: url.origin(),
            htu: url.without_query_and_fragment().into(),
        }
    }
}

use crate::error::{err, Error, ErrorCode, Result};
use crate::platform::{Cancel, Clock, HttpRequest, HttpResponse, SendWithProof};
use crate::settled::Settled;
use crate::util;
use crate::util::AsciiSplit;

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
        400 => resp
            .error_body()
            .is_some_and(|b| b.error.as_deref() == Some("use_dpop_nonce")),
        // RFC 9449 §7.1: the DPoP challenge may stand beside a Bearer one, in either order
        // (and `Headers` joins two `WWW-Authenticate` headers with ", "): a DPoP scheme at the
        // start of any comma-separated piece.
        401 => resp.header("www-authenticate").is_some_and(|h| {
            if !util::contains(h, "use_dpop_nonce") {
                return false;
            }
            for piece in h.pieces(b',') {
                let p = piece.trim_start().as_bytes();
                if p.len() >= 4
                    && p[..4].eq_ignore_ascii_case(b"dpop")
                    && matches!(p.get(4), None | Some(b' ' | b'\t'))
                {
                    return true;
                }
            }
            false
        }),
        _ => false,
    }
}

/// What `send` learned besides the response: the origin whose state (nonce or clock offset)
/// changed, if any.
#[derive(Debug)]
pub(crate) struct DpopOutcome {
    pub response: HttpResponse,
    pub changed: Option<String>,
}

/// Sends a DPoP-bound request: a fresh proof per attempt, in the server's time, with the cached
/// nonce for the origin; the nonce and clock offset from every response remembered. It retries
/// exactly once when the server demands a nonce we did not send, and a bounded number of times
/// while the server refuses the proof's `iat` (see [`clock`]). The request is borrowed: each
/// attempt sends a copy with its own proof, and a caller that may send it again (after a
/// refresh) needs no copy of its own. It corrects the clock only while the exchange is younger
/// than `retry_secs`: each attempt has its own deadline, and a server that answered each of 22
/// attempts slowly would otherwise hold the call for all of them.
pub(crate) async fn send<P: SendWithProof + Clock>(
    platform: &P,
    key: &DpopKey<P::Key>,
    nonces: &NonceCache,
    request: &HttpRequest,
    target: &Target,
    access: Option<BoundToken<'_>>,
    retry_secs: i64,
) -> Result<DpopOutcome> {
    let origin = &target.origin;
    let mut changed = false;
    let mut nonce_retried = false;
    let mut search = clock::ClockSearch::default();
    // How long the exchange has taken, on the monotonic clock: the device's clock set back
    // while it runs would otherwise keep it young through every step of the search.
    let started = platform.monotonic();
    for _ in 0..clock::MAX_STEPS + 2 {
        // Before every attempt, the first included: a call waits for its session's lock and
        // refresh first, and a retry sends the request again.
        if request.cancel.as_ref().is_some_and(Cancel::fired) {
            return err(
                ErrorCode::NetworkError,
                "the request was cancelled (its signal fired) before it was sent",
            );
        }
        // Read for each attempt: after a slow answer, an earlier time would make the proof
        // older and the `Date` offset wrong.
        let now = platform.now();
        let nonce = nonces.get(origin, &key.jkt);
        let offset = nonces.offset(origin);
        let input = proof::signing_input(
            key,
            &request.method,
            &target.htu,
            now.saturating_add(offset),
            nonce.as_deref(),
            access.map(|a| a.ath),
        )?;
        let mut req = request.clone();
        if let Some(access) = access {
            req = req.header("Authorization", msg!("DPoP ", access.token));
        }
        let response = platform
            .send_with_proof(req, &key.handle, input)
            .settled()
            .await?;
        // AT Protocol OAuth: "Clients must reject responses missing a DPoP-Nonce header (case
        // insensitive), if the request included DPoP." The official server sends one on every
        // authorization-server response, and from the PDS wherever it checks the proof; XRPC
        // endpoints that need no auth never look at it and answer without (see the e2e test
        // "DPoP-Nonce: …" in tests/e2e/pds-pages.test.mjs). So: required from the
        // authorization server (requests without an access token) and on a resource server's
        // 401; elsewhere a missing header keeps the nonce we have.
        // RFC 9449 §8.1: `nonce = 1*NQCHAR`; anything else (an empty value) is no nonce.
        let fresh = response
            .header("dpop-nonce")
            .filter(|n| {
                !n.is_empty()
                    && n.bytes()
                        .all(|b| b == b'!' || b > b'"' && b < b'\x7f' && b != b'\\')
            })
            .map(str::to_string);
        let required = access.is_none() || response.status == 401;
        if fresh.is_none() && required {
            return Err(Error::new(
                ErrorCode::InvalidResponse,
                msg!(
                    origin,
                    " answered HTTP ",
                    util::int(response.status.into()),
                    " without a valid DPoP-Nonce header"
                ),
            )
            .with_server_error(None, Some(response.status)));
        }
        if let Some(fresh) = &fresh {
            changed |= nonces.set(origin, &key.jkt, fresh);
        }
        // A readable `Date` is believed only when it is clearly off from what we use: its
        // one-second resolution and the round trip would otherwise move the offset every time.
        if let Some(learned) = clock::date_offset(&response, now) {
            if learned.abs_diff(offset) > 30 {
                changed |= nonces.set_offset(origin, learned);
            }
        }
        // The one retry with a fresh nonce always happens (a first request to a server needs
        // it); the clock search only while the exchange is young.
        if !nonce_retried && is_use_dpop_nonce(&response) && fresh.is_some() && fresh != nonce {
            nonce_retried = true;
            continue;
        }
        // Asked only after a refusal: not one more crossing into JS on every request.
        let young = || platform.monotonic().saturating_sub(started) < retry_secs;
        if let Some(skew) = clock::iat_refused(&response).filter(|_| young()) {
            let now_used = nonces.offset(origin);
            // A `Date` in this very response already corrected the offset: just try again.
            let next = if now_used != offset {
                Some(now_used)
            } else {
                search.next(offset, skew)
            };
            if let Some(next) = next {
                changed |= nonces.set_offset(origin, next);
                continue;
            }
        }
        return Ok(DpopOutcome {
            response,
            changed: changed.then(|| origin.clone()),
        });
    }
    // Every pass either continues a bounded search or returns; the loop's bound is above both.
    Err(Error::new(
        ErrorCode::Internal,
        "DPoP retries did not finish",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json, text, with_header, FakeKey, FakePlatform};
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

    /// `send` to the request's own URL at the time `now` (the fake clock set to it), correcting
    /// the clock for up to 30 s.
    async fn send_to(
        platform: &FakePlatform,
        key: &DpopKey<FakeKey>,
        nonces: &NonceCache,
        request: &HttpRequest,
        access: Option<BoundToken<'_>>,
        now: i64,
    ) -> Result<DpopOutcome> {
        let target = Target::of(&request.url)?;
        platform.now.set(now);
        send(platform, key, nonces, request, &target, access, 30)
            .settled()
            .await
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
        let out = block_on(send_to(&p, &key, &nonces, &req, None, 10)).unwrap();
        assert_eq!(out.response.status, 201);
        assert_eq!(out.changed.as_deref(), Some("https://as.example"));
        assert_eq!(
            nonces.get("https://as.example", &key.jkt).as_deref(),
            Some("n1")
        );
        assert_eq!(http.count(), 2);
        // Steady state: the cached nonce is sent first time, one request per call.
        let out = block_on(send_to(&p, &key, &nonces, &req, None, 11)).unwrap();
        assert_eq!(out.response.status, 201);
        assert_eq!(out.changed, None);
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
        let out = block_on(send_to(
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

    /// RFC 9449 §7.1: a resource server may offer a Bearer challenge beside the DPoP one, in
    /// either order, and `Headers` joins two `WWW-Authenticate` headers with ", ". The nonce
    /// challenge counts wherever the DPoP one stands; an `error` that only mentions the
    /// code, or a challenge of another scheme, does not.
    #[test]
    fn a_nonce_challenge_counts_wherever_the_dpop_challenge_stands() {
        let challenge =
            |value: &str| is_use_dpop_nonce(&with_header(text(401, ""), "WWW-Authenticate", value));
        for yes in [
            r#"DPoP error="use_dpop_nonce""#,
            r#"  dpop error="use_dpop_nonce", algs="ES256""#,
            r#"Bearer realm="pds", DPoP error="use_dpop_nonce""#,
            r#"Bearer realm="pds",DPoP algs="ES256", error="use_dpop_nonce""#,
            r#"Bearer, DPoP error="use_dpop_nonce""#,
            r#"DPoP	error="use_dpop_nonce""#,
        ] {
            assert!(challenge(yes), "{yes}");
        }
        for no in [
            r#"Bearer error="use_dpop_nonce""#,
            r#"DPoPx error="use_dpop_nonce""#,
            r#"Basic realm="dpop", Bearer error="use_dpop_nonce""#,
            r#"DPoP error="invalid_token""#,
            r#"Bearer realm="pds", DPoP error="invalid_token""#,
        ] {
            assert!(!challenge(no), "{no}");
        }
        // And `send` retries with the nonce such a server gave.
        let (p, key) = setup();
        let url = "https://pds.example/xrpc/a.b.c";
        p.http.on_fn("GET", url, |req| {
            if claims(req)["nonce"] == "n1" {
                with_header(text(200, "{}"), "DPoP-Nonce", "n1")
            } else {
                let challenge = r#"Bearer realm="pds", DPoP error="use_dpop_nonce""#;
                let refused = with_header(text(401, ""), "WWW-Authenticate", challenge);
                with_header(refused, "DPoP-Nonce", "n1")
            }
        });
        let nonces = NonceCache::default();
        let out = block_on(send_to(
            &p,
            &key,
            &nonces,
            &HttpRequest::get(url),
            token("t"),
            10,
        ))
        .unwrap();
        assert_eq!(out.response.status, 200, "retried with the nonce");
    }

    #[test]
    fn a_response_without_a_dpop_nonce_is_refused() {
        let (p, key) = setup();
        let send_to = |url: &str, access: Option<BoundToken<'_>>, nonces: &NonceCache| {
            block_on(send_to(&p, &key, nonces, &HttpRequest::get(url), access, 1))
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
        assert_eq!(nonces.get("https://pds.example", &key.jkt), None);
        nonces.set("https://pds.example", &key.jkt, "kept");
        for status in [200, 400, 500] {
            p.http.on("GET", url, json(status, "{}"));
            assert_eq!(
                send_to(url, token("t"), &nonces).unwrap().response.status,
                status
            );
            assert_eq!(
                nonces.get("https://pds.example", &key.jkt).as_deref(),
                Some("kept")
            );
        }
        // The header's name is case-insensitive.
        p.http.on(
            "GET",
            as_url,
            with_header(json(200, "{}"), "DpOp-NoNcE", "n"),
        );
        send_to(as_url, None, &NonceCache::default()).unwrap();
        // RFC 9449 §8.1: `nonce = 1*NQCHAR`. What is not one (empty, a space, a quote, a
        // backslash, a control character) is no nonce: refused where one is required, never
        // kept, never sent back.
        for bad in ["", "a b", "a\"b", "a\\b", "a\u{7f}"] {
            p.http.on(
                "GET",
                as_url,
                with_header(json(200, "{}"), "DPoP-Nonce", bad),
            );
            let nonces = NonceCache::default();
            let e = send_to(as_url, None, &nonces).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponse, "{bad:?}");
            assert_eq!(nonces.get("https://as.example", &key.jkt), None, "{bad:?}");
            p.http
                .on("GET", url, with_header(json(200, "{}"), "DPoP-Nonce", bad));
            let nonces = NonceCache::default();
            nonces.set("https://pds.example", &key.jkt, "kept");
            send_to(url, token("t"), &nonces).unwrap();
            let kept = nonces.get("https://pds.example", &key.jkt);
            assert_eq!(kept.as_deref(), Some("kept"), "{bad:?}");
        }
        p.http.on(
            "GET",
            as_url,
            with_header(json(200, "{}"), "DPoP-Nonce", "!#[]~"),
        );
        send_to(as_url, None, &NonceCache::default()).unwrap();
    }

    /// A server whose clock is `offset` seconds ahead of the device's `NOW`, checking `iat`
    /// the way the official one does; at `url`, as an authorization server (400 JSON) or a
    /// resource server (401 XRPC error). It counts the proofs it refused.
    const NOW: i64 = 1_700_000_000;
    fn skewed_server(p: &FakePlatform, url: &str, offset: i64, resource: bool) {
        p.http
            .on_fn(if resource { "GET" } else { "POST" }, url, move |req| {
                let age = NOW + offset - claims(req)["iat"].as_i64().unwrap();
                let why = if age - 180 > 10 {
                    "too far in the past"
                } else if age < -180 {
                    "it should be in the past"
                } else {
                    return with_header(json(200, "{}"), "DPoP-Nonce", "n");
                };
                let said = format!(
                    "Failed to verify DPoP proof: \"iat\" claim timestamp check failed ({why})"
                );
                let resp = if resource {
                    json(
                        401,
                        &format!(r#"{{"error":"invalid_dpop_proof","message":{said:?}}}"#),
                    )
                } else {
                    json(
                        400,
                        &format!(
                            r#"{{"error":"invalid_dpop_proof","error_description":{said:?}}}"#
                        ),
                    )
                };
                with_header(resp, "DPoP-Nonce", "n")
            });
    }

    /// A POST to `url`, whose server takes `secs` on the fake clock to send `answer`'s response
    /// with the nonce `n`.
    fn slow_post(
        p: &FakePlatform,
        url: &str,
        secs: i64,
        answer: impl Fn(&HttpRequest) -> HttpResponse + 'static,
    ) -> HttpRequest {
        let clock = p.now.clone();
        p.http.on_fn("POST", url, move |req| {
            clock.set(clock.get() + secs);
            with_header(answer(req), "DPoP-Nonce", "n")
        });
        let mut req = HttpRequest::get(url);
        req.method = "POST".into();
        req
    }

    /// The official server's refusal of a proof whose `iat` is too far in the past.
    fn iat_too_old() -> HttpResponse {
        let said = "\"iat\" claim timestamp check failed (too far in the past)";
        json(
            400,
            &format!(r#"{{"error":"invalid_dpop_proof","error_description":{said:?}}}"#),
        )
    }

    /// Each attempt has its own deadline; the clock search goes on only while the exchange is
    /// younger than the retry window, so a server that answers every attempt slowly and
    /// refuses every proof cannot hold one call for all 22 attempts.
    #[test]
    fn retries_stop_once_the_exchange_is_older_than_its_window() {
        let (p, key) = setup();
        let req = slow_post(&p, "https://slow.example/oauth/par", 10, |_| iat_too_old());
        let before = p.http.count();
        let out = block_on(send_to(&p, &key, &NonceCache::default(), &req, None, NOW)).unwrap();
        assert_eq!(out.response.status, 400);
        assert_eq!(p.http.count() - before, 3, "answers at 10, 20 and 30 s");
        assert_eq!(p.now.get() - NOW, 30);
    }

    /// The window is measured on the monotonic clock: with the device's clock set back an hour
    /// during the exchange, the search went on through all 21 attempts (609 s with answers of
    /// 29 s) instead of stopping at the window.
    #[test]
    fn the_retry_window_holds_when_the_clock_is_set_back() {
        let (p, key) = setup();
        let set_back = std::rc::Rc::new(std::cell::Cell::new(false));
        let device = p.clone();
        let req = slow_post(&p, "https://set-back.example/oauth/par", 29, move |_| {
            if !set_back.replace(true) {
                device.set_clock(-3600);
            }
            iat_too_old()
        });
        let before = p.http.count();
        let out = block_on(send_to(&p, &key, &NonceCache::default(), &req, None, NOW)).unwrap();
        assert_eq!(out.response.status, 400);
        assert_eq!(p.http.count() - before, 2, "answers at 29 and 58 s");
    }

    /// The one retry with the server's fresh nonce happens however long the first answer took:
    /// the window bounds the clock search only (with a short `requestTimeoutMs`, a first
    /// request to a server would otherwise fail whenever its answer crossed a second).
    #[test]
    fn the_nonce_retry_happens_after_a_slow_first_answer() {
        let (p, key) = setup();
        let req = slow_post(&p, "https://slow-nonce.example/oauth/par", 2, |req| {
            if claims(req)["nonce"] == "n" {
                json(201, "{}")
            } else {
                json(400, r#"{"error":"use_dpop_nonce"}"#)
            }
        });
        let target = Target::of(&req.url).unwrap();
        let nonces = NonceCache::default();
        let out = block_on(send(&p, &key, &nonces, &req, &target, None, 1)).unwrap();
        assert_eq!(out.response.status, 201);
    }

    #[test]
    fn a_device_clock_off_is_corrected_from_the_servers_refusals() {
        let (p, key) = setup();
        for (offset, resource, tries) in [
            (600, false, 4),
            (-600, true, 4),
            (-300, false, 2),
            (9 * 3600, true, 14),
            (-26 * 3600, false, 18),
        ] {
            let url = if resource {
                "https://pds.example/xrpc/a.b.c"
            } else {
                "https://as.example/oauth/par"
            };
            skewed_server(&p, url, offset, resource);
            let mut req = HttpRequest::get(url);
            if !resource {
                req.method = "POST".into();
            }
            let nonces = NonceCache::default();
            let access = resource.then(|| token("t")).flatten();
            let before = p.http.count();
            let out = block_on(send_to(&p, &key, &nonces, &req, access, NOW)).unwrap();
            assert_eq!(out.response.status, 200, "{offset}");
            assert_eq!(p.http.count() - before, tries, "{offset}: requests");
            assert!(out.changed.is_some());
            // Learned: the next request is accepted the first time, even seconds later.
            let out = block_on(send_to(&p, &key, &nonces, &req, access, NOW + 5)).unwrap();
            assert_eq!(out.response.status, 200);
            assert_eq!(p.http.count() - before, tries + 1, "{offset}: learned");
            assert_eq!(out.changed, None);
        }
        // A clock further off than the search covers: the server's refusal, after a bounded
        // number of requests.
        let url = "https://far.example/oauth/par";
        skewed_server(&p, url, 40 * 24 * 3600, false);
        let mut req = HttpRequest::get(url);
        req.method = "POST".into();
        let before = p.http.count();
        let out = block_on(send_to(&p, &key, &NonceCache::default(), &req, None, NOW)).unwrap();
        assert_eq!(out.response.status, 400);
        assert_eq!(p.http.count() - before, 1 + clock::MAX_STEPS as usize);
    }

    #[test]
    fn a_readable_date_header_sets_the_offset_at_once() {
        let (p, key) = setup();
        let url = "https://as.example/oauth/par";
        let date = |at: i64| {
            httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(at as u64),
            )
        };
        // The server is an hour ahead; its refusal carries its Date, so one retry does.
        p.http.on_fn("POST", url, move |req| {
            let iat = claims(req)["iat"].as_i64().unwrap();
            let resp = if (NOW + 3600 - iat).abs() < 60 {
                json(200, "{}")
            } else {
                json(400, r#"{"error":"invalid_dpop_proof","error_description":"\"iat\" claim timestamp check failed (too far in the past)"}"#)
            };
            with_header(with_header(resp, "DPoP-Nonce", "n"), "Date", &date(NOW + 3600))
        });
        let mut req = HttpRequest::get(url);
        req.method = "POST".into();
        let nonces = NonceCache::default();
        let out = block_on(send_to(&p, &key, &nonces, &req, None, NOW)).unwrap();
        assert_eq!(out.response.status, 200);
        assert_eq!(p.http.count(), 2);
        assert_eq!(nonces.offset("https://as.example"), 3600);
        // Jitter of a few seconds leaves the offset alone.
        p.http.on(
            "POST",
            url,
            with_header(
                with_header(json(200, "{}"), "DPoP-Nonce", "n"),
                "Date",
                &date(NOW + 3605),
            ),
        );
        let out = block_on(send_to(&p, &key, &nonces, &req, None, NOW)).unwrap();
        assert_eq!(out.changed, None);
        assert_eq!(nonces.offset("https://as.example"), 3600);
        // What one server taught is the first guess for another.
        assert_eq!(nonces.offset("https://other.example"), 3600);
    }

    #[test]
    fn nonces_are_tracked_per_session_and_server() {
        // A server that scopes its nonces to each key (its right: a nonce is opaque): with one
        // nonce per origin, two accounts would take turns being refused.
        let p = FakePlatform::default();
        let a = block_on(key::create(&p)).unwrap();
        let b = block_on(key::create(&p)).unwrap();
        let url = "https://pds.example/xrpc/a.b.c";
        p.http.on_fn("GET", url, |req| {
            let jwt = req.header_value("DPoP").unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&b64url_decode(jwt.split('.').next().unwrap()).unwrap())
                    .unwrap();
            let own = format!("n-{}", header["jwk"]["x"].as_str().unwrap());
            let resp = if claims(req)["nonce"] == own.as_str() {
                json(200, "{}")
            } else {
                with_header(
                    text(401, ""),
                    "WWW-Authenticate",
                    r#"DPoP error="use_dpop_nonce""#,
                )
            };
            with_header(resp, "DPoP-Nonce", &own)
        });
        let nonces = NonceCache::default();
        let call = |key: &DpopKey<_>| {
            let out = block_on(send_to(
                &p,
                key,
                &nonces,
                &HttpRequest::get(url),
                token("t"),
                1,
            ));
            assert_eq!(out.unwrap().response.status, 200);
        };
        call(&a);
        call(&b);
        let before = p.http.count();
        for _ in 0..3 {
            call(&a);
            call(&b);
        }
        assert_eq!(p.http.count() - before, 6, "one request per call");
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
        block_on(send_to(
            &p,
            &key,
            &nonces,
            &HttpRequest::get(url),
            token("t"),
            1,
        ))
        .unwrap();
        assert_eq!(
            nonces.get("https://pds.example", &key.jkt).as_deref(),
            Some("fresh")
        );
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
