//! OAuth discovery: protected-resource metadata (RFC 9728) on the PDS, then authorization-server
//! metadata (RFC 8414), each validated against the AT Protocol profile before use.

use crate::config::ClientConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::json::{self, required, set, FromJson, JsonResult, Obj, Reader, ToJson};
use crate::platform::{Http, HttpRequest, HttpResponse};
use crate::settled::Settled;
use crate::url::Url;
use crate::util;
use crate::util::AsciiSplit;

#[derive(Clone, Debug)]
pub(crate) struct ProtectedResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
}

impl FromJson for ProtectedResourceMetadata {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut resource, mut servers) = (None, None);
        r.object(&mut |r, key| match key {
            "resource" => set(&mut resource, key, r.string()?),
            "authorization_servers" => set(&mut servers, key, r.strings()?),
            _ => r.skip(),
        })?;
        Ok(ProtectedResourceMetadata {
            resource: required(resource, "resource")?,
            authorization_servers: servers.unwrap_or_default(),
        })
    }
}

/// The fields of the authorization server's metadata the client uses. Stored with the pending
/// login and the session so that the callback and refreshes need no rediscovery.
/// Only the endpoints and the issuer are stored (`ToJson`); the rest is checked at discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct AuthServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub pushed_authorization_request_endpoint: String,
    pub revocation_endpoint: Option<String>,
    /// Which of `SUPPORT` the metadata says, a bit each (bit i for `SUPPORT[i]`). Read off the
    /// lists and flags when the document is read, rather than keeping seven lists of strings
    /// in every copy of a session (-927 B gzip, thirteenth session); a stored server has none
    /// (it was checked at discovery).
    pub supports: u16,
}

/// The metadata's lists and flags the client checks: the field, and the value it must list
/// (`""`: a boolean field that must be `true`), each with what the error calls it.
const SUPPORT: [(&str, &str, &str); 15] = [
    ("code_challenge_methods_supported", "S256", "PKCE S256"),
    ("dpop_signing_alg_values_supported", "ES256", "DPoP ES256"),
    ("scopes_supported", "atproto", "the atproto scope"),
    ("response_types_supported", "code", "response type code"),
    (
        "grant_types_supported",
        "authorization_code",
        "the authorization_code grant",
    ),
    (
        "grant_types_supported",
        "refresh_token",
        "the refresh_token grant",
    ),
    (
        "token_endpoint_auth_methods_supported",
        "none",
        "public clients (auth method none)",
    ),
    (
        "token_endpoint_auth_methods_supported",
        "private_key_jwt",
        "confidential clients (auth method private_key_jwt)",
    ),
    (
        "token_endpoint_auth_signing_alg_values_supported",
        "ES256",
        "client authentication signed with ES256",
    ),
    (
        "authorization_response_iss_parameter_supported",
        "",
        "the iss response parameter",
    ),
    (
        "client_id_metadata_document_supported",
        "",
        "client metadata documents",
    ),
    // Checked apart, with their own messages.
    ("require_pushed_authorization_requests", "", ""),
    ("prompt_values_supported", "create", ""),
    // Listed where the profile says it must not be.
    (
        "token_endpoint_auth_signing_alg_values_supported",
        "none",
        "",
    ),
    // `true`; `URI_REGISTRATION_GIVEN` tells a `false` from a field left out.
    ("require_request_uri_registration", "", ""),
];
/// `supports` bits the discovery requires, each named in `SUPPORT`.
const REQUIRED_SUPPORT: usize = 11;
const REQUIRES_PAR: u16 = 1 << 11;
/// OpenID Connect Prompt Create: a server that supports sign-up lists `create`.
pub(crate) const PROMPT_CREATE: u16 = 1 << 12;
/// Client authentication signed with `none`, which the profile forbids.
const NONE_ALG: u16 = 1 << 13;
/// `require_request_uri_registration` is `true`, and whether it was given at all: the profile
/// says it "must not be `false`", and leaving it out means `true`.
const URI_REGISTRATION: u16 = 1 << 14;
const URI_REGISTRATION_GIVEN: u16 = 1 << 15;
// A bit of `supports` each, and the last bit for `URI_REGISTRATION_GIVEN`: one more entry needs
// a wider field.
const _: () = assert!(SUPPORT.len() == 15);

