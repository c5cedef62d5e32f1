//! Entry points for the fuzz targets in `tests/fuzz` (feature `fuzzing` only, never shipped):
//! each feeds arbitrary bytes to a parser that sees network, URL or app input. None may panic,
//! whatever the bytes.

use crate::config::{ClientConfig, ResponseMode};
use crate::identity::{normalize_handle, parse_did, DidDocument};
use crate::oauth::callback::{
    has_callback_params, parse_callback, strip_callback_params, validate_callback, FixedAttempt,
};
use crate::oauth::metadata::{
    process_metadata_response, validate_auth_server, validate_protected_resource,
    validate_protects, AuthServerMetadata, ProtectedResourceMetadata,
};
use crate::platform::HttpResponse;

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

fn response(status: u16, headers: Vec<(String, String)>, body: &[u8]) -> HttpResponse {
    HttpResponse {
        status,
        headers,
        body: body.to_vec(),
        redirected: false,
    }
}

fn json_response(body: &[u8]) -> HttpResponse {
    response(
        200,
        vec![("content-type".into(), "application/json".into())],
        body,
    )
}

/// Handles as a user types them.
pub fn handle(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = normalize_handle(s);
    }
}

/// DIDs from a user, a token response's `sub`, or a DID document.
pub fn did(data: &[u8]) {
    if let Some(s) = text(data) {
        let _ = parse_did(s);
    }
}

/// Any JSON text, read by the client's JSON reader (src/json.rs) and by serde_json: both accept
/// or both refuse it, and a string reads the same with both.
pub fn json(data: &[u8]) {
    let ours = crate::json::Reader::new(data).and_then(|mut r| {
        let raw = r.raw()?;
        r.finish().map(|()| raw)
    });
    match serde_json::from_slice::<serde_json::Value>(data) {
        // serde_json refuses a number beyond f64 while reading it; the client passes over
        // numbers it does not read (and reads only integers, checked on their own).
        Err(e) if e.to_string().starts_with("number out of range") => {}
        theirs => assert_eq!(ours.is_ok(), theirs.is_ok(), "{ours:?} / {theirs:?}"),
    }
    if let Ok(raw) = ours {
        // What `raw` passes through (records, to JavaScript) is the value's exact text.
        assert_eq!(
            raw,
            std::str::from_utf8(data)
                .unwrap()
                .trim_matches([' ', '\t', '\n', '\r'])
        );
        if raw.starts_with('"') {
            let mine = crate::json::Reader::new(raw.as_bytes()).and_then(|mut r| r.string());
            let theirs: String = serde_json::from_str(raw).unwrap();
            assert_eq!(mine.unwrap(), theirs);
            // Written back, it reads the same.
            let again = crate::json::Reader::new(crate::json::string(&theirs).as_bytes())
                .and_then(|mut r| r.string());
            assert_eq!(again.unwrap(), theirs);
        }
    }
}

/// A DID document as a PLC directory or a did:web host serves it.
pub fn did_document(data: &[u8]) {
    let id = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string))
        .unwrap_or_else(|| "did:plc:ewvi7nxzyoun6zhxrhs64oiz".into());
    if let Ok(doc) = DidDocument::parse(data, &id) {
        let _ = doc.pds_endpoint();
        let _ = doc.claimed_handle();
        let _ = doc.claims_handle("alice.test");
    }
}

/// Protected-resource metadata (RFC 9728) from a PDS.
pub fn protected_resource_metadata(data: &[u8]) {
    let origin = "https://pds.example";
    let resp = json_response(data);
    if let Ok(meta) = process_metadata_response::<ProtectedResourceMetadata>(
        &resp,
        origin,
        "oauth-protected-resource",
    ) {
        let _ = validate_protected_resource(&meta, origin);
    }
}

