//! Reading the authorization response from the redirect URL (RFC 6749 §4.1.2, RFC 9207).

use url::Url;

use crate::config::ResponseMode;
use crate::error::{Error, ErrorCode, Result};

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Reads the parameters from the part of the URL the response mode puts them in. The other
/// part is ignored, so an attacker cannot smuggle a second `state` through it.
pub fn parse_callback(url: &str, mode: ResponseMode) -> Result<CallbackParams> {
    let parsed = Url::parse(url)
        .map_err(|_| Error::new(ErrorCode::InvalidState, "the callback URL is not a URL"))?;
    let raw = match mode {
        ResponseMode::Query => parsed.query().unwrap_or(""),
        ResponseMode::Fragment => parsed.fragment().unwrap_or(""),
    };
    let mut out = CallbackParams::default();
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let slot = match key.as_ref() {
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
                format!("the callback repeats the {key} parameter"),
            ));
        }
        *slot = Some(value.into_owned());
    }
    Ok(out)
}

/// Whether a URL looks like an authorization response at all (so apps can call
/// `handleCallback` only when there is something to handle).
pub fn has_callback_params(url: &str, mode: ResponseMode) -> bool {
    parse_callback(url, mode)
        .map(|p| p.state.is_some() && (p.code.is_some() || p.error.is_some()))
        .unwrap_or(false)
}

/// The same URL without the authorization response, for `history.replaceState`.
pub fn strip_callback_params(url: &str, mode: ResponseMode) -> Option<String> {
    let mut parsed = Url::parse(url).ok()?;
    match mode {
        ResponseMode::Query => {
            let kept: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_ref(),
                        "state" | "code" | "iss" | "error" | "error_description" | "error_uri"
                    )
                })
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            if kept.is_empty() {
                parsed.set_query(None);
            } else {
                parsed.query_pairs_mut().clear().extend_pairs(kept);
            }
        }
        ResponseMode::Fragment => parsed.set_fragment(None),
    }
    Some(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

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
