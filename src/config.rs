//! The client's configuration, set once by the app, and the URL policy that goes with it.

use serde::Deserialize;

use crate::error::{err, Error, ErrorCode, Result};
use crate::url::Url;
use crate::util::AsciiSplit;

/// A way to map a handle to a DID, tried in the configured order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum HandleMethod {
    /// `https://<handle>/.well-known/atproto-did`
    #[serde(rename = "well-known")]
    WellKnown,
    /// DNS TXT `_atproto.<handle>` over DNS-over-HTTPS (JSON API).
    #[serde(rename = "dns")]
    Dns,
    /// `com.atproto.identity.resolveHandle` on the configured handle-resolver service.
    #[serde(rename = "xrpc")]
    Xrpc,
}

impl HandleMethod {
    /// The method as the config names it.
    pub fn parse(name: &str) -> Option<HandleMethod> {
        [
            HandleMethod::WellKnown,
            HandleMethod::Dns,
            HandleMethod::Xrpc,
        ]
        .into_iter()
        .find(|m| m.name() == name)
    }

    /// The method's name in the config (and in messages).
    pub fn name(self) -> &'static str {
        match self {
            HandleMethod::WellKnown => "well-known",
            HandleMethod::Dns => "dns",
            HandleMethod::Xrpc => "xrpc",
        }
    }
}

/// Where the authorization server puts its response in the redirect URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    /// In the query string.
    #[default]
    Query,
    /// In the fragment, which never reaches a server.
    Fragment,
}

impl ResponseMode {
    /// The `response_mode` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
        }
    }
}

/// The largest `refreshMarginSecs`: a day (access tokens live minutes to hours).
pub const MAX_REFRESH_MARGIN_SECS: i64 = 86_400;

/// The public PLC directory.
pub const DEFAULT_PLC_DIRECTORY: &str = "https://plc.directory";
/// Bluesky's public AppView, which answers `resolveHandle`.
pub const DEFAULT_HANDLE_RESOLVER: &str = "https://public.api.bsky.app";
/// Cloudflare's DNS-over-HTTPS JSON endpoint.
pub const DEFAULT_DOH: &str = "https://cloudflare-dns.com/dns-query";
/// `requestTimeoutMs` when the app sets none.
pub const DEFAULT_REQUEST_TIMEOUT_MS: u32 = 30_000;

/// What the app passes to `new OAuthClient({...})` (camelCase in JavaScript).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientConfig {
    /// The client id: the https URL of the client metadata, or the loopback form.
    pub client_id: String,
    /// Where the authorization server sends the browser back.
    pub redirect_uri: String,
    /// Space-separated scopes; must include `atproto`.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// XRPC service for `com.atproto.identity.resolveHandle`.
    #[serde(default = "default_handle_resolver")]
    pub handle_resolver: String,
    /// The PLC directory.
    #[serde(default = "default_plc")]
    pub plc_directory_url: String,
    /// DNS-over-HTTPS JSON endpoint.
    #[serde(default = "default_doh")]
    pub doh_url: String,
    /// Handle resolution methods, tried in order.
    #[serde(default = "default_methods")]
    pub handle_resolution: Vec<HandleMethod>,
    /// Development only: accept plain-http servers (a local PDS on `http://localhost:2583`).
    #[serde(default)]
    pub allow_http: bool,
    /// Where the authorization response comes back.
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// Seconds before expiry at which a token is refreshed ahead of use.
    #[serde(default = "default_refresh_margin")]
    pub refresh_margin_secs: i64,
    /// Milliseconds a request may take, from sending to the last byte of the response.
    #[serde(default = "default_timeout")]
    pub request_timeout_ms: u32,
    /// The largest XRPC response body accepted, in bytes.
    #[serde(default = "default_max_response")]
    pub max_response_bytes: u32,
    /// IndexedDB database name; lets several independent clients share an origin.
    #[serde(default = "default_db_name")]
    pub db_name: String,
}