impl FromJson for AuthServerMetadata {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut issuer, mut authorization, mut token, mut par) = (None, None, None, None);
        let mut revocation = None;
        let (mut supports, mut seen) = (0u16, 0u16);
        r.object(&mut |r, key| match key {
            "issuer" => set(&mut issuer, key, r.string()?),
            "authorization_endpoint" => set(&mut authorization, key, r.string()?),
            "token_endpoint" => set(&mut token, key, r.string()?),
            "pushed_authorization_request_endpoint" => set(&mut par, key, r.string()?),
            "revocation_endpoint" => set(&mut revocation, key, r.opt_string()?),
            _ => {
                let Some(first) = SUPPORT.iter().position(|s| s.0 == key) else {
                    return r.skip();
                };
                if seen & 1 << first != 0 {
                    return Err(crate::json::duplicate(key));
                }
                seen |= 1 << first;
                if key == "require_request_uri_registration" {
                    supports |= URI_REGISTRATION_GIVEN;
                }
                // A boolean field counts as listing "" when it is true.
                let listed = if SUPPORT[first].1.is_empty() {
                    match r.boolean()? {
                        true => vec![String::new()],
                        false => Vec::new(),
                    }
                } else {
                    r.strings()?
                };
                for (i, (field, value, _)) in SUPPORT.iter().enumerate() {
                    if *field == key && listed.iter().any(|v| v == value) {
                        supports |= 1 << i;
                    }
                }
                Ok(())
            }
        })?;
        let (issuer, authorization, token, par) = crate::json::present!(
            issuer: "issuer",
            authorization: "authorization_endpoint",
            token: "token_endpoint",
            par: "pushed_authorization_request_endpoint",
        );
        Ok(AuthServerMetadata {
            issuer,
            authorization_endpoint: authorization,
            token_endpoint: token,
            pushed_authorization_request_endpoint: par,
            revocation_endpoint: revocation.flatten(),
            supports,
        })
    }
}

impl ToJson for AuthServerMetadata {
    fn write(&self, o: &mut Obj<'_>) {
        o.str("issuer", &self.issuer);
        o.str("authorization_endpoint", &self.authorization_endpoint);
        o.str("token_endpoint", &self.token_endpoint);
        o.str(
            "pushed_authorization_request_endpoint",
            &self.pushed_authorization_request_endpoint,
        );
        o.opt_str("revocation_endpoint", self.revocation_endpoint.as_deref());
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidMetadata, message)
}

/// GETs `<origin>/.well-known/<name>` and parses it; returns the origin with the document.
/// The origin asked and its answer. Not generic over the document: one future for both kinds,
/// each of which is read by its caller.
async fn fetch_well_known(
    http: &impl Http,
    cfg: &ClientConfig,
    server: &str,
    name: &str,
) -> Result<(String, HttpResponse)> {
    let origin = cfg.check_url(server)?.origin();
    let resp = http
        .send(
            HttpRequest::get(msg!(origin, "/.well-known/", name))
                .header("accept", "application/json"),
        )
        .settled()
        .await?;
    Ok((origin, resp))
}

/// A metadata document from its response; its content is checked by the `validate_*` functions.
pub(crate) fn process_metadata_response<T: FromJson>(
    resp: &HttpResponse,
    origin: &str,
    name: &str,
) -> Result<T> {
    // The checks in a function of their own: one copy, not one per document type.
    check_metadata_response(resp, origin, name)?;
    json::from_slice(&resp.body).map_err(|e| malformed_metadata(name, origin, e))
}

fn check_metadata_response(resp: &HttpResponse, origin: &str, name: &str) -> Result<()> {
    // RFC 8414 §3.2 / RFC 9728 §3.2: a 200 answer with a JSON document, from the URL asked.
    if resp.status != 200 {
        return Err(invalid(msg!(
            origin,
            " has no ",
            name,
            " metadata (HTTP ",
            util::int(resp.status.into()),
            ")"
        )));
    }
    if resp.redirected {
        return Err(invalid(msg!(
            name,
            " metadata of ",
            origin,
            " was reached through a redirect"
        )));
    }
    let json = resp
        .header("content-type")
        .and_then(|ct| ct.pieces(b';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(invalid(msg!(
            name,
            " metadata of ",
            origin,
            " is not served as application/json"
        )));
    }
    Ok(())
}

