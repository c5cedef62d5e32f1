//! Resolution over the `Http` trait: handle → DID by the configured methods in order, DID →
//! document by method, and the verified identity the login flow needs. The requests and the
//! reading of each answer are in `methods.rs`; this file sends them and caches the results.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use crate::cache::TtlCache;
use crate::config::{ClientConfig, HandleMethod};
use crate::error::{err, Error, ErrorCode, Result};
use crate::identity::methods::{
    did_document_request, did_fetch_failed, doh_request, process_did_document_response,
    process_doh_response, process_resolve_handle_response, process_well_known_response,
    resolve_handle_request, well_known_request,
};
use crate::identity::{normalize_handle, DidDocument};
use crate::json::{set, FromJson, JsonResult, Obj, Reader, ToJson};
use crate::platform::Http;
use crate::settled::Settled;

/// A verified account: the DID, its handle when the bidirectional check passed, and its PDS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub did: String,
    pub handle: Option<String>,
    pub pds: String,
}

impl FromJson for Identity {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut did, mut handle, mut pds) = (None, None, None);
        r.object(&mut |r, key| match key {
            "did" => set(&mut did, key, r.string()?),
            "handle" => set(&mut handle, key, r.opt_string()?),
            "pds" => set(&mut pds, key, r.string()?),
            _ => r.skip(),
        })?;
        let (did, pds) = crate::json::present!(did: "did", pds: "pds");
        Ok(Identity {
            did,
            handle: handle.flatten(),
            pds,
        })
    }
}

impl ToJson for Identity {
    fn write(&self, o: &mut Obj<'_>) {
        o.str("did", &self.did);
        o.opt_str("handle", self.handle.as_deref());
        o.str("pds", &self.pds);
    }
}

/// Resolves identities, remembering answers for the 10 minutes the spec allows.
#[derive(Default)]
pub(crate) struct IdentityResolver {
    handles: TtlCache<String>,
    /// Shared, not copied, between the cache and its readers (a document's clone was 0.4 KB
    /// of the .wasm).
    documents: TtlCache<Rc<DidDocument>>,
}

async fn resolve_by<H: Http>(
    http: &H,
    cfg: &ClientConfig,
    method: HandleMethod,
    handle: &str,
) -> Result<String> {
    // One request and one await for the three methods: each `send` awaited in its own arm put
    // a copy of the request's state machine in each (-212 B gzip, thirteenth session).
    let request = match method {
        HandleMethod::WellKnown => well_known_request(handle),
        HandleMethod::Dns => doh_request(cfg, handle)?,
        HandleMethod::Xrpc => resolve_handle_request(cfg, handle)?,
    };
    let resp = http.send(request).settled().await?;
    match method {
        HandleMethod::WellKnown => process_well_known_response(&resp),
        HandleMethod::Dns => process_doh_response(&resp),
        HandleMethod::Xrpc => process_resolve_handle_response(&resp),
    }
}

/// Runs `a`, and `b` if there is one, at once; their outputs, when both are done.
async fn join2<A: Future, B: Future>(a: A, b: Option<B>) -> (A::Output, Option<B::Output>) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if let (None, Some(b)) = (&rb, b.as_mut().as_pin_mut()) {
            if let Poll::Ready(v) = b.poll(cx) {
                rb = Some(v);
            }
        }
        let b_done = rb.is_some() || b.is_none();
        match ra.take() {
            Some(x) if b_done => Poll::Ready((x, rb.take())),
            x => {
                ra = x;
                Poll::Pending
            }
        }
    })
    .settled()
    .await
}