fn default_scope() -> String {
    "atproto transition:generic".into()
}
fn default_handle_resolver() -> String {
    DEFAULT_HANDLE_RESOLVER.into()
}
fn default_plc() -> String {
    DEFAULT_PLC_DIRECTORY.into()
}
fn default_doh() -> String {
    DEFAULT_DOH.into()
}
fn default_methods() -> Vec<HandleMethod> {
    vec![
        HandleMethod::WellKnown,
        HandleMethod::Dns,
        HandleMethod::Xrpc,
    ]
}
fn default_refresh_margin() -> i64 {
    60
}
fn default_timeout() -> u32 {
    DEFAULT_REQUEST_TIMEOUT_MS
}
fn default_max_response() -> u32 {
    16 << 20
}
fn default_db_name() -> String {
    "atproto-oauth".into()
}

impl ClientConfig {
    /// Every field's name as JavaScript spells it (`new OAuthClient({...})`); anything else in
    /// a config object is refused, so a misspelt option is never silently ignored.
    pub const FIELDS: &'static [&'static str] = &[
        "clientId",
        "redirectUri",
        "scope",
        "handleResolver",
        "plcDirectoryUrl",
        "dohUrl",
        "handleResolution",
        "allowHttp",
        "responseMode",
        "refreshMarginSecs",
        "requestTimeoutMs",
        "maxResponseBytes",
        "dbName",
    ];

    /// A config with defaults for everything but the two required fields.
    pub fn new(client_id: &str, redirect_uri: &str) -> Self {
        ClientConfig {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            scope: default_scope(),
            handle_resolver: default_handle_resolver(),
            plc_directory_url: default_plc(),
            doh_url: default_doh(),
            handle_resolution: default_methods(),
            allow_http: false,
            response_mode: ResponseMode::Query,
            refresh_margin_secs: default_refresh_margin(),
            request_timeout_ms: default_timeout(),
            max_response_bytes: default_max_response(),
            db_name: default_db_name(),
        }
    }

    /// Checks everything that can be checked without the network, so mistakes surface at
    /// construction and not in the middle of a login.
    pub fn validate(&self) -> Result<()> {
        let client_id = Url::parse(&self.client_id)
            .ok_or_else(|| Error::new(ErrorCode::InvalidConfig, "clientId must be a URL"))?;
        let redirect = Url::parse(&self.redirect_uri)
            .ok_or_else(|| Error::new(ErrorCode::InvalidConfig, "redirectUri must be a URL"))?;
        let loopback_client =
            client_id.scheme() == "http" && client_id.host_str() == Some("localhost");
        if !loopback_client && client_id.scheme() != "https" {
            return err(ErrorCode::InvalidConfig, "clientId must be an https URL of the client metadata document, or the loopback form http://localhost?...");
        }
        if loopback_client && (client_id.port().is_some() || !matches!(client_id.path(), "" | "/"))
        {
            return err(ErrorCode::InvalidConfig, "a loopback clientId is exactly http://localhost with optional redirect_uri and scope query parameters");
        }
        if client_id.has_user_info() || redirect.has_user_info() {
            return err(
                ErrorCode::InvalidConfig,
                "clientId and redirectUri must not have user info",
            );
        }
        if redirect.fragment().is_some() {
            return err(
                ErrorCode::InvalidConfig,
                "redirectUri must not have a fragment",
            );
        }
        match redirect.scheme() {
            "https" => {}
            "http" if redirect.host_is_loopback_ip() => {}
            "http" => return err(ErrorCode::InvalidConfig, "an http redirectUri must use 127.0.0.1 or [::1] (not localhost), as the AT Protocol loopback rules require"),
            _ => return err(ErrorCode::InvalidConfig, "redirectUri must be http(s)"),
        }
        if !self.scope.pieces(b' ').any(|s| s == "atproto") {
            return err(ErrorCode::InvalidConfig, "scope must include \"atproto\"");
        }
        for (name, value) in [
            ("handleResolver", &self.handle_resolver),
            ("plcDirectoryUrl", &self.plc_directory_url),
            ("dohUrl", &self.doh_url),
        ] {
            self.check_url(value)
                .map_err(|e| Error::new(ErrorCode::InvalidConfig, msg!(name, ": ", e.message)))?;
        }
        if !(0..=MAX_REFRESH_MARGIN_SECS).contains(&self.refresh_margin_secs) {
            return err(
                ErrorCode::InvalidConfig,
                msg!(
                    "refreshMarginSecs must be from 0 to ",
                    crate::util::int(MAX_REFRESH_MARGIN_SECS)
                ),
            );
        }
        if !(1..=600_000).contains(&self.request_timeout_ms) {
            return err(
                ErrorCode::InvalidConfig,
                "requestTimeoutMs must be from 1 to 600000",
            );
        }
        // Up to 256 MiB: a response is copied into Wasm memory, where running out is a trap.
        if !(1024..=1 << 28).contains(&self.max_response_bytes) {
            return err(
                ErrorCode::InvalidConfig,
                "maxResponseBytes must be from 1024 to 268435456",
            );
        }
        if self.handle_resolution.is_empty() {
            return err(
                ErrorCode::InvalidConfig,
                "handleResolution must name at least one method",
            );
        }
        Ok(())
    }

    /// Parses a server URL and applies the transport policy: https always, http only when the
    /// app opted in for local development.
    pub(crate) fn check_url(&self, url: &str) -> Result<Url> {
        let parsed = Url::parse_given(url)?;
        // `fetch` refuses a URL with user info (`new Request` throws): a server's URL with it
        // is refused where it is read, not at the first request to it as the app's own error.
        if parsed.has_user_info() {
            return err(
                ErrorCode::InvalidResponse,
                msg!(url, ": user info is not allowed in a URL"),
            );
        }
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_http => Ok(parsed),
            "http" => err(
                ErrorCode::InsecureUrl,
                msg!(
                    url,
                    " is not https (set allowHttp: true for local development only)"
                ),
            ),
            other => err(
                ErrorCode::InvalidResponse,
                msg!(url, ": unsupported scheme ", other),
            ),
        }
    }
}

