//! Resolution over the `Http` trait: handle → DID by the configured methods in order, DID →
//! document by method, and the verified identity the login flow needs.

use serde::Deserialize;
use serde::Serialize;

use crate::cache::TtlCache;
use crate::config::{ClientConfig, HandleMethod};
use crate::error::{err, Error, ErrorCode, Result};
use crate::identity::{normalize_handle, parse_did, DidDocument, DidMethod};
use crate::platform::{Http, HttpRequest};

/// A verified account: the DID, its handle when the bidirectional check passed, and its PDS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub did: String,
    pub handle: Option<String>,
    pub pds: String,
}

#[derive(Default)]
pub struct IdentityResolver {
    handles: TtlCache<String>,
    documents: TtlCache<DidDocument>,
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
        for method in &cfg.handle_resolution {
            let attempt = match method {
                HandleMethod::WellKnown => well_known(http, &handle).await,
                HandleMethod::Dns => dns_txt(http, cfg, &handle).await,
                HandleMethod::Xrpc => xrpc_resolve(http, cfg, &handle).await,
            };
            match attempt {
                Ok(did) => {
                    self.handles.insert(&handle, did.clone(), now);
                    return Ok(did);
                }
                Err(e) => failures.push(format!("{method:?}: {}", e.message)),
            }
        }
        err(
            ErrorCode::HandleResolutionFailed,
            format!("could not resolve {handle} ({})", failures.join("; ")),
        )
    }

    pub async fn resolve_did<H: Http>(
        &self,
        http: &H,
        cfg: &ClientConfig,
        did: &str,
        now: i64,
    ) -> Result<DidDocument> {
        let method = parse_did(did)?;
        if let Some(doc) = self.documents.get(did, now) {
            return Ok(doc);
        }
        let url = match method {
            DidMethod::Plc => format!("{}/{}", cfg.plc_directory_url.trim_end_matches('/'), did),
            DidMethod::Web { host } => {
                let https = format!("https://{host}/.well-known/did.json");
                // A did:web on a development host is only reachable over http.
                if cfg.allow_http && is_local_host(&host) {
                    format!("http://{host}/.well-known/did.json")
                } else {
                    https
                }
            }
        };
        cfg.check_url(&url)?;
        let resp = http
            .send(
                HttpRequest::get(&url)
                    .header("accept", "application/did+ld+json, application/json"),
            )
            .await
            .map_err(|e| {
                Error::new(
                    ErrorCode::DidResolutionFailed,
                    format!("fetching the DID document of {did}: {}", e.message),
                )
            })?;
        if !resp.is_success() {
            return err(
                ErrorCode::DidResolutionFailed,
                format!("{url} answered HTTP {}", resp.status),
            );
        }
        let doc = DidDocument::parse(&resp.body, did)?;
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
        let did = self.resolve_handle(http, cfg, &handle, now).await?;
        let doc = self.resolve_did(http, cfg, &did, now).await?;
        if !doc.claims_handle(&handle) {
            return err(
                ErrorCode::HandleMismatch,
                format!("{did} does not claim the handle {handle}"),
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
        let doc = self.resolve_did(http, cfg, did, now).await?;
        let pds = doc.pds_endpoint()?;
        cfg.check_url(&pds)?;
        let handle = match doc.claimed_handle() {
            Some(h) => match self.resolve_handle(http, cfg, &h, now).await {
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

fn is_local_host(host: &str) -> bool {
    let name = host.split(':').next().unwrap_or(host);
    name == "localhost" || name == "127.0.0.1" || name.ends_with(".localhost")
}

fn did_from_text(text: &str) -> Result<String> {
    let did = text.trim();
    parse_did(did)?;
    Ok(did.to_string())
}

async fn well_known<H: Http>(http: &H, handle: &str) -> Result<String> {
    let resp = http
        .send(HttpRequest::get(format!(
            "https://{handle}/.well-known/atproto-did"
        )))
        .await?;
    if !resp.is_success() {
        return err(
            ErrorCode::HandleResolutionFailed,
            format!("HTTP {}", resp.status),
        );
    }
    let text = String::from_utf8_lossy(&resp.body);
    // The spec allows only the DID; a body of HTML means a catch-all page, not an answer.
    if text.trim().lines().count() != 1 {
        return err(
            ErrorCode::HandleResolutionFailed,
            "the well-known answer is not a single DID",
        );
    }
    did_from_text(&text)
}

#[derive(Deserialize)]
struct DohAnswer {
    #[serde(rename = "Answer", default)]
    answer: Vec<DohRecord>,
}

#[derive(Deserialize)]
struct DohRecord {
    #[serde(rename = "type")]
    kind: u16,
    data: String,
}

async fn dns_txt<H: Http>(http: &H, cfg: &ClientConfig, handle: &str) -> Result<String> {
    let mut url = cfg.check_url(&cfg.doh_url)?;
    url.query_pairs_mut()
        .append_pair("name", &format!("_atproto.{handle}"))
        .append_pair("type", "TXT");
    let resp = http
        .send(HttpRequest::get(url.as_str()).header("accept", "application/dns-json"))
        .await?;
    if !resp.is_success() {
        return err(
            ErrorCode::HandleResolutionFailed,
            format!("DNS-over-HTTPS answered HTTP {}", resp.status),
        );
    }
    let answer: DohAnswer = crate::util::json_body(&resp.body, "DNS-over-HTTPS")?;
    let dids: Vec<String> = answer
        .answer
        .iter()
        .filter(|r| r.kind == 16)
        .map(|r| txt_value(&r.data))
        .filter_map(|v| v.strip_prefix("did=").map(str::to_string))
        .collect();
    // More than one did= record is ambiguous, and the spec says to treat it as a failure.
    match dids.as_slice() {
        [one] => did_from_text(one),
        [] => err(ErrorCode::HandleResolutionFailed, "no _atproto TXT record"),
        _ => err(
            ErrorCode::HandleResolutionFailed,
            "several _atproto TXT records",
        ),
    }
}

/// A TXT record's data as DoH JSON shows it: one or more quoted strings, concatenated.
fn txt_value(data: &str) -> String {
    let trimmed = data.trim();
    if !trimmed.starts_with('"') {
        return trimmed.to_string();
    }
    trimmed
        .split('"')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect()
}

#[derive(Deserialize)]
struct ResolveHandleOutput {
    did: String,
}

async fn xrpc_resolve<H: Http>(http: &H, cfg: &ClientConfig, handle: &str) -> Result<String> {
    let mut url = cfg.check_url(&cfg.handle_resolver)?;
    url.set_path("/xrpc/com.atproto.identity.resolveHandle");
    url.query_pairs_mut().append_pair("handle", handle);
    let resp = http.send(HttpRequest::get(url.as_str())).await?;
    if !resp.is_success() {
        return err(
            ErrorCode::HandleResolutionFailed,
            format!("resolveHandle answered HTTP {}", resp.status),
        );
    }
    let out: ResolveHandleOutput = crate::util::json_body(&resp.body, "resolveHandle")?;
    did_from_text(&out.did)
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
            e.message.contains("WellKnown") && e.message.contains("Xrpc"),
            "{}",
            e.message
        );
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
    fn dns_txt_parsing() {
        assert_eq!(txt_value("\"did=did:plc:abc\""), "did=did:plc:abc");
        assert_eq!(txt_value("\"did=did:plc:\" \"abc\""), "did=did:plc:abc");
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://cloudflare-dns.com/dns-query?name=_atproto.two.example&type=TXT",
            json(200, r#"{"Answer":[{"type":16,"data":"\"did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa\""},{"type":16,"data":"\"did=did:plc:bbbbbbbbbbbbbbbbbbbbbbbb\""}]}"#),
        );
        let e = block_on(dns_txt(&http, &cfg(vec![HandleMethod::Dns]), "two.example")).unwrap_err();
        assert!(e.message.contains("several"));
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
        // Without the opt-in the did:web is fetched over https only, and an http PDS is refused.
        http.on(
            "GET",
            "https://localhost:2583/.well-known/did.json",
            json(200, doc),
        );
        let e = block_on(r.resolve_from_did(&http, &c, "did:web:localhost%3A2583", 0)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InsecureUrl);
        c.allow_http = true;
        let r = IdentityResolver::default();
        let id = block_on(r.resolve_from_did(&http, &c, "did:web:localhost%3A2583", 0)).unwrap();
        assert_eq!(id.pds, "http://localhost:2583");
        assert_eq!(id.handle, None);
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