fn malformed_metadata(name: &str, origin: &str, e: json::JsonError) -> Error {
    invalid(msg!(name, " metadata of ", origin, " is malformed: ", e))
}

/// `<pds>/.well-known/oauth-protected-resource` → the PDS's origin and the one authorization
/// server's issuer.
pub(crate) async fn fetch_protected_resource(
    http: &impl Http,
    cfg: &ClientConfig,
    pds: &str,
) -> Result<(String, String)> {
    const NAME: &str = "oauth-protected-resource";
    let (origin, resp) = fetch_well_known(http, cfg, pds, NAME).settled().await?;
    let meta: ProtectedResourceMetadata = process_metadata_response(&resp, &origin, NAME)?;
    validate_protected_resource(&meta, &origin)?;
    let issuer = meta.authorization_servers[0]
        .trim_end_byte(b'/')
        .to_string();
    cfg.check_url(&issuer)?;
    Ok((origin, issuer))
}

pub(crate) fn validate_protected_resource(
    meta: &ProtectedResourceMetadata,
    origin: &str,
) -> Result<()> {
    if meta.resource.trim_end_byte(b'/') != origin {
        return Err(invalid(msg!(
            "protected-resource metadata names resource ",
            util::quoted(&meta.resource),
            ", fetched from ",
            origin
        )));
    }
    if meta.authorization_servers.len() != 1 {
        return Err(invalid(msg!(
            "a PDS must name exactly one authorization server, ",
            origin,
            " names ",
            util::int(meta.authorization_servers.len() as i64)
        )));
    }
    let issuer = &meta.authorization_servers[0];
    // An issuer is a bare origin: scheme and host (and port), nothing else.
    let bare = Url::parse(issuer).is_some_and(|u| {
        matches!(u.scheme(), "https" | "http")
            && !u.has_user_info()
            && u.query().is_none()
            && u.fragment().is_none()
            && u.path() == "/"
            && issuer.trim_end_byte(b'/') == u.origin()
    });
    if !bare {
        return Err(invalid(msg!(
            origin,
            " names ",
            util::quoted(issuer),
            " as its authorization server, which is not a bare origin"
        )));
    }
    Ok(())
}

/// `<issuer>/.well-known/oauth-authorization-server`, validated (`resource`: as for
/// `validate_auth_server`).
pub(crate) async fn fetch_auth_server(
    http: &impl Http,
    cfg: &ClientConfig,
    issuer: &str,
    resource: Option<&str>,
) -> Result<AuthServerMetadata> {
    const NAME: &str = "oauth-authorization-server";
    let (origin, resp) = fetch_well_known(http, cfg, issuer, NAME).settled().await?;
    let meta: AuthServerMetadata = process_metadata_response(&resp, &origin, NAME)?;
    validate_auth_server(&meta, &origin, cfg)?;
    if let Some(pds) = resource {
        validate_protects(&resp.body, &origin, pds)?;
    }
    Ok(meta)
}

/// RFC 9728 §4: an authorization server that lists the resources it protects (its metadata's
/// `protected_resources`) must list `pds`, the PDS whose metadata named it. Read off the
/// document apart from `AuthServerMetadata`, which sessions carry: a list in it would be
/// copied and dropped with every session, for a check made once (+493 B gzip measured).
pub(crate) fn validate_protects(document: &[u8], origin: &str, pds: &str) -> Result<()> {
    let mut listed: Option<Vec<String>> = None;
    let read = json::Reader::new(document).and_then(|mut r| {
        r.object(&mut |r, key| match key {
            "protected_resources" => set(&mut listed, key, r.strings()?),
            _ => r.skip(),
        })
    });
    read.map_err(|e| malformed_metadata("oauth-authorization-server", origin, e))?;
    match listed {
        Some(listed) if !listed.iter().any(|r| r.trim_end_byte(b'/') == pds) => {
            Err(invalid(msg!(origin, " does not protect ", pds)))
        }
        _ => Ok(()),
    }
}