/// The loopback client id for development (atproto.com/specs/oauth, "Localhost Client
/// Development"): `http://localhost` carrying the redirect URI and scope as query parameters.
pub fn loopback_client_id(redirect_uri: &str, scope: &str) -> String {
    // Form encoding writes spaces as `+`; the spec's examples (and strict parsers) use %20.
    // A literal `+` was already escaped as %2B, so every `+` left is a space.
    let query = crate::util::replace(
        &crate::form::encode(&[("redirect_uri", redirect_uri), ("scope", scope)]),
        "+",
        "%20",
    );
    msg!("http://localhost?", query)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ClientConfig {
        let redirect = "http://127.0.0.1:8080/callback";
        ClientConfig::new(
            &loopback_client_id(redirect, "atproto transition:generic"),
            redirect,
        )
    }

    #[test]
    fn loopback_client_id_matches_spec_form() {
        assert_eq!(
            loopback_client_id("http://127.0.0.1:8080/callback", "atproto transition:generic"),
            "http://localhost?redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fcallback&scope=atproto%20transition%3Ageneric"
        );
    }

    #[test]
    fn validates_config() {
        cfg().validate().unwrap();
        let mut c = cfg();
        c.redirect_uri = "http://localhost:8080/callback".into();
        assert_eq!(c.validate().unwrap_err().code, ErrorCode::InvalidConfig);
        let mut c = cfg();
        c.client_id = "http://example.com/client-metadata.json".into();
        assert_eq!(c.validate().unwrap_err().code, ErrorCode::InvalidConfig);
        let mut c = cfg();
        c.scope = "transition:generic".into();
        assert_eq!(c.validate().unwrap_err().code, ErrorCode::InvalidConfig);
        let mut c = cfg();
        c.plc_directory_url = "http://localhost:2582".into();
        assert_eq!(c.validate().unwrap_err().code, ErrorCode::InvalidConfig);
        c.allow_http = true;
        c.validate().unwrap();
        let mut c = ClientConfig::new(
            "https://app.example/client-metadata.json",
            "https://app.example/cb",
        );
        c.validate().unwrap();
        c.handle_resolution.clear();
        assert!(c.validate().is_err());
        // A response over 256 MiB would be copied into Wasm memory (a trap when it runs out).
        for (bytes, ok) in [
            (1023, false),
            (1024, true),
            (1 << 28, true),
            ((1 << 28) + 1, false),
        ] {
            let mut c = cfg();
            c.max_response_bytes = bytes;
            assert_eq!(c.validate().is_ok(), ok, "{bytes}");
        }
        for margin in [-1, MAX_REFRESH_MARGIN_SECS + 1, i64::MIN, i64::MAX] {
            let mut c = cfg();
            c.refresh_margin_secs = margin;
            assert_eq!(
                c.validate().unwrap_err().code,
                ErrorCode::InvalidConfig,
                "{margin}"
            );
        }
    }

    #[test]
    fn http_refused_unless_opted_in() {
        let mut c = cfg();
        assert_eq!(
            c.check_url("http://localhost:2583").unwrap_err().code,
            ErrorCode::InsecureUrl
        );
        assert!(c.check_url("https://bsky.social").is_ok());
        assert!(c.check_url("ftp://x").is_err());
        // A URL with user info cannot be fetched (`new Request` throws): refused up front.
        for url in [
            "https://u:p@bsky.social",
            "https://u@bsky.social",
            "https://:p@x.example",
        ] {
            assert_eq!(
                c.check_url(url).unwrap_err().code,
                ErrorCode::InvalidResponse,
                "{url}"
            );
        }
        let mut with_user = cfg();
        with_user.handle_resolver = "https://u:p@resolver.example".into();
        assert_eq!(
            with_user.validate().unwrap_err().code,
            ErrorCode::InvalidConfig
        );
        // The app's own URLs too: the server would fetch, and redirect to, what no browser
        // sends a request to.
        for (client_id, redirect) in [
            ("https://u:p@app.example/m.json", "https://app.example/cb"),
            ("https://app.example/m.json", "https://u@app.example/cb"),
            ("https://app.example/m.json", "http://:p@127.0.0.1:8080/cb"),
        ] {
            let c = ClientConfig::new(client_id, redirect);
            let e = c.validate().unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidConfig, "{client_id} {redirect}");
            assert!(e.message.contains("user info"), "{e}");
        }
        c.allow_http = true;
        assert!(c.check_url("http://localhost:2583").is_ok());
    }

    #[test]
    fn fields_are_exactly_the_config_and_its_typescript() {
        let ts = include_str!("wasm/types.d.ts");
        let ts = &ts[ts.find("export interface OAuthClientConfig").unwrap()..];
        let ts = &ts[..ts.find("\n}").unwrap()];
        let mut all = serde_json::Map::new();
        for field in ClientConfig::FIELDS {
            assert!(
                ts.contains(&format!("\n  {field}")),
                "{field} in types.d.ts"
            );
            let value = match *field {
                "clientId" => "https://a.example/m.json".into(),
                "redirectUri" => "https://a.example/cb".into(),
                "handleResolution" => serde_json::json!(["dns"]),
                "allowHttp" => true.into(),
                "responseMode" => "fragment".into(),
                "refreshMarginSecs" | "requestTimeoutMs" | "maxResponseBytes" => 5000.into(),
                _ => "https://x.example".into(),
            };
            all.insert(field.to_string(), value);
        }
        let declared = ts.matches("?: ").count() + ts.matches(": string;").count();
        assert!(declared >= ClientConfig::FIELDS.len());
        // Every listed field is one serde knows (deny_unknown_fields would refuse it otherwise).
        serde_json::from_value::<ClientConfig>(all.into()).unwrap();
    }

    #[test]
    fn config_from_json_uses_defaults_and_refuses_unknown_fields() {
        let c: ClientConfig = serde_json::from_str(r#"{"clientId":"https://a.example/m.json","redirectUri":"https://a.example/cb","handleResolution":["xrpc"],"allowHttp":true}"#).unwrap();
        assert_eq!(c.handle_resolution, vec![HandleMethod::Xrpc]);
        assert_eq!(c.plc_directory_url, DEFAULT_PLC_DIRECTORY);
        assert!(c.allow_http);
        assert!(serde_json::from_str::<ClientConfig>(
            r#"{"clientId":"x","redirectUri":"y","bogus":1}"#
        )
        .is_err());
    }
}
