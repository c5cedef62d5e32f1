//! The authorization response (RFC 6749 §4.1.2, RFC 9207): reading it from the redirect URL, and
//! one pure function that runs every check on it in order.

use crate::config::ResponseMode;
use crate::error::{err, Error, ErrorCode, Result};
use crate::url::Url;

/// The parameters of an authorization response, each at most once.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Reads the parameters from the part of the URL the response mode puts them in. The other
/// part is ignored, so an attacker cannot smuggle a second `state` through it.
pub(crate) fn parse_callback(url: &str, mode: ResponseMode) -> Result<CallbackParams> {
    let parsed = Url::parse(url)
        .ok_or_else(|| Error::new(ErrorCode::InvalidState, "the callback URL is not a URL"))?;
    let raw = match mode {
        ResponseMode::Query => parsed.query().unwrap_or(""),
        ResponseMode::Fragment => parsed.fragment().unwrap_or(""),
    };
    let mut out = CallbackParams::default();
    for (key, value) in crate::form::parse(raw) {
        let slot = match key.as_str() {
            "state" => &mut out.state,
            "code" => &mut out.code,
            "iss" => &mut out.iss,
            "error" => &mut out.error,
            "error_description" => &mut out.error_description,
            _ => continue,
        };
        // A repeated parameter is a malformed (possibly forged) response.
        if slot.is_some() {
            return Err(Error::new(
                ErrorCode::InvalidState,
                msg!("the callback repeats the ", key, " parameter"),
            ));
        }
        *slot = Some(value);
    }
    Ok(out)
}

/// Whether a URL looks like an authorization response at all (so apps can call
/// `handleCallback` only when there is something to handle).
pub(crate) fn has_callback_params(url: &str, mode: ResponseMode) -> bool {
    parse_callback(url, mode)
        .map(|p| p.state.is_some() && (p.code.is_some() || p.error.is_some()))
        .unwrap_or(false)
}

/// The same URL without the authorization response, for `history.replaceState`.
pub(crate) fn strip_callback_params(url: &str, mode: ResponseMode) -> Option<String> {
    let mut parsed = Url::parse(url)?;
    match mode {
        ResponseMode::Query => {
            let mut kept = parsed.query_pairs();
            kept.retain(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "state" | "code" | "iss" | "error" | "error_description" | "error_uri"
                )
            });
            parsed.set_query_pairs(&kept);
        }
        ResponseMode::Fragment => return Some(parsed.without_fragment().into()),
    }
    Some(parsed.into_string())
}

/// The `state` of a response, without which nothing else can be looked up.
pub(crate) fn callback_state(params: &CallbackParams) -> Result<&str> {
    params.state.as_deref().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidState,
            "the callback has no state parameter",
        )
    })
}

/// What the login attempt that issued a `state` expects of its response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ExpectedCallback<'a> {
    /// The authorization server the login went to.
    pub issuer: &'a str,
    /// Unix seconds after which the attempt is void.
    pub expires_at: i64,
}

/// A stored login attempt, as far as the callback checks are concerned.
pub(crate) trait LoginAttempt {
    fn expected(&self) -> ExpectedCallback<'_>;
}

/// Every check on an authorization response, in order: the `state` was issued here and not used
/// before (`expected` is what taking it from the store found), it has not expired, `iss` names
/// the server the login went to (RFC 9207: before anything else in the response is trusted,
/// errors included), then the server's `error`, and finally the `code`. Returns the attempt
/// with the code.
pub(crate) fn validate_callback<L: LoginAttempt>(
    params: &CallbackParams,
    pending: Option<L>,
    now: i64,
) -> Result<(L, String)> {
    let Some(pending) = pending else {
        return err(ErrorCode::InvalidState, "unknown or already used state: this callback was not started here, or was handled already");
    };
    let expected = pending.expected();
    if expected.expires_at <= now {
        return err(
            ErrorCode::StateExpired,
            "the login took too long; start again",
        );
    }
    match params.iss.as_deref() {
        Some(iss) if iss == expected.issuer => {}
        Some(iss) => {
            return err(
                ErrorCode::IssuerMismatch,
                msg!(
                    "the callback comes from ",
                    iss,
                    ", the login went to ",
                    expected.issuer
                ),
            )
        }
        None => {
            return err(
                ErrorCode::IssuerMismatch,
                "the callback has no iss parameter",
            )
        }
    }
    if let Some(error) = &params.error {
        let detail = params
            .error_description
            .as_deref()
            .map(|d| msg!(": ", d))
            .unwrap_or_default();
        let code = if error == "access_denied" {
            ErrorCode::AccessDenied
        } else {
            ErrorCode::AuthorizationError
        };
        return Err(
            Error::new(code, msg!("authorization failed: ", error, detail))
                .with_server_error(Some(error.clone()), None),
        );
    }
    match &params.code {
        Some(code) => Ok((pending, code.clone())),
        None => err(
            ErrorCode::AuthorizationError,
            "the callback has neither code nor error",
        ),
    }
}

/// A login attempt from `https://as.example` that expires at 100, for tests and fuzzing.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) struct FixedAttempt;