pub(crate) fn validate_auth_server(
    meta: &AuthServerMetadata,
    origin: &str,
    cfg: &ClientConfig,
) -> Result<()> {
    if meta.issuer != origin {
        return Err(invalid(msg!(
            "issuer ",
            util::quoted(&meta.issuer),
            " is not the origin the metadata came from (",
            origin,
            ")"
        )));
    }
    let missing = (0..REQUIRED_SUPPORT).find(|i| meta.supports & 1 << i == 0);
    if let Some(i) = missing {
        return Err(invalid(msg!(origin, " does not support ", SUPPORT[i].2)));
    }
    if meta.supports & REQUIRES_PAR == 0 {
        return Err(invalid(msg!(
            origin,
            " does not require pushed authorization requests, as AT Protocol servers must"
        )));
    }
    if meta.supports & NONE_ALG != 0
        || meta.supports & (URI_REGISTRATION | URI_REGISTRATION_GIVEN) == URI_REGISTRATION_GIVEN
    {
        let what = match meta.supports & NONE_ALG {
            0 => "request URIs without registration",
            _ => "client authentication signed with none",
        };
        return Err(invalid(msg!(
            origin,
            " allows ",
            what,
            ", which AT Protocol servers must not"
        )));
    }

    let mut endpoints = vec![
        &meta.authorization_endpoint,
        &meta.token_endpoint,
        &meta.pushed_authorization_request_endpoint,
    ];
    endpoints.extend(meta.revocation_endpoint.as_ref());
    for endpoint in endpoints {
        let url = cfg.check_url(endpoint)?;
        // Endpoints on another origin would let a compromised metadata document redirect
        // tokens; AT Protocol servers host them on the issuer.
        // RFC 6749 §3.1, §3.2: an endpoint "MUST NOT include a fragment component".
        if url.origin() != origin || url.fragment().is_some() {
            return Err(invalid(msg!(
                "endpoint ",
                endpoint,
                " is not a URL without a fragment on the issuer's origin ",
                origin
            )));
        }
    }
    Ok(())
}

/// The authorization server of a PDS: resource metadata → issuer → its metadata. With
/// `entryway`, `url` is a server the user gave: an entryway (like bsky.social) may be an
/// authorization server itself rather than a resource, so without usable resource metadata its
/// own authorization-server metadata is tried.
pub(crate) async fn discover(
    http: &impl Http,
    cfg: &ClientConfig,
    service: &str,
    entryway: bool,
) -> Result<AuthServerMetadata> {
    // Without usable resource metadata the service may be the authorization server itself; if
    // it is not either, the metadata's error is the one reported. (One await of
    // `fetch_auth_server` for both: each await is a copy of its state machine's handling.)
    let (issuer, pds, fallback) = match fetch_protected_resource(http, cfg, service).settled().await
    {
        Ok((pds, issuer)) => (issuer, Some(pds), None),
        Err(e) if entryway && e.code == ErrorCode::InvalidMetadata => {
            (cfg.check_url(service)?.origin(), None, Some(e))
        }
        Err(e) => return Err(e),
    };
    let meta = fetch_auth_server(http, cfg, &issuer, pds.as_deref())
        .settled()
        .await;
    match fallback {
        Some(e) => meta.map_err(|_| e),
        None => meta,
    }
}

