//! The authorization server's endpoints (PAR, token, revocation), in the style of oauth4webapi:
//! for each exchange a function that builds the request and a pure `process_*` function that
//! validates the response, so every check is a one-line test against a canned response. Sending
//! (through DPoP, with nonces) is the caller's business.

use crate::error::{err, Error, ErrorCode, Result};
use crate::form::encode as form_encode;
use crate::identity::parse_did;
use crate::json::{required, set, FromJson, JsonResult, Reader};
use crate::oauth::AuthServerMetadata;
use crate::platform::{HttpRequest, HttpResponse, DOCUMENT_LIMIT};
use crate::secret::{AccessToken, PkceVerifier, RefreshToken};
use crate::util::AsciiSplit;
use crate::util::{self, json_body};

/// A form POST to an authorization-server endpoint.
fn form_post(url: &str, form: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        url: url.to_string(),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(form_encode(form).into_bytes().into()),
        max_body: DOCUMENT_LIMIT,
        keep_body: None,
        cancel: None,
    }
}

/// The OAuth error of a failed response, as a typed error carrying the server's `error`.
pub(crate) fn oauth_error(resp: &HttpResponse, code: ErrorCode, what: &str) -> Error {
    match resp
        .error_body()
        .and_then(|b| Some((b.error?, b.error_description)))
    {
        Some((error, description)) => Error::new(
            code,
            msg!(
                what,
                " refused: ",
                error,
                description.map(|d| msg!(" (", d, ")")).unwrap_or_default()
            ),
        )
        .with_server_error(Some(error), Some(resp.status)),
        None => Error::new(
            code,
            msg!(what, " failed with HTTP ", util::int(resp.status.into())),
        )
        .with_server_error(None, Some(resp.status)),
    }
}

// ---- PAR (RFC 9126) ------------------------------------------------------------------------

/// The authorization request's parameters, pushed to the server.
pub(crate) struct AuthorizationRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub response_mode: &'a str,
    pub login_hint: Option<&'a str>,
    pub prompt: Option<&'a str>,
    pub display: Option<&'a str>,
}

pub(crate) fn par_request(server: &AuthServerMetadata, req: &AuthorizationRequest) -> HttpRequest {
    let mut form = vec![
        ("client_id", req.client_id),
        ("response_type", "code"),
        ("code_challenge", req.code_challenge),
        ("code_challenge_method", "S256"),
        ("redirect_uri", req.redirect_uri),
        ("scope", req.scope),
        ("state", req.state),
        ("response_mode", req.response_mode),
    ];
    if let Some(hint) = req.login_hint {
        form.push(("login_hint", hint));
    }
    if let Some(prompt) = req.prompt {
        form.push(("prompt", prompt));
    }
    if let Some(display) = req.display {
        form.push(("display", display));
    }
    form_post(&server.pushed_authorization_request_endpoint, &form)
}

struct ParBody {
    request_uri: String,
    /// REQUIRED (RFC 9126 section 2.2).
    expires_in: i64,
}

impl FromJson for ParBody {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut request_uri, mut expires_in) = (None, None);
        r.object(&mut |r, key| match key {
            "request_uri" => set(&mut request_uri, key, r.string()?),
            "expires_in" => set(&mut expires_in, key, r.integer()?),
            _ => r.skip(),
        })?;
        Ok(ParBody {
            request_uri: required(request_uri, "request_uri")?,
            expires_in: required(expires_in, "expires_in")?,
        })
    }
}

/// The `request_uri` of a successful PAR response.
pub(crate) fn process_par_response(resp: &HttpResponse) -> Result<String> {
    if !resp.is_success() {
        return Err(oauth_error(
            resp,
            ErrorCode::ParFailed,
            "the pushed authorization request",
        ));
    }
    let body: ParBody = json_body(&resp.body, "PAR response")?;
    if body.request_uri.is_empty() || body.expires_in <= 0 {
        return err(
            ErrorCode::InvalidResponse,
            "PAR response has no usable request_uri",
        );
    }
    Ok(body.request_uri)
}