#[cfg(any(test, feature = "fuzzing"))]
impl LoginAttempt for FixedAttempt {
    fn expected(&self) -> ExpectedCallback<'_> {
        ExpectedCallback {
            issuer: "https://as.example",
            expires_at: 100,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::FixedAttempt as Attempt;
    const GOOD: Option<Attempt> = Some(Attempt);

    fn check(query: &str, pending: Option<Attempt>, now: i64) -> Result<String> {
        let url = format!("https://app.example/cb?{query}");
        let params = parse_callback(&url, ResponseMode::Query)?;
        validate_callback(&params, pending, now).map(|(_, code)| code)
    }

    fn code_of(query: &str, expected: Option<Attempt>, now: i64) -> ErrorCode {
        check(query, expected, now).unwrap_err().code
    }

    #[test]
    fn validate_callback_checks_in_order() {
        let iss = "iss=https%3A%2F%2Fas.example";
        assert_eq!(
            check(&format!("state=s&code=c&{iss}"), GOOD, 99).unwrap(),
            "c"
        );
        // Each check in its order: (the response, the login found for its state, the time) → code.
        let cases: [(String, Option<Attempt>, i64, ErrorCode); 9] = [
            (
                format!("state=s&code=c&{iss}"),
                None,
                99,
                ErrorCode::InvalidState,
            ),
            (
                format!("state=s&code=c&{iss}"),
                GOOD,
                100,
                ErrorCode::StateExpired,
            ),
            (
                "state=s&code=c&iss=https%3A%2F%2Fevil.example".into(),
                GOOD,
                99,
                ErrorCode::IssuerMismatch,
            ),
            ("state=s&code=c".into(), GOOD, 99, ErrorCode::IssuerMismatch),
            (
                "state=s&error=access_denied".into(),
                GOOD,
                99,
                ErrorCode::IssuerMismatch,
            ),
            (
                format!("state=s&error=access_denied&{iss}"),
                GOOD,
                99,
                ErrorCode::AccessDenied,
            ),
            (
                format!("state=s&error=server_error&code=c&{iss}"),
                GOOD,
                99,
                ErrorCode::AuthorizationError,
            ),
            (
                format!("state=s&{iss}"),
                GOOD,
                99,
                ErrorCode::AuthorizationError,
            ),
            ("state=a&state=b".into(), GOOD, 99, ErrorCode::InvalidState),
        ];
        for (query, attempt, now, want) in cases {
            assert_eq!(code_of(&query, attempt, now), want, "{query}");
        }
        let denied = check(
            &format!("state=s&error=access_denied&error_description=no&{iss}"),
            GOOD,
            99,
        )
        .unwrap_err();
        assert_eq!(denied.server_error.as_deref(), Some("access_denied"));
        assert!(
            denied.message.ends_with("access_denied: no"),
            "{}",
            denied.message
        );
        let no_state =
            parse_callback("https://app.example/cb?code=c", ResponseMode::Query).unwrap();
        assert_eq!(
            callback_state(&no_state).unwrap_err().code,
            ErrorCode::InvalidState
        );
    }

    #[test]
    fn reads_query_and_fragment() {
        let p = parse_callback(
            "http://127.0.0.1:8080/callback?state=s1&code=c1&iss=http%3A%2F%2Flocalhost%3A2583",
            ResponseMode::Query,
        )
        .unwrap();
        assert_eq!(p.state.as_deref(), Some("s1"));
        assert_eq!(p.code.as_deref(), Some("c1"));
        assert_eq!(p.iss.as_deref(), Some("http://localhost:2583"));
        let p = parse_callback(
            "https://a.example/cb#state=s&error=access_denied&error_description=no%20way",
            ResponseMode::Fragment,
        )
        .unwrap();
        assert_eq!(p.error.as_deref(), Some("access_denied"));
        assert_eq!(p.error_description.as_deref(), Some("no way"));
        // Parameters in the other part are not read.
        let p = parse_callback(
            "https://a.example/cb?state=evil#state=s",
            ResponseMode::Fragment,
        )
        .unwrap();
        assert_eq!(p.state.as_deref(), Some("s"));
    }

    #[test]
    fn the_fuzzers_host_with_capitals_and_non_ascii_is_no_panic() {
        // Found by the callback_url fuzz target: a special scheme whose host mixes ASCII capitals
        // and non-ASCII. The ASCII-only IDNA back end once pinned for size asserted on it (in
        // debug builds); full IDNA maps it like a browser.
        let input = "\0wS:0017781827HH`HHHHHHHHHHHHHHHHH\u{60e3}\u{3}\0\0\0\0HHHHHHHHHHHHHS";
        for mode in [ResponseMode::Query, ResponseMode::Fragment] {
            let _ = parse_callback(input, mode);
            let _ = has_callback_params(input, mode);
            let _ = strip_callback_params(input, mode);
            let _ = parse_callback("https://Ab\u{e9}.example/cb?code=c&state=s&iss=x", mode);
        }
    }

    #[test]
    fn repeated_parameters_are_refused() {
        let e = parse_callback(
            "https://a.example/cb?state=a&state=b&code=c",
            ResponseMode::Query,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidState);
    }

    #[test]
    fn strips_only_the_response() {
        assert_eq!(
            strip_callback_params(
                "https://a.example/cb?x=1&state=s&code=c&iss=i",
                ResponseMode::Query
            )
            .unwrap(),
            "https://a.example/cb?x=1"
        );
        assert_eq!(
            strip_callback_params("https://a.example/cb?state=s&code=c", ResponseMode::Query)
                .unwrap(),
            "https://a.example/cb"
        );
        assert_eq!(
            strip_callback_params(
                "https://a.example/cb#state=s&code=c",
                ResponseMode::Fragment
            )
            .unwrap(),
            "https://a.example/cb"
        );
        assert!(has_callback_params(
            "https://a.example/cb?state=s&code=c",
            ResponseMode::Query
        ));
        assert!(!has_callback_params(
            "https://a.example/cb?x=1",
            ResponseMode::Query
        ));
    }
}
