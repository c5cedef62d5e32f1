//! Each way of resolving an identity as a pair: a function that builds the request and a pure
//! `process_*` function that reads the answer. `resolver.rs` sends them and caches the results.

use crate::config::ClientConfig;
use crate::error::{err, Error, ErrorCode, Result};
use crate::identity::{normalize_handle, parse_did, DidDocument, DidMethod};
use crate::json::{required, set, FromJson, JsonResult, Reader};
use crate::platform::{HttpRequest, HttpResponse};
use crate::util::AsciiSplit;
use crate::util::{self, json_body};

fn did_from_text(text: &str) -> Result<String> {
    let did = text.trim();
    parse_did(did)?;
    Ok(did.to_string())
}

fn resolution_failed(what: &str, resp: &HttpResponse) -> Result<String> {
    err(
        ErrorCode::HandleResolutionFailed,
        msg!(what, " answered HTTP ", util::int(resp.status.into())),
    )
}

// ---- handle → DID: HTTPS well-known -----------------------------------------------------------

pub(crate) fn well_known_request(handle: &str) -> HttpRequest {
    HttpRequest::get(msg!("https://", handle, "/.well-known/atproto-did"))
}

pub(crate) fn process_well_known_response(resp: &HttpResponse) -> Result<String> {
    if !resp.is_success() {
        return resolution_failed("the well-known endpoint", resp);
    }
    let text = util::utf8_lossy(&resp.body);
    // The spec allows only the DID; a body of HTML means a catch-all page, not an answer.
    // One line: not empty, no line break inside (as `lines().count() == 1` after the trim).
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.has(b'\n') {
        return err(
            ErrorCode::HandleResolutionFailed,
            "the well-known answer is not a single DID",
        );
    }
    did_from_text(&text)
}

// ---- handle → DID: DNS TXT over DNS-over-HTTPS (JSON API) -------------------------------------

pub(crate) fn doh_request(cfg: &ClientConfig, handle: &str) -> Result<HttpRequest> {
    let mut url = cfg.check_url(&cfg.doh_url)?;
    url.append_query_pairs(&[("name", &msg!("_atproto.", handle)), ("type", "TXT")]);
    Ok(HttpRequest::get(url.as_str()).header("accept", "application/dns-json"))
}

struct DohAnswer {
    answer: Vec<DohRecord>,
}

struct DohRecord {
    kind: i64,
    data: String,
}

impl FromJson for DohAnswer {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let mut answer = None;
        r.object(&mut |r, key| match key {
            "Answer" => set(&mut answer, key, r.list(DohRecord::read)?),
            _ => r.skip(),
        })?;
        Ok(DohAnswer {
            answer: answer.unwrap_or_default(),
        })
    }
}

impl FromJson for DohRecord {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut kind, mut data) = (None, None);
        r.object(&mut |r, key| match key {
            "type" => set(&mut kind, key, r.integer()?),
            "data" => set(&mut data, key, r.string()?),
            _ => r.skip(),
        })?;
        let (kind, data) = crate::json::present!(kind: "type", data: "data");
        Ok(DohRecord { kind, data })
    }
}

pub(crate) fn process_doh_response(resp: &HttpResponse) -> Result<String> {
    if !resp.is_success() {
        return resolution_failed("DNS-over-HTTPS", resp);
    }
    let answer: DohAnswer = json_body(&resp.body, "DNS-over-HTTPS")?;
    // did= records naming different DIDs are ambiguous, and the spec says to treat that as a
    // failure (the same record twice is not).
    let mut found: Option<String> = None;
    for record in &answer.answer {
        if record.kind != 16 {
            continue;
        }
        let value = txt_value(&record.data);
        if !value.starts_with("did=") {
            continue;
        }
        if found.as_ref().is_some_and(|f| *f != value) {
            return err(
                ErrorCode::HandleResolutionFailed,
                "_atproto TXT records naming different DIDs",
            );
        }
        found = Some(value);
    }
    match found {
        Some(value) => did_from_text(&value[4..]),
        None => err(ErrorCode::HandleResolutionFailed, "no _atproto TXT record"),
    }
}

/// A TXT record's data as DoH JSON shows it: one or more quoted strings, concatenated.
fn txt_value(data: &str) -> String {
    let trimmed = data.trim();
    if !trimmed.starts_with('"') {
        return trimmed.to_string();
    }
    // The text between each pair of quotes.
    let mut out = String::new();
    for (i, part) in trimmed.pieces(b'"').enumerate() {
        if i % 2 == 1 {
            out.push_str(part);
        }
    }
    out
}

// ---- handle → DID: com.atproto.identity.resolveHandle -----------------------------------------

pub(crate) fn resolve_handle_request(cfg: &ClientConfig, handle: &str) -> Result<HttpRequest> {
    let mut url = cfg.check_url(&cfg.handle_resolver)?;
    url.set_path("/xrpc/com.atproto.identity.resolveHandle");
    url.append_query_pairs(&[("handle", handle)]);
    Ok(HttpRequest::get(url.as_str()))
}

struct ResolveHandleOutput {
    did: String,
}

impl FromJson for ResolveHandleOutput {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let mut did = None;
        r.object(&mut |r, key| match key {
            "did" => set(&mut did, key, r.string()?),
            _ => r.skip(),
        })?;
        Ok(ResolveHandleOutput {
            did: required(did, "did")?,
        })
    }
}

pub(crate) fn process_resolve_handle_response(resp: &HttpResponse) -> Result<String> {
    if !resp.is_success() {
        return resolution_failed("resolveHandle", resp);
    }
    let out: ResolveHandleOutput = json_body(&resp.body, "resolveHandle")?;
    did_from_text(&out.did)
}