/// Authorization-server metadata (RFC 8414).
pub fn auth_server_metadata(data: &[u8]) {
    let origin = "https://as.example";
    let resp = json_response(data);
    let cfg = ClientConfig::new(
        "https://app.example/client-metadata.json",
        "https://app.example/cb",
    );
    if let Ok(meta) =
        process_metadata_response::<AuthServerMetadata>(&resp, origin, "oauth-authorization-server")
    {
        let _ = validate_auth_server(&meta, origin, &cfg);
        let _ = validate_protects(data, origin, "https://pds.example");
    }
}

/// The URL the browser comes back to.
pub fn callback_url(data: &[u8]) {
    let Some(url) = text(data) else {
        return;
    };
    for mode in [ResponseMode::Query, ResponseMode::Fragment] {
        if let Ok(params) = parse_callback(url, mode) {
            let _ = validate_callback(&params, Some(FixedAttempt), 50);
        }
        let _ = has_callback_params(url, mode);
        let _ = strip_callback_params(url, mode);
    }
}

/// URLs from anywhere: the parts read off the serialization (`crate::url`) are the `url`
/// crate's. The first line, when there are two, is a base the second is resolved against.
pub fn url(data: &[u8]) {
    let Some(text) = text(data) else {
        return;
    };
    let (base, input) = match text.split_once('\n') {
        Some((base, input)) => (Some(base), input),
        None => (None, text),
    };
    // The `url` crate trips its own debug assertions on some file URLs with Windows drive
    // letters (`file:W/E:` joined with `..`); this crate never meets a file URL.
    let file = |s: &str| {
        let squeezed: String = s
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        squeezed.to_ascii_lowercase().contains("file:")
    };
    if file(input) || base.is_some_and(file) {
        return;
    }
    let (theirs, ours) = match base {
        None => (::url::Url::parse(input).ok(), crate::url::Url::parse(input)),
        Some(base) => (
            // Against the base's serialization, as `Url::join` resolves: a serialization does
            // not always parse back to the same URL (`file://l//U:` is `file://l/U:`, which
            // parses as `file:///U:`), and that is the `url` crate's own affair.
            ::url::Url::parse(base)
                .and_then(|b| ::url::Url::parse(b.as_str()))
                .and_then(|b| b.join(input))
                .ok(),
            crate::url::Url::parse(base).and_then(|b| b.join(input)),
        ),
    };
    match (theirs, ours) {
        (Some(theirs), Some(ours)) => crate::url::assert_same_as_url_crate(&theirs, &ours),
        (None, None) => {}
        (theirs, ours) => panic!("{text:?}: url crate {theirs:?}, ours {ours:?}"),
    }
}

/// `WWW-Authenticate` from a resource server, and the error body of an authorization server.
pub fn www_authenticate(data: &[u8]) {
    let Some(value) = text(data) else {
        return;
    };
    let challenge = response(
        401,
        vec![("www-authenticate".into(), value.to_string())],
        b"",
    );
    let _ = crate::dpop::is_use_dpop_nonce(&challenge);
    let _ = crate::client::is_invalid_token(&challenge);
    let _ = crate::dpop::is_use_dpop_nonce(&response(400, Vec::new(), data));
}

/// Token and PAR responses from an authorization server, successes and errors.
pub fn token_response(data: &[u8]) {
    for status in [200, 400] {
        let resp = response(
            status,
            vec![("content-type".into(), "application/json".into())],
            data,
        );
        let _ = crate::oauth::server::process_token_response(&resp, i64::MAX - 1);
        let _ = crate::oauth::server::process_par_response(&resp);
        let _ = crate::oauth::server::process_revocation_response(&resp);
    }
}

/// What handle resolution reads: a well-known file, a DNS-over-HTTPS answer, resolveHandle.
pub fn identity_answers(data: &[u8]) {
    let resp = json_response(data);
    let _ = crate::identity::methods::process_well_known_response(&resp);
    let _ = crate::identity::methods::process_doh_response(&resp);
    let _ = crate::identity::methods::process_resolve_handle_response(&resp);
}