// ---- token endpoint: code grant and refresh grant -----------------------------------------

pub(crate) fn code_grant_request(
    server: &AuthServerMetadata,
    client_id: &str,
    code: &str,
    verifier: &PkceVerifier,
    redirect_uri: &str,
) -> HttpRequest {
    form_post(
        &server.token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier.expose()),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
        ],
    )
}

pub(crate) fn refresh_request(
    server: &AuthServerMetadata,
    client_id: &str,
    refresh_token: &RefreshToken,
) -> HttpRequest {
    form_post(
        &server.token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose()),
            ("client_id", client_id),
        ],
    )
}

struct TokenBody {
    access_token: String,
    token_type: String,
    expires_in: Option<i64>,
    refresh_token: Option<String>,
    scope: Option<String>,
    sub: Option<String>,
}

impl FromJson for TokenBody {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut access_token, mut token_type, mut expires_in) = (None, None, None);
        let (mut refresh_token, mut scope, mut sub) = (None, None, None);
        r.object(&mut |r, key| match key {
            "access_token" => set(&mut access_token, key, r.string()?),
            "token_type" => set(&mut token_type, key, r.string()?),
            "expires_in" => set(&mut expires_in, key, r.nullable(Reader::seconds)?),
            "refresh_token" => set(&mut refresh_token, key, r.opt_string()?),
            "scope" => set(&mut scope, key, r.opt_string()?),
            "sub" => set(&mut sub, key, r.opt_string()?),
            _ => r.skip(),
        })?;
        let (access_token, token_type) =
            crate::json::present!(access_token: "access_token", token_type: "token_type");
        Ok(TokenBody {
            access_token,
            token_type,
            expires_in: expires_in.flatten(),
            refresh_token: refresh_token.flatten(),
            scope: scope.flatten(),
            sub: sub.flatten(),
        })
    }
}

/// Validated tokens: a DPoP token type, the `atproto` scope and a well-formed `sub` DID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub scope: String,
    pub sub: String,
    pub expires_at: Option<i64>,
}

/// The longest token lifetime believed; a longer-lived token is refreshed after it.
const MAX_LIFETIME_SECS: i64 = 366 * 86_400;

/// Validates a token response, of either grant.
/// The most values a granted scope may have (an app asks for tens).
pub(crate) const MAX_SCOPE_VALUES: usize = 1000;

pub(crate) fn process_token_response(resp: &HttpResponse, now: i64) -> Result<Tokens> {
    if !resp.is_success() {
        return Err(oauth_error(
            resp,
            ErrorCode::TokenFailed,
            "the token request",
        ));
    }
    let body: TokenBody = json_body(&resp.body, "token response")?;
    if !body.token_type.eq_ignore_ascii_case("DPoP") {
        return err(
            ErrorCode::InvalidResponse,
            msg!(
                "token_type is ",
                util::quoted(&body.token_type),
                ", not DPoP"
            ),
        );
    }
    let scope = body.scope.unwrap_or_default();
    // Every `SessionInfo` lists the granted values each once, comparing each with those before
    // it: a 1 MiB scope of distinct values took 53 s, on every `listSessions`, `restore` and
    // refresh.
    if scope.pieces(b' ').filter(|s| !s.is_empty()).count() > MAX_SCOPE_VALUES {
        return err(
            ErrorCode::InvalidResponse,
            msg!(
                "the granted scope has more than ",
                util::int(MAX_SCOPE_VALUES as i64),
                " values"
            ),
        );
    }
    if !scope.pieces(b' ').any(|s| s == "atproto") {
        return err(
            ErrorCode::InvalidResponse,
            msg!("the granted scope ", util::quoted(&scope), " lacks atproto"),
        );
    }
    let sub = body
        .sub
        .ok_or_else(|| Error::new(ErrorCode::InvalidResponse, "the token response has no sub"))?;
    parse_did(&sub).map_err(|e| e.wrap(ErrorCode::InvalidResponse, "sub"))?;
    // It goes out in `Authorization: DPoP <token>`, as RFC 9449's token68 (RFC 7235).
    let token68 = |b: u8| b.is_ascii_alphanumeric() || util::one_of(b, b"-._~+/=");
    if body.access_token.is_empty() || !body.access_token.bytes().all(token68) {
        return err(
            ErrorCode::InvalidResponse,
            "the access_token is empty or not token68",
        );
    }
    Ok(Tokens {
        access_token: AccessToken::new(body.access_token),
        refresh_token: body
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(RefreshToken::new),
        scope,
        sub,
        // At most a year: a huge expires_in from a server must neither overflow nor wrap
        // around into the past (which would force a refresh before every call), nor reach the
        // app as an `expiresAt` JavaScript cannot hold.
        expires_at: body
            .expires_in
            .filter(|e| *e > 0)
            .map(|e| now.saturating_add(e.min(MAX_LIFETIME_SECS))),
    })
}