impl IdentityResolver {
    /// Handle → DID, trying each configured method in order; the first valid answer wins.
    pub async fn resolve_handle<H: Http>(
        &self,
        http: &H,
        cfg: &ClientConfig,
        handle: &str,
        now: i64,
    ) -> Result<String> {
        let handle = normalize_handle(handle)?;
        if let Some(did) = self.handles.get(&handle, now) {
            return Ok(did);
        }
        let mut failures = Vec::new();
        let mut last = None;
        let (mut all_unreachable, mut all_hung) = (true, true);
        let methods = &cfg.handle_resolution;
        // The handle spec: "When both methods return results, the DNS TXT result should be
        // preferred." With both configured, both are asked at once, where the first of them
        // stands in the order, and a DNS answer wins.
        let both =
            methods.contains(&HandleMethod::Dns) && methods.contains(&HandleMethod::WellKnown);
        let mut pair_done = false;
        for &method in methods {
            // The pair: DNS (whose answer wins) with well-known beside it. One await for a
            // pair and for a single method (each await is a copy of the awaited machine).
            let (first, second) = match method {
                HandleMethod::Dns | HandleMethod::WellKnown if both => {
                    if pair_done {
                        continue;
                    }
                    pair_done = true;
                    (HandleMethod::Dns, Some(HandleMethod::WellKnown))
                }
                m => (m, None),
            };
            let (a, b) = join2(
                resolve_by(http, cfg, first, &handle),
                second.map(|m| resolve_by(http, cfg, m, &handle)),
            )
            .settled()
            .await;
            for (method, attempt) in [(first, Some(a)), (second.unwrap_or(first), b)] {
                let Some(attempt) = attempt else { continue };
                match attempt {
                    Ok(did) => {
                        self.handles.insert(&handle, did.clone(), now);
                        return Ok(did);
                    }
                    Err(e) => {
                        failures.push(msg!(method.name(), ": ", e.message));
                        all_unreachable &=
                            matches!(e.code, ErrorCode::NetworkError | ErrorCode::Timeout);
                        all_hung &= e.code == ErrorCode::Timeout;
                        last = Some(e);
                    }
                }
            }
        }
        // When no method got an answer at all (offline), the handle may well exist: say so,
        // and say `timeout` when every server took the connection and never answered.
        let code = if all_hung && last.is_some() {
            ErrorCode::Timeout
        } else if all_unreachable {
            ErrorCode::NetworkError
        } else {
            ErrorCode::HandleResolutionFailed
        };
        let e = Error::new(
            code,
            msg!(
                "could not resolve ",
                handle,
                " (",
                crate::util::join(&failures, "; "),
                ")"
            ),
        );
        Err(match last {
            Some(cause) => e.with_cause(cause),
            None => e,
        })
    }

    /// DID → its document.
    pub async fn resolve_did<H: Http>(
        &self,
        http: &H,
        cfg: &ClientConfig,
        did: &str,
        now: i64,
    ) -> Result<Rc<DidDocument>> {
        let request = did_document_request(cfg, did)?;
        if let Some(doc) = self.documents.get(did, now) {
            return Ok(doc);
        }
        let resp = http
            .send(request)
            .settled()
            .await
            .map_err(|e| did_fetch_failed(did, e))?;
        let doc = Rc::new(process_did_document_response(&resp, did)?);
        self.documents.insert(did, doc.clone(), now);
        Ok(doc)
    }
    /// Handle → DID → document, requiring the document to claim the handle back.
    pub async fn resolve_from_handle<H: Http>(
        &self,
        http: &H,
        cfg: &ClientConfig,
        handle: &str,
        now: i64,
    ) -> Result<Identity> {
        let handle = normalize_handle(handle)?;
        let did = self
            .resolve_handle(http, cfg, &handle, now)
            .settled()
            .await?;
        let doc = self.resolve_did(http, cfg, &did, now).settled().await?;
        if !doc.claims_handle(&handle) {
            return err(
                ErrorCode::HandleMismatch,
                msg!(did, " does not claim the handle ", handle),
            );
        }
        let pds = doc.pds_endpoint()?;
        cfg.check_url(&pds)?;
        Ok(Identity {
            did,
            handle: Some(handle),
            pds,
        })
    }

