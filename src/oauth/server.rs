//! Requests to the authorization server (PAR, token, revocation), each split into the request
//! and a `process_*` function that validates the response, so every check is testable with a
//! canned response.

use serde::Deserialize;

use crate::dpop::{self, DpopKey, DpopOutcome, NonceCache};
use crate::error::{err, Error, ErrorCode, Result};
use crate::identity::parse_did;
use crate::platform::{Http, HttpRequest, HttpResponse};
use crate::util::form_encode;

/// A form POST through DPoP.
pub async fn post_form<H: Http>(
    http: &H,
    key: &DpopKey,
    nonces: &NonceCache,
    url: &str,
    form: &[(&str, &str)],
    now: i64,
) -> Result<DpopOutcome> {
    let request = HttpRequest {
        method: "POST".into(),
        url: url.to_string(),
        headers: vec![
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            ("accept".into(), "application/json".into()),
        ],
        body: Some(form_encode(form).into_bytes()),
    };
    dpop::send(http, key, nonces, request, None, now).await
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The OAuth error of a failed response, as a typed error carrying the server's `error`.
pub fn oauth_error(resp: &HttpResponse, code: ErrorCode, what: &str) -> Error {
    match serde_json::from_slice::<OAuthErrorBody>(&resp.body) {
        Ok(body) => Error::new(
            code,
            format!(
                "{what} refused: {}{}",
                body.error,
                body.error_description
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        )
        .with_server_error(Some(body.error), Some(resp.status)),
        Err(_) => Error::new(code, format!("{what} failed with HTTP {}", resp.status))
            .with_server_error(None, Some(resp.status)),
    }
}

#[derive(Deserialize)]
struct ParBody {
    request_uri: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

pub fn process_par_response(resp: &HttpResponse) -> Result<String> {
    if !resp.is_success() {
        return Err(oauth_error(
            resp,
            ErrorCode::ParFailed,
            "the pushed authorization request",
        ));
    }
    let body: ParBody = crate::util::json_body(&resp.body, "PAR response")?;
    if body.request_uri.is_empty() || body.expires_in.is_some_and(|e| e <= 0) {
        return err(
            ErrorCode::InvalidResponse,
            "PAR response has no usable request_uri",
        );
    }
    Ok(body.request_uri)
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default)]
    pub expires_in: Option<i64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
}

/// Validated tokens: a DPoP token type, the `atproto` scope and a well-formed `sub` DID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub scope: String,
    pub sub: String,
    pub expires_at: Option<i64>,
}

pub fn process_token_response(resp: &HttpResponse, now: i64) -> Result<Tokens> {
    if !resp.is_success() {
        return Err(oauth_error(
            resp,
            ErrorCode::TokenFailed,
            "the token request",
        ));
    }
    let body: TokenResponse = crate::util::json_body(&resp.body, "token response")?;
    if !body.token_type.eq_ignore_ascii_case("DPoP") {
        return err(
            ErrorCode::InvalidResponse,
            format!("token_type is {:?}, not DPoP", body.token_type),
        );
    }
    let scope = body.scope.unwrap_or_default();
    if !scope.split(' ').any(|s| s == "atproto") {
        return err(
            ErrorCode::InvalidResponse,
            format!("the granted scope {scope:?} lacks atproto"),
        );
    }
    let sub = body
        .sub
        .ok_or_else(|| Error::new(ErrorCode::InvalidResponse, "the token response has no sub"))?;
    parse_did(&sub)
        .map_err(|e| Error::new(ErrorCode::InvalidResponse, format!("sub: {}", e.message)))?;
    if body.access_token.is_empty() {
        return err(ErrorCode::InvalidResponse, "empty access_token");
    }
    Ok(Tokens {
        access_token: body.access_token,
        refresh_token: body.refresh_token.filter(|t| !t.is_empty()),
        scope,
        sub,
        expires_at: body.expires_in.filter(|e| *e > 0).map(|e| now + e),
    })
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
        assert_eq!(t.refresh_token.as_deref(), Some("rt"));
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
    }
}