// ---- revocation (RFC 7009) ------------------------------------------------------------------

/// The revocation request for `token`, or `None` when the server has no revocation endpoint.
pub(crate) fn revocation_request(
    server: &AuthServerMetadata,
    client_id: &str,
    token: &str,
) -> Option<HttpRequest> {
    let endpoint = server.revocation_endpoint.as_deref()?;
    Some(form_post(
        endpoint,
        &[("token", token), ("client_id", client_id)],
    ))
}

/// RFC 7009 §2.2: any 200 means the token is no longer valid (also when it never was).
pub(crate) fn process_revocation_response(resp: &HttpResponse) -> Result<()> {
    if resp.status == 200 {
        Ok(())
    } else {
        Err(oauth_error(resp, ErrorCode::TokenFailed, "the revocation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json, ALICE_DID};

    fn token_json(extra: &str) -> String {
        format!(
            r#"{{"access_token":"at","token_type":"DPoP","expires_in":3599,"refresh_token":"rt","scope":"atproto transition:generic","sub":"{ALICE_DID}"{extra}}}"#
        )
    }

    #[test]
    fn accepts_a_good_token_response() {
        let t = process_token_response(&json(200, &token_json("")), 100).unwrap();
        assert_eq!(t.sub, ALICE_DID);
        assert_eq!(t.expires_at, Some(3699));
        assert_eq!(t.refresh_token, Some(RefreshToken::new("rt")));
    }

    /// A huge `expires_in` neither overflows nor reaches the app as an integer JavaScript
    /// cannot hold (`expiresAt`, a `Date`): a lifetime is at most a year, after which the
    /// client refreshes, which a longer-lived token survives.
    #[test]
    fn a_huge_expires_in_is_a_year() {
        for huge in [i64::MAX, 1 << 53, 400 * 86_400] {
            let body = token_json("").replace("3599", &huge.to_string());
            let t = process_token_response(&json(200, &body), 1_700_000_000).unwrap();
            assert_eq!(t.expires_at, Some(1_700_000_000 + 366 * 86_400), "{huge}");
        }
    }

    /// `expires_in` is a JSON number (RFC 6749 §5.1), and a fraction or an exponent is still a
    /// lifetime: refused, a refresh's rotated tokens would be lost (the server already spent
    /// the old refresh token). Rounded down, but a positive one is at least a second; 0 or a
    /// negative one is no lifetime at all.
    #[test]
    fn expires_in_may_be_any_number() {
        for (given, lifetime) in [
            ("3599.5", Some(3599)),
            ("3.6e3", Some(3600)),
            ("36E+2", Some(3600)),
            ("7200e-1", Some(720)),
            ("0.5", Some(1)),
            ("0", None),
            ("-60", None),
            ("1e400", Some(366 * 86_400)),
            ("null", None),
        ] {
            let body = token_json("").replace("3599", given);
            let t = process_token_response(&json(200, &body), 100).unwrap();
            assert_eq!(t.expires_at, lifetime.map(|l| 100 + l), "{given}");
        }
    }

    /// The access token goes into the `Authorization` header as RFC 9449's token68: anything
    /// else would make every call fail (the header refused) while the session looked fine.
    #[test]
    fn an_access_token_that_cannot_be_a_header_is_refused() {
        for bad in [r"a\u0000b", "a b", r"a\r\nX: y", "é", r#"a\"b"#] {
            let body = token_json("").replace(r#""at""#, &format!(r#""{bad}""#));
            let e = process_token_response(&json(200, &body), 0).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponse, "{bad}: {}", e.message);
        }
        for good in [
            "aZ09-._~+/",
            "abc==",
            "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
        ] {
            let body = token_json("").replace(r#""at""#, &format!(r#""{good}""#));
            let t = process_token_response(&json(200, &body), 0).unwrap();
            assert_eq!(t.access_token.expose(), good);
        }
    }

    #[test]
    fn refuses_bearer_missing_scope_and_bad_sub() {
        let bearer = token_json("").replace("\"DPoP\"", "\"Bearer\"");
        assert_eq!(
            process_token_response(&json(200, &bearer), 0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
        let scope = token_json("").replace("atproto transition:generic", "transition:generic");
        assert_eq!(
            process_token_response(&json(200, &scope), 0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
        let sub = token_json("").replace(ALICE_DID, "alice.test");
        assert_eq!(
            process_token_response(&json(200, &sub), 0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
        // At most 1,000 values granted.
        let values = |n: usize| {
            let extra: Vec<String> = (1..n).map(|i| msg!("v", util::int(i as i64))).collect();
            token_json("").replace(
                "atproto transition:generic",
                &msg!("atproto ", extra.join(" ")),
            )
        };
        assert!(process_token_response(&json(200, &values(1000)), 0).is_ok());
        assert_eq!(
            process_token_response(&json(200, &values(1001)), 0)
                .err()
                .map(|e| e.code),
            Some(ErrorCode::InvalidResponse)
        );
        let no_sub = r#"{"access_token":"at","token_type":"DPoP","scope":"atproto"}"#;
        assert_eq!(
            process_token_response(&json(200, no_sub), 0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
        assert_eq!(
            process_token_response(&json(200, "garbage"), 0)
                .unwrap_err()
                .code,
            ErrorCode::InvalidResponse
        );
    }

    #[test]
    fn carries_the_oauth_error() {
        let e = process_token_response(
            &json(
                400,
                r#"{"error":"invalid_grant","error_description":"refresh token replayed"}"#,
            ),
            0,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::TokenFailed);
        assert_eq!(e.server_error.as_deref(), Some("invalid_grant"));
        assert_eq!(e.status, Some(400));
        let e =
            process_par_response(&json(400, r#"{"error":"invalid_client_metadata"}"#)).unwrap_err();
        assert_eq!(e.code, ErrorCode::ParFailed);
        assert_eq!(
            process_par_response(&json(
                201,
                r#"{"request_uri":"urn:ietf:params:oauth:request_uri:x","expires_in":299}"#
            ))
            .unwrap(),
            "urn:ietf:params:oauth:request_uri:x"
        );
        assert!(process_par_response(&json(201, r#"{"expires_in":299}"#)).is_err());
        // RFC 9126 section 2.2: expires_in is REQUIRED, a positive number of seconds.
        for body in [
            r#"{"request_uri":"urn:x"}"#,
            r#"{"request_uri":"urn:x","expires_in":null}"#,
            r#"{"request_uri":"urn:x","expires_in":0}"#,
            r#"{"request_uri":"urn:x","expires_in":"60"}"#,
        ] {
            let e = process_par_response(&json(201, body)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidResponse, "{body}");
        }
        process_revocation_response(&json(200, "")).unwrap();
        assert_eq!(
            process_revocation_response(&json(400, r#"{"error":"unsupported_token_type"}"#))
                .unwrap_err()
                .server_error
                .as_deref(),
            Some("unsupported_token_type")
        );
    }
}