    /// DID → document; the claimed handle is kept only if it resolves back to the DID.
    pub async fn resolve_from_did<H: Http>(
        &self,
        http: &H,
        cfg: &ClientConfig,
        did: &str,
        now: i64,
    ) -> Result<Identity> {
        let doc = self.resolve_did(http, cfg, did, now).settled().await?;
        let pds = doc.pds_endpoint()?;
        cfg.check_url(&pds)?;
        let handle = match doc.claimed_handle() {
            Some(h) => match self.resolve_handle(http, cfg, &h, now).settled().await {
                Ok(back) if back == did => Some(h),
                _ => None,
            },
            None => None,
        };
        Ok(Identity {
            did: did.to_string(),
            handle,
            pds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{alice_doc, json, text, MockHttp, ALICE_DID};
    use futures::executor::block_on;

    fn cfg(methods: Vec<HandleMethod>) -> ClientConfig {
        let mut c = ClientConfig::new(
            "https://app.example/client-metadata.json",
            "https://app.example/cb",
        );
        c.handle_resolution = methods;
        c
    }

    #[test]
    fn methods_run_in_order_until_one_answers() {
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://alice.example.com/.well-known/atproto-did",
            text(404, "nope"),
        );
        http.on(
            "GET",
            "https://cloudflare-dns.com/dns-query?name=_atproto.alice.example.com&type=TXT",
            json(200, &format!(r#"{{"Status":0,"Answer":[{{"name":"_atproto.alice.example.com.","type":16,"TTL":300,"data":"\"did={ALICE_DID}\""}}]}}"#)),
        );
        let r = IdentityResolver::default();
        let c = cfg(vec![
            HandleMethod::WellKnown,
            HandleMethod::Dns,
            HandleMethod::Xrpc,
        ]);
        assert_eq!(
            block_on(r.resolve_handle(&http, &c, "Alice.Example.com", 0)).unwrap(),
            ALICE_DID
        );
        assert_eq!(http.count(), 2, "xrpc is not asked once DNS answered");
        // Cached for the next 10 minutes.
        block_on(r.resolve_handle(&http, &c, "alice.example.com", 599)).unwrap();
        assert_eq!(http.count(), 2);
    }

    #[test]
    fn xrpc_method_and_failure_summary() {
        let http = MockHttp::default();
        http.on("GET", "https://public.api.bsky.app/xrpc/com.atproto.identity.resolveHandle?handle=alice.example.com", json(200, &format!(r#"{{"did":"{ALICE_DID}"}}"#)));
        let r = IdentityResolver::default();
        assert_eq!(
            block_on(r.resolve_handle(
                &http,
                &cfg(vec![HandleMethod::Xrpc]),
                "alice.example.com",
                0
            ))
            .unwrap(),
            ALICE_DID
        );

        let http = MockHttp::default();
        http.on(
            "GET",
            "https://bob.example.com/.well-known/atproto-did",
            text(200, "<html>\n<body>hi</body>\n</html>"),
        );
        let e = block_on(r.resolve_handle(
            &http,
            &cfg(vec![HandleMethod::WellKnown, HandleMethod::Xrpc]),
            "bob.example.com",
            0,
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::HandleResolutionFailed);
        assert!(
            // Each method as the config names it.
            e.message.contains("well-known: ") && e.message.contains("xrpc: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn dns_and_well_known_are_asked_together_and_dns_wins() {
        let http = MockHttp::default();
        let other = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
        http.on(
            "GET",
            "https://alice.example.com/.well-known/atproto-did",
            text(200, other),
        );
        http.on(
            "GET",
            "https://cloudflare-dns.com/dns-query?name=_atproto.alice.example.com&type=TXT",
            json(
                200,
                &format!(r#"{{"Answer":[{{"type":16,"data":"\"did={ALICE_DID}\""}}]}}"#),
            ),
        );
        let r = IdentityResolver::default();
        let c = cfg(vec![HandleMethod::WellKnown, HandleMethod::Dns]);
        assert_eq!(
            block_on(r.resolve_handle(&http, &c, "alice.example.com", 0)).unwrap(),
            ALICE_DID,
            "the DNS answer is preferred"
        );
        // Without a DNS answer the well-known one stands.
        let http2 = MockHttp::default();
        http2.on(
            "GET",
            "https://alice.example.com/.well-known/atproto-did",
            text(200, other),
        );
        let r = IdentityResolver::default();
        assert_eq!(
            block_on(r.resolve_handle(&http2, &c, "alice.example.com", 0)).unwrap(),
            other
        );
    }

    #[test]
    fn offline_is_a_network_error_not_an_unknown_handle() {
        // MockHttp answers unrouted requests as network errors: nothing reachable.
        let http = MockHttp::default();
        let r = IdentityResolver::default();
        let all = cfg(vec![
            HandleMethod::WellKnown,
            HandleMethod::Dns,
            HandleMethod::Xrpc,
        ]);
        let e = block_on(r.resolve_handle(&http, &all, "alice.example.com", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{e}");
        assert_eq!(
            e.cause.as_ref().map(|c| c.code),
            Some(ErrorCode::NetworkError)
        );
        // One method answered "no such handle": that is an answer.
        http.on(
            "GET",
            "https://alice.example.com/.well-known/atproto-did",
            text(404, ""),
        );
        let e = block_on(r.resolve_handle(&http, &all, "alice.example.com", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::HandleResolutionFailed, "{e}");
    }

    #[test]
    fn servers_that_never_answer_are_a_timeout() {
        let all = cfg(vec![
            HandleMethod::WellKnown,
            HandleMethod::Dns,
            HandleMethod::Xrpc,
        ]);
        let r = IdentityResolver::default();
        let http = MockHttp::default();
        http.hang("https://");
        let e = block_on(r.resolve_handle(&http, &all, "alice.example.com", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Timeout, "{e}");
        // Some hung, some unreachable: offline, as far as anyone can tell.
        let http = MockHttp::default();
        http.hang("https://alice.example.com/");
        let e = block_on(r.resolve_handle(&http, &all, "alice.example.com", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::NetworkError, "{e}");
    }

    #[test]
    fn malformed_handle_makes_no_request() {
        let http = MockHttp::default();
        let r = IdentityResolver::default();
        let e = block_on(r.resolve_from_handle(
            &http,
            &cfg(vec![HandleMethod::Xrpc]),
            "not a handle",
            0,
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidHandle);
        assert_eq!(http.count(), 0);
    }

    #[test]
    fn dns_method_over_http() {
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://cloudflare-dns.com/dns-query?name=_atproto.two.example.com&type=TXT",
            json(200, r#"{"Answer":[{"type":16,"data":"\"did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa\""},{"type":16,"data":"\"did=did:plc:bbbbbbbbbbbbbbbbbbbbbbbb\""}]}"#),
        );
        let r = IdentityResolver::default();
        let e =
            block_on(r.resolve_handle(&http, &cfg(vec![HandleMethod::Dns]), "two.example.com", 0))
                .unwrap_err();
        assert!(e.message.contains("different DIDs"));
        assert_eq!(
            http.requests_to(
                "https://cloudflare-dns.com/dns-query?name=_atproto.two.example.com&type=TXT"
            )[0]
            .header_value("accept"),
            Some("application/dns-json")
        );
    }

    #[test]
    fn bidirectional_check() {
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://alice.example.com/.well-known/atproto-did",
            text(200, ALICE_DID),
        );
        http.on(
            "GET",
            &format!("https://plc.directory/{ALICE_DID}"),
            json(200, &alice_doc("https://pds.example")),
        );
        let r = IdentityResolver::default();
        let c = cfg(vec![HandleMethod::WellKnown]);
        let id = block_on(r.resolve_from_handle(&http, &c, "alice.example.com", 0)).unwrap();
        assert_eq!(
            id,
            Identity {
                did: ALICE_DID.into(),
                handle: Some("alice.example.com".into()),
                pds: "https://pds.example".into()
            }
        );

        // A handle pointing at a DID whose document claims another handle is refused.
        http.on(
            "GET",
            "https://mallory.example.com/.well-known/atproto-did",
            text(200, ALICE_DID),
        );
        let e = block_on(r.resolve_from_handle(&http, &c, "mallory.example.com", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::HandleMismatch);

        // From a DID, the claimed handle is kept only when it resolves back.
        let id = block_on(r.resolve_from_did(&http, &c, ALICE_DID, 0)).unwrap();
        assert_eq!(id.handle.as_deref(), Some("alice.example.com"));
    }

    #[test]
    fn did_web_and_insecure_pds() {
        let http = MockHttp::default();
        let doc = r##"{"id":"did:web:localhost%3A2583","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"http://localhost:2583"}]}"##;
        http.on(
            "GET",
            "http://localhost:2583/.well-known/did.json",
            json(200, doc),
        );
        let r = IdentityResolver::default();
        let mut c = cfg(vec![HandleMethod::Xrpc]);
        // Without the opt-in a did:web on localhost is not resolved at all (development only).
        let e = block_on(r.resolve_from_did(&http, &c, "did:web:localhost%3A2583", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidDid);
        assert!(e.message.contains("allowHttp"), "{}", e.message);
        assert_eq!(http.count(), 0);
        c.allow_http = true;
        let r = IdentityResolver::default();
        let id = block_on(r.resolve_from_did(&http, &c, "did:web:localhost%3A2583", 0)).unwrap();
        assert_eq!(id.pds, "http://localhost:2583");
        assert_eq!(id.handle, None);
    }

    /// A DID document whose PDS endpoint has user info is refused when it is read: `fetch`
    /// cannot send to it, so the sign-in would succeed and every call fail.
    #[test]
    fn a_pds_endpoint_with_user_info_is_refused() {
        for endpoint in ["https://u:p@pds.example", "https://u@pds.example"] {
            let http = MockHttp::default();
            let doc = msg!(
                r##"{"id":"did:web:pds.example.com","service":[{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":""##,
                endpoint,
                r#""}]}"#
            );
            http.on(
                "GET",
                "https://pds.example.com/.well-known/did.json",
                json(200, &doc),
            );
            let r = IdentityResolver::default();
            let c = cfg(vec![HandleMethod::Xrpc]);
            let e =
                block_on(r.resolve_from_did(&http, &c, "did:web:pds.example.com", 0)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponse, "{endpoint}: {e}");
        }
    }

    /// The DID spec applies the handle TLD rules to did:web hosts: a DID from a hostile
    /// server must not send the browser to a private name or address.
    #[test]
    fn did_web_hosts_follow_the_handle_tld_rules() {
        let mut c = cfg(vec![HandleMethod::Xrpc]);
        for allow_http in [false, true] {
            c.allow_http = allow_http;
            for host in [
                "printer.local",
                "192.168.1.1",
                "10.0.0.1",
                "x.arpa",
                "a.internal",
            ] {
                let did = format!("did:web:{host}");
                let e = crate::identity::methods::did_document_request(&c, &did).unwrap_err();
                assert_eq!(e.code, ErrorCode::InvalidDid, "{did}");
            }
            for host in ["alice.example.com", "pds.test"] {
                let did = format!("did:web:{host}");
                let req = crate::identity::methods::did_document_request(&c, &did).unwrap();
                assert_eq!(req.url, format!("https://{host}/.well-known/did.json"));
            }
        }
    }

    #[test]
    fn did_document_errors() {
        let http = MockHttp::default();
        http.on(
            "GET",
            &format!("https://plc.directory/{ALICE_DID}"),
            text(404, "not found"),
        );
        let r = IdentityResolver::default();
        let c = cfg(vec![HandleMethod::Xrpc]);
        assert_eq!(
            block_on(r.resolve_did(&http, &c, ALICE_DID, 0))
                .unwrap_err()
                .code,
            ErrorCode::DidResolutionFailed
        );
        assert_eq!(
            block_on(r.resolve_did(&http, &c, "did:key:abc", 0))
                .unwrap_err()
                .code,
            ErrorCode::UnsupportedDidMethod
        );
        assert_eq!(http.count(), 1);
    }
}