// ---- DID → DID document -----------------------------------------------------------------------

fn is_local_host(host: &str) -> bool {
    let name = host.pieces(b':').next().unwrap_or(host);
    name == "localhost" || name == "127.0.0.1" || name.ends_with(".localhost")
}

/// The request for a DID's document: the PLC directory, or the did:web host's well-known file.
pub(crate) fn did_document_request(cfg: &ClientConfig, did: &str) -> Result<HttpRequest> {
    let url = match parse_did(did)? {
        DidMethod::Plc => msg!(cfg.plc_directory_url.trim_end_byte(b'/'), "/", did),
        DidMethod::Web { host } => {
            // The DID spec: the TLD rules of handles apply to did:web hosts (no `.local`, no
            // `.arpa`, no IP address), and localhost is for development only (`allowHttp`).
            // Otherwise a DID from a hostile server would send the browser to a private address.
            let local = is_local_host(&host);
            if (local && !cfg.allow_http) || (!local && normalize_handle(&host).is_err()) {
                return err(
                    ErrorCode::InvalidDid,
                    msg!(
                        util::quoted(did),
                        ": a did:web host must be a domain name with a public TLD (localhost \
                         only with allowHttp)"
                    ),
                );
            }
            // A did:web on a development host is only reachable over http.
            let scheme = if local { "http" } else { "https" };
            msg!(scheme, "://", host, "/.well-known/did.json")
        }
    };
    cfg.check_url(&url)?;
    Ok(HttpRequest::get(url).header("accept", "application/did+ld+json, application/json"))
}

pub(crate) fn process_did_document_response(resp: &HttpResponse, did: &str) -> Result<DidDocument> {
    if !resp.is_success() {
        return err(
            ErrorCode::DidResolutionFailed,
            msg!(
                "the DID document of ",
                did,
                ": HTTP ",
                util::int(resp.status.into())
            ),
        );
    }
    DidDocument::parse(&resp.body, did)
}

/// A network failure while fetching a DID document, as a resolution failure that keeps its cause.
pub(crate) fn did_fetch_failed(did: &str, e: Error) -> Error {
    e.wrap(
        ErrorCode::DidResolutionFailed,
        &msg!("fetching the DID document of ", did),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json, text, ALICE_DID};

    #[test]
    fn well_known_answers() {
        assert_eq!(
            process_well_known_response(&text(200, &format!("{ALICE_DID}\n"))).unwrap(),
            ALICE_DID
        );
        let html = text(200, "<html>\n<body>hi</body>\n</html>");
        assert_eq!(
            process_well_known_response(&html).unwrap_err().code,
            ErrorCode::HandleResolutionFailed
        );
        // One line, surrounded by any white space; nothing, or a second line, is refused.
        let padded = format!(" \r\n{ALICE_DID}\r\n\n");
        assert_eq!(
            process_well_known_response(&text(200, &padded)).unwrap(),
            ALICE_DID
        );
        for body in [String::new(), " \n ".into(), format!("{ALICE_DID}\r\nx")] {
            assert_eq!(
                process_well_known_response(&text(200, &body))
                    .unwrap_err()
                    .code,
                ErrorCode::HandleResolutionFailed,
                "{body:?}"
            );
        }
        assert_eq!(
            process_well_known_response(&text(404, ""))
                .unwrap_err()
                .code,
            ErrorCode::HandleResolutionFailed
        );
        assert_eq!(
            process_well_known_response(&text(200, "did:plc:short"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidDid
        );
    }

    #[test]
    fn dns_txt_parsing() {
        assert_eq!(txt_value("\"did=did:plc:abc\""), "did=did:plc:abc");
        assert_eq!(txt_value("\"did=did:plc:\" \"abc\""), "did=did:plc:abc");
        let two = json(
            200,
            r#"{"Answer":[{"type":16,"data":"\"did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa\""},{"type":16,"data":"\"did=did:plc:bbbbbbbbbbbbbbbbbbbbbbbb\""}]}"#,
        );
        let e = process_doh_response(&two).unwrap_err();
        assert!(e.message.contains("different DIDs"), "{}", e.message);
        // The same record twice names one DID: not ambiguous (the spec fails only on
        // different DIDs).
        let twice = json(
            200,
            r#"{"Answer":[{"type":16,"data":"\"did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa\""},{"type":16,"data":"\"did=did:plc:aaaaaaaaaaaaaaaaaaaaaaaa\""}]}"#,
        );
        assert_eq!(
            process_doh_response(&twice).unwrap(),
            "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
        );
        let none = json(200, r#"{"Status":3}"#);
        assert!(process_doh_response(&none)
            .unwrap_err()
            .message
            .contains("no _atproto"));
        let one = json(
            200,
            &format!(
                r#"{{"Answer":[{{"type":5,"data":"x"}},{{"type":16,"data":"\"did={ALICE_DID}\""}}]}}"#
            ),
        );
        assert_eq!(process_doh_response(&one).unwrap(), ALICE_DID);
    }

    #[test]
    fn resolve_handle_answers() {
        let ok = json(200, &format!(r#"{{"did":"{ALICE_DID}"}}"#));
        assert_eq!(process_resolve_handle_response(&ok).unwrap(), ALICE_DID);
        let e = process_resolve_handle_response(&json(400, r#"{"error":"InvalidRequest"}"#))
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::HandleResolutionFailed);
        assert_eq!(
            process_resolve_handle_response(&json(200, "{}"))
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
    }
}