/// Whether a URL (input from the user) names a server rather than an account.
pub(crate) fn parse_service_url(input: &str) -> Option<Url> {
    let url = Url::parse(input.trim())?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::{json, text, MockHttp};
    use futures::executor::block_on;

    pub fn as_metadata(origin: &str) -> String {
        msg!(
            r#"{"issuer":""#,
            origin,
            r#"","authorization_endpoint":""#,
            origin,
            r#"/oauth/authorize","token_endpoint":""#,
            origin,
            r#"/oauth/token",
            "pushed_authorization_request_endpoint":""#,
            origin,
            r#"/oauth/par","revocation_endpoint":""#,
            origin,
            r#"/oauth/revoke",
            "require_pushed_authorization_requests":true,"code_challenge_methods_supported":["S256"],
            "dpop_signing_alg_values_supported":["RS256","ES256"],"scopes_supported":["atproto","transition:generic"],
            "response_types_supported":["code"],"grant_types_supported":["authorization_code","refresh_token"],
            "token_endpoint_auth_methods_supported":["none","private_key_jwt"],"authorization_response_iss_parameter_supported":true,
            "token_endpoint_auth_signing_alg_values_supported":["ES256","ES384"],"require_request_uri_registration":true,
            "client_id_metadata_document_supported":true,"response_modes_supported":["query","fragment","form_post"]}"#
        )
    }

    pub fn cfg() -> ClientConfig {
        ClientConfig::new(
            "https://app.example/client-metadata.json",
            "https://app.example/cb",
        )
    }

    pub fn serve(http: &MockHttp, pds: &str, issuer: &str) {
        http.on(
            "GET",
            &msg!(pds, "/.well-known/oauth-protected-resource"),
            json(
                200,
                &msg!(
                    r#"{"resource":""#,
                    pds,
                    r#"","authorization_servers":[""#,
                    issuer,
                    r#""]}"#
                ),
            ),
        );
        http.on(
            "GET",
            &msg!(issuer, "/.well-known/oauth-authorization-server"),
            json(200, &as_metadata(issuer)),
        );
    }

    #[test]
    fn discovers_issuer_through_the_pds() {
        let http = MockHttp::default();
        serve(&http, "https://pds.example", "https://auth.example");
        let meta = block_on(discover(&http, &cfg(), "https://pds.example/", true)).unwrap();
        assert_eq!(meta.issuer, "https://auth.example");
        assert_eq!(meta.token_endpoint, "https://auth.example/oauth/token");
        assert_eq!(http.count(), 2);
    }

    #[test]
    fn entryway_url_is_its_own_authorization_server() {
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://entry.example/.well-known/oauth-protected-resource",
            text(404, ""),
        );
        http.on(
            "GET",
            "https://entry.example/.well-known/oauth-authorization-server",
            json(200, &as_metadata("https://entry.example")),
        );
        let meta = block_on(discover(&http, &cfg(), "https://entry.example", true)).unwrap();
        assert_eq!(meta.issuer, "https://entry.example");
    }

    #[test]
    fn refuses_metadata_that_breaks_the_profile() {
        let origin = "https://auth.example";
        let base: serde_json::Value = serde_json::from_str(&as_metadata(origin)).unwrap();
        let cases: Vec<(&str, serde_json::Value)> = vec![
            ("issuer", "https://evil.example".into()),
            ("issuer", "https://auth.example/".into()),
            (
                "code_challenge_methods_supported",
                serde_json::json!(["plain"]),
            ),
            (
                "dpop_signing_alg_values_supported",
                serde_json::json!(["RS256"]),
            ),
            ("require_pushed_authorization_requests", false.into()),
            (
                "authorization_response_iss_parameter_supported",
                false.into(),
            ),
            ("scopes_supported", serde_json::json!(["openid"])),
            // The profile: "must not include `none`", and "must not be `false`".
            (
                "token_endpoint_auth_signing_alg_values_supported",
                serde_json::json!(["ES256", "none"]),
            ),
            ("require_request_uri_registration", false.into()),
            // RFC 6749 §3.1, §3.2: an endpoint "MUST NOT include a fragment component".
            (
                "token_endpoint",
                "https://auth.example/oauth/token#x".into(),
            ),
            (
                "pushed_authorization_request_endpoint",
                "https://auth.example/oauth/par#".into(),
            ),
            ("token_endpoint", "https://elsewhere.example/token".into()),
            (
                "pushed_authorization_request_endpoint",
                "http://auth.example/oauth/par".into(),
            ),
        ];
        for (field, value) in cases {
            let mut m = base.clone();
            m[field] = value;
            let meta: AuthServerMetadata = json::from_slice(m.to_string().as_bytes()).unwrap();
            let e = validate_auth_server(&meta, origin, &cfg()).unwrap_err();
            assert!(
                matches!(e.code, ErrorCode::InvalidMetadata | ErrorCode::InsecureUrl),
                "{field}: {e}"
            );
        }
        let meta: AuthServerMetadata = json::from_slice(base.to_string().as_bytes()).unwrap();
        validate_auth_server(&meta, origin, &cfg()).unwrap();
        // The registration flag may be left out (its default is `true`), and the algorithm is
        // matched exactly, as JWA names are case-sensitive.
        for (field, value) in [
            ("require_request_uri_registration", None),
            (
                "token_endpoint_auth_signing_alg_values_supported",
                Some(serde_json::json!(["None", "ES256"])),
            ),
        ] {
            let mut m = base.clone();
            match value {
                Some(v) => m[field] = v,
                None => drop(m.as_object_mut().unwrap().remove(field)),
            }
            let meta: AuthServerMetadata = json::from_slice(m.to_string().as_bytes()).unwrap();
            validate_auth_server(&meta, origin, &cfg()).unwrap();
        }
        let mut twice = base.to_string();
        twice.insert_str(1, r#""require_request_uri_registration":true,"#);
        assert!(json::from_slice::<AuthServerMetadata>(twice.as_bytes()).is_err());
    }

    /// RFC 9728 §4: an authorization server that lists the resources it protects must list
    /// the PDS that named it (as the official client and atcute check). Not listing them is
    /// allowed, and an entryway found without resource metadata has no PDS to look for.
    #[test]
    fn the_issuer_must_protect_the_pds_it_lists() {
        let discover_with = |listed: Option<&str>, pds: &str| {
            let http = MockHttp::default();
            serve(&http, pds, "https://auth.example");
            let mut m: serde_json::Value =
                serde_json::from_str(&as_metadata("https://auth.example")).unwrap();
            if let Some(listed) = listed {
                m["protected_resources"] = serde_json::from_str(listed).unwrap();
            }
            http.on(
                "GET",
                "https://auth.example/.well-known/oauth-authorization-server",
                json(200, &m.to_string()),
            );
            block_on(discover(&http, &cfg(), pds, true))
        };
        let pds = "https://pds.example";
        for ok in [
            None,
            Some(r#"["https://other.example","https://pds.example"]"#),
            Some(r#"["https://pds.example/"]"#),
        ] {
            assert_eq!(
                discover_with(ok, pds).unwrap().issuer,
                "https://auth.example"
            );
        }
        for bad in [
            r#"[]"#,
            r#"["https://other.example"]"#,
            r#"["https://pds.example.evil"]"#,
            r#"["https://pds.example/x"]"#,
            r#"["http://pds.example"]"#,
        ] {
            let e = discover_with(Some(bad), pds).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidMetadata, "{bad}: {e}");
            assert!(e.message.contains("does not protect"), "{bad}: {e}");
        }
        let e = discover_with(Some(r#""https://pds.example""#), pds).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMetadata);
        // An entryway is its own authorization server: nothing to look for.
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://entry.example/.well-known/oauth-protected-resource",
            text(404, ""),
        );
        let mut m: serde_json::Value =
            serde_json::from_str(&as_metadata("https://entry.example")).unwrap();
        m["protected_resources"] = serde_json::json!(["https://pds.example"]);
        http.on(
            "GET",
            "https://entry.example/.well-known/oauth-authorization-server",
            json(200, &m.to_string()),
        );
        block_on(discover(&http, &cfg(), "https://entry.example", true)).unwrap();
    }

    /// An endpoint with user info is refused when the metadata is read: `fetch` cannot send
    /// to such a URL (`new Request` throws), so it would fail later, at the PAR or token
    /// request, with the app's own `invalid_input`.
    #[test]
    fn endpoints_with_user_info_are_refused() {
        let origin = "https://auth.example";
        for (field, url) in [
            ("token_endpoint", "https://user:pw@auth.example/oauth/token"),
            (
                "pushed_authorization_request_endpoint",
                "https://user@auth.example/oauth/par",
            ),
            (
                "revocation_endpoint",
                "https://:pw@auth.example/oauth/revoke",
            ),
        ] {
            let mut m: serde_json::Value = serde_json::from_str(&as_metadata(origin)).unwrap();
            m[field] = url.into();
            let meta: AuthServerMetadata = json::from_slice(m.to_string().as_bytes()).unwrap();
            let e = validate_auth_server(&meta, origin, &cfg()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponse, "{field}: {e}");
        }
    }

    /// Each capability the profile needs, taken away in turn (the field left out, its value
    /// replaced, listed under another field, or `false`), is refused by name, in the order the
    /// checks run; a field given twice is refused; `create` is read off `prompt_values_supported`.
    #[test]
    fn each_missing_capability_is_named() {
        let origin = "https://auth.example";
        let base: serde_json::Value = serde_json::from_str(&as_metadata(origin)).unwrap();
        let read = |m: &serde_json::Value| -> AuthServerMetadata {
            json::from_slice(m.to_string().as_bytes()).unwrap()
        };
        let refusal = |m: &serde_json::Value| {
            validate_auth_server(&read(m), origin, &cfg())
                .unwrap_err()
                .message
                .clone()
        };
        let needs = [
            ("code_challenge_methods_supported", "S256", "PKCE S256"),
            ("dpop_signing_alg_values_supported", "ES256", "DPoP ES256"),
            ("scopes_supported", "atproto", "the atproto scope"),
            ("response_types_supported", "code", "response type code"),
            (
                "grant_types_supported",
                "authorization_code",
                "the authorization_code grant",
            ),
            (
                "grant_types_supported",
                "refresh_token",
                "the refresh_token grant",
            ),
            (
                "token_endpoint_auth_methods_supported",
                "none",
                "public clients (auth method none)",
            ),
            // The profile: "must include both `none` (public clients) and `private_key_jwt`
            // (confidential clients)", and the signing algorithms "Must include `ES256`".
            (
                "token_endpoint_auth_methods_supported",
                "private_key_jwt",
                "confidential clients (auth method private_key_jwt)",
            ),
            (
                "token_endpoint_auth_signing_alg_values_supported",
                "ES256",
                "client authentication signed with ES256",
            ),
        ];
        for (field, value, what) in needs {
            let expected = format!("{origin} does not support {what}");
            let mut without = base.clone();
            let list = without[field].as_array_mut().unwrap();
            list.retain(|v| v != value);
            list.push("other".into());
            assert_eq!(refusal(&without), expected, "{field}");
            // The value under another list counts for nothing.
            let mut elsewhere = without.clone();
            let other = if field == "scopes_supported" {
                "response_types_supported"
            } else {
                "scopes_supported"
            };
            elsewhere[other].as_array_mut().unwrap().push(value.into());
            assert_eq!(refusal(&elsewhere), expected, "{field} under {other}");
        }
        let mut no_grants = base.clone();
        no_grants
            .as_object_mut()
            .unwrap()
            .remove("grant_types_supported");
        assert_eq!(
            refusal(&no_grants),
            format!("{origin} does not support the authorization_code grant")
        );
        for (field, what) in [
            (
                "authorization_response_iss_parameter_supported",
                "the iss response parameter",
            ),
            (
                "client_id_metadata_document_supported",
                "client metadata documents",
            ),
        ] {
            for absent in [false, true] {
                let mut m = base.clone();
                if absent {
                    m.as_object_mut().unwrap().remove(field);
                } else {
                    m[field] = false.into();
                }
                assert_eq!(refusal(&m), format!("{origin} does not support {what}"));
            }
        }
        let mut par = base.clone();
        par["require_pushed_authorization_requests"] = false.into();
        assert_eq!(
            refusal(&par),
            format!(
                "{origin} does not require pushed authorization requests, as AT Protocol \
                 servers must"
            )
        );
        let mut none = base.clone();
        none["token_endpoint_auth_signing_alg_values_supported"] =
            serde_json::json!(["ES256", "none"]);
        assert_eq!(
            refusal(&none),
            format!(
                "{origin} allows client authentication signed with none, which AT Protocol \
                 servers must not"
            )
        );
        let mut unregistered = base.clone();
        unregistered["require_request_uri_registration"] = false.into();
        assert_eq!(
            refusal(&unregistered),
            format!(
                "{origin} allows request URIs without registration, which AT Protocol servers \
                 must not"
            )
        );
        // Two missing: the first check's name.
        let mut two = base.clone();
        two["scopes_supported"] = serde_json::json!([]);
        two["code_challenge_methods_supported"] = serde_json::json!([]);
        assert!(refusal(&two).ends_with("PKCE S256"));

        let text = base.to_string();
        for field in ["scopes_supported", "client_id_metadata_document_supported"] {
            let twice = text.replacen('{', &format!("{{\"{field}\":{},", base[field]), 1);
            let e = json::from_slice::<AuthServerMetadata>(twice.as_bytes()).unwrap_err();
            assert_eq!(e.0, format!("duplicate field `{field}`"));
        }
        let wrong_type = text.replacen('{', "{\"scopes_supported\":true,", 1);
        assert!(json::from_slice::<AuthServerMetadata>(wrong_type.as_bytes()).is_err());

        assert_eq!(read(&base).supports & PROMPT_CREATE, 0);
        let mut create = base.clone();
        create["prompt_values_supported"] = serde_json::json!(["login", "create"]);
        assert_ne!(read(&create).supports & PROMPT_CREATE, 0);
        let mut misplaced = base.clone();
        misplaced["scopes_supported"]
            .as_array_mut()
            .unwrap()
            .push("create".into());
        assert_eq!(read(&misplaced).supports & PROMPT_CREATE, 0);
        validate_auth_server(&read(&create), origin, &cfg()).unwrap();
    }

    #[test]
    fn protected_resource_checks() {
        let ok = ProtectedResourceMetadata {
            resource: "https://pds.example".into(),
            authorization_servers: vec!["https://a.example".into()],
        };
        validate_protected_resource(&ok, "https://pds.example").unwrap();
        let two = ProtectedResourceMetadata {
            authorization_servers: vec!["https://a.example".into(), "https://b.example".into()],
            ..ok.clone()
        };
        assert_eq!(
            validate_protected_resource(&two, "https://pds.example")
                .unwrap_err()
                .code,
            ErrorCode::InvalidMetadata
        );
        let none = ProtectedResourceMetadata {
            authorization_servers: vec![],
            ..ok.clone()
        };
        assert!(validate_protected_resource(&none, "https://pds.example").is_err());
        for bad in [
            "https://a.example/path",
            "https://a.example?x=1",
            "https://a.example#f",
            "https://user@a.example",
            "ftp://a.example",
            "a.example",
        ] {
            let meta = ProtectedResourceMetadata {
                authorization_servers: vec![bad.into()],
                ..ok.clone()
            };
            assert!(
                validate_protected_resource(&meta, "https://pds.example").is_err(),
                "{bad}"
            );
        }
        let other = ProtectedResourceMetadata {
            resource: "https://other.example".into(),
            ..ok
        };
        assert!(validate_protected_resource(&other, "https://pds.example").is_err());
    }

    #[test]
    fn metadata_must_be_a_200_json_answer_from_the_url_asked() {
        let origin = "https://pds.example";
        let name = "oauth-protected-resource";
        let good = json(
            200,
            r#"{"resource":"https://pds.example","authorization_servers":[]}"#,
        );
        process_metadata_response::<ProtectedResourceMetadata>(&good, origin, name).unwrap();
        let mut redirected = good.clone();
        redirected.redirected = true;
        let mut html = good.clone();
        html.headers = vec![("content-type".into(), "text/html".into())];
        let mut charset = good.clone();
        charset.headers = vec![(
            "content-type".into(),
            "application/json; charset=utf-8".into(),
        )];
        process_metadata_response::<ProtectedResourceMetadata>(&charset, origin, name).unwrap();
        let created = HttpResponse {
            status: 201,
            ..good.clone()
        };
        for bad in [redirected, html, created] {
            let e = process_metadata_response::<ProtectedResourceMetadata>(&bad, origin, name)
                .unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidMetadata, "{bad:?}");
        }
    }

    #[test]
    fn garbage_and_http_servers() {
        let http = MockHttp::default();
        http.on(
            "GET",
            "https://pds.example/.well-known/oauth-protected-resource",
            text(200, "<html>"),
        );
        let e = block_on(fetch_protected_resource(
            &http,
            &cfg(),
            "https://pds.example",
        ))
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidMetadata);
        let e = block_on(discover(&http, &cfg(), "http://localhost:2583", true)).unwrap_err();
        assert_eq!(e.code, ErrorCode::InsecureUrl);
        assert_eq!(
            http.count(),
            1,
            "nothing is fetched from an http server without the opt-in"
        );
        let mut c = cfg();
        c.allow_http = true;
        serve(&http, "http://localhost:2583", "http://localhost:2583");
        let meta = block_on(discover(&http, &c, "http://localhost:2583", true)).unwrap();
        assert_eq!(meta.issuer, "http://localhost:2583");
    }
}
