//! Authenticated requests to the session's PDS (refreshing ahead of expiry and once after
//! `invalid_token`): raw ones as the AT Protocol SDKs make them (`fetch`), XRPC calls with
//! typed errors (`xrpc`), and `com.atproto.repo.listRecords` paging.

use std::future::Future;

use super::session::Live;
use super::Client;
use crate::dpop::{self, BoundToken};
use crate::error::{err, Error, ErrorCode, Result};
use crate::json::{required, set, FromJson, JsonError, JsonResult, Reader};
use crate::platform::{Body, BodySink, Cancel, HttpRequest, HttpResponse, Platform};
use crate::settled::Settled;
use crate::util::AsciiSplit;
use crate::util::{self, json_body};

/// One XRPC call, as the app describes it.
#[derive(Clone, Debug)]
pub struct XrpcRequest {
    /// `GET` (query) or `POST` (procedure).
    pub method: String,
    /// The method's NSID, e.g. `com.atproto.repo.createRecord`.
    pub nsid: String,
    /// Query parameters, in order (a key may repeat).
    pub params: Vec<(String, String)>,
    /// The request body.
    pub body: Option<Body>,
    /// The body's content type.
    pub content_type: Option<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// The service the PDS forwards the call to (`atproto-proxy`), e.g.
    /// `did:web:api.bsky.app#bsky_appview`.
    pub proxy: Option<String>,
    /// A 2xx answer goes to the app as it is (see `HttpRequest::keep_body`); not for a call
    /// whose answer the client reads (`listRecords` for `fetchRecords`).
    pub keep_body: Option<BodySink>,
}

impl XrpcRequest {
    /// The request as it goes to the PDS: `/xrpc/<nsid>?<params>`.
    fn to_pds_request(&self) -> Result<PdsRequest> {
        check_nsid(&self.nsid)?;
        let mut path = msg!("/xrpc/", self.nsid);
        if !self.params.is_empty() {
            path.push('?');
            path.push_str(&crate::form::encode(&self.params));
        }
        let mut headers = self.headers.clone();
        if let Some(ct) = &self.content_type {
            headers.push(("content-type".into(), ct.clone()));
        }
        Ok(PdsRequest {
            method: self.method.clone(),
            path,
            headers,
            body: self.body.clone(),
            cancel: None,
            keep_body: self.keep_body.clone(),
        }
        .with_default_proxy(self.proxy.as_deref()))
    }
}

/// A request to the session's PDS as an SDK hands it over (`fetchHandler(pathname, init)`):
/// the path with its query, resolved against the PDS; whatever status comes back is returned.
#[derive(Clone, Debug)]
pub struct PdsRequest {
    /// The HTTP method.
    pub method: String,
    /// Path and query, e.g. `/xrpc/com.atproto.repo.listRecords?repo=did:plc:…`.
    pub path: String,
    /// Request headers (an `authorization` or `dpop` header of the app's is dropped: the
    /// session's own are sent).
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Option<Body>,
    /// The caller's way to give up (an SDK's `AbortSignal`): once it fired, no attempt is sent.
    pub cancel: Option<Cancel>,
    /// A 2xx answer goes to the app as it is (see `HttpRequest::keep_body`).
    pub keep_body: Option<BodySink>,
}

/// The `atproto-proxy` header's name.
const PROXY_HEADER: &str = "atproto-proxy";

impl PdsRequest {
    /// Adds `atproto-proxy: proxy` unless the request names a service itself (a per-call
    /// header wins over the session's default).
    pub fn with_default_proxy(mut self, proxy: Option<&str>) -> Self {
        if let Some(proxy) = proxy {
            if !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(PROXY_HEADER))
            {
                self.headers.push((PROXY_HEADER.into(), proxy.into()));
            }
        }
        self
    }
}

/// An `atproto-proxy` value: a DID and a service id, `did:web:api.bsky.app#bsky_appview`. The
/// PDS would refuse anything else, after a round trip; a header value cannot hold a newline.
pub fn check_proxy(value: &str) -> Result<()> {
    let ok = value.cut(b'#').is_some_and(|(did, service)| {
        crate::identity::parse_did(did).is_ok()
            && !service.is_empty()
            && service
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || util::one_of(b, b"-._~:"))
    });
    if ok {
        Ok(())
    } else {
        err(
            ErrorCode::InvalidInput,
            msg!(
                util::quoted(value),
                " is not a service reference like did:web:api.bsky.app#bsky_appview"
            ),
        )
    }
}

/// What to list with `com.atproto.repo.listRecords`.
#[derive(Clone, Debug, Default)]
pub struct RecordsQuery {
    /// The repository; default the signed-in account's DID.
    pub repo: Option<String>,
    /// The collection NSID.
    pub collection: String,
    /// Records per page (the server caps it).
    pub limit: Option<i64>,
    /// Where to start.
    pub cursor: Option<String>,
    /// Oldest first.
    pub reverse: Option<bool>,
}

impl RecordsQuery {
    /// The XRPC request for one page, starting at `cursor` (default the query's own).
    pub fn request(&self, did: &str, cursor: Option<&str>) -> XrpcRequest {
        let repo = self.repo.clone().unwrap_or_else(|| did.to_string());
        let mut params = vec![
            ("repo".to_string(), repo),
            ("collection".to_string(), self.collection.clone()),
        ];
        if let Some(limit) = self.limit {
            params.push(("limit".into(), util::int(limit)));
        }
        if let Some(cursor) = cursor.or(self.cursor.as_deref()) {
            params.push(("cursor".into(), cursor.to_string()));
        }
        if let Some(reverse) = self.reverse {
            params.push((
                "reverse".into(),
                String::from(if reverse { "true" } else { "false" }),
            ));
        }
        XrpcRequest {
            method: "GET".into(),
            nsid: "com.atproto.repo.listRecords".into(),
            params,
            body: None,
            content_type: None,
            headers: Vec::new(),
            proxy: None,
            keep_body: None,
        }
    }
}

/// The most records taken from one `listRecords` page (ten times the lexicon's limit of 100).
const MAX_PAGE_RECORDS: u32 = 1000;

/// A page of `listRecords`; the records stay raw JSON, handed to the app as they came.
pub struct RecordsPage {
    /// The records, each the JSON text the server sent.
    pub records: Vec<String>,
    /// Where the next page starts; `None` on the last.
    pub cursor: Option<String>,
}

impl FromJson for RecordsPage {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut records, mut cursor) = (None, None);
        r.object(&mut |r, key| match key {
            "records" => {
                // The lexicon's most is 100 a page: a page of millions of tiny records (`[0,0,…]`
                // in 16 MiB) is a `String` each, some 26 times the body in Wasm memory.
                let mut left = MAX_PAGE_RECORDS;
                let list = r.list(|r| {
                    left = left.checked_sub(1).ok_or_else(|| {
                        JsonError(msg!(
                            "more than ",
                            crate::util::int(MAX_PAGE_RECORDS as i64),
                            " records in a page"
                        ))
                    })?;
                    r.raw().map(str::to_string)
                })?;
                set(&mut records, key, list)
            }
            "cursor" => set(&mut cursor, key, r.opt_string()?),
            _ => r.skip(),
        })?;
        // The lexicon requires `records`: an answer without it is not a page.
        Ok(RecordsPage {
            records: required(records, "records")?,
            cursor: cursor.flatten(),
        })
    }
}

impl RecordsPage {
    /// A `listRecords` answer as a page; one that is not a page is `invalid_response`.
    pub fn from_response(resp: &HttpResponse) -> Result<Self> {
        json_body(&resp.body, "listRecords")
    }

    /// `{ records, cursor }` as JSON: the records as they came, nothing else the server added,
    /// and no `cursor` on the last page (not `null`: `cursor?: string`).
    pub fn to_json(&self) -> String {
        let cursor = self.cursor.as_deref().map(crate::json::string);
        let cursor = cursor.map(|c| msg!(",\"cursor\":", c)).unwrap_or_default();
        msg!(
            "{\"records\":[",
            util::join(&self.records, ","),
            "]",
            cursor,
            "}"
        )
    }
}

/// XRPC method names: reverse-DNS segments, so nothing can escape the `/xrpc/` path.
fn check_nsid(nsid: &str) -> Result<()> {
    let ok = nsid.pieces(b'.').count() >= 3
        && nsid
            .pieces(b'.')
            .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(())
    } else {
        err(
            ErrorCode::InvalidInput,
            msg!(util::quoted(nsid), " is not an NSID"),
        )
    }
}

pub(crate) fn is_invalid_token(resp: &HttpResponse) -> bool {
    resp.header("www-authenticate")
        .is_some_and(|h| util::contains(h, "invalid_token"))
}

fn xrpc_error(resp: &HttpResponse, nsid: &str) -> Error {
    let body = resp.error_body().unwrap_or_default();
    let (error, message) = (body.error, body.message);
    let said = msg!(
        "HTTP ",
        util::int(resp.status.into()),
        error.as_deref().map(|e| msg!(": ", e)).unwrap_or_default(),
        message
            .as_deref()
            .map(|m| msg!(" (", m, ")"))
            .unwrap_or_default()
    );
    let mut e = match insufficient_scope(resp, error.as_deref(), message.as_deref()) {
        Some(missing) => {
            let mut e = Error::new(
                ErrorCode::InsufficientScope,
                msg!(
                    nsid,
                    " needs ",
                    missing.as_deref().unwrap_or("a scope"),
                    ", which the session was not granted (",
                    said,
                    ")"
                ),
            );
            e.missing_scope = missing;
            e
        }
        None => Error::new(ErrorCode::XrpcError, msg!(nsid, " failed with ", said)),
    };
    e.server_error = error;
    e.status = Some(resp.status);
    e
}

/// Whether a response refuses the call for a missing scope, and which scope, when it says.
/// The official PDS answers 403 `{"error":"ScopeMissingError","message":"Missing required
/// scope \"repo:…\""}` (no `WWW-Authenticate`); an RFC 6750 server answers 403 with
/// `WWW-Authenticate: … error="insufficient_scope", scope="…"`.
fn insufficient_scope(
    resp: &HttpResponse,
    error: Option<&str>,
    message: Option<&str>,
) -> Option<Option<String>> {
    let challenge = resp
        .header("www-authenticate")
        .filter(|h| util::contains(h, "\"insufficient_scope\""));
    if resp.status != 403 || (error != Some("ScopeMissingError") && challenge.is_none()) {
        return None;
    }
    let quoted = |text: &str, after: &str| {
        let rest = &text[util::find(text, after)? + after.len()..];
        rest.pieces(b'"')
            .next()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Some(
        message
            .and_then(|m| quoted(m, "scope \""))
            .or_else(|| challenge.and_then(|h| quoted(h, "scope=\""))),
    )
}

impl<P: Platform> Client<P> {
    /// An authenticated XRPC call to the session's PDS: refreshes ahead of expiry, and once
    /// more if the PDS says the token is invalid. A non-2xx answer is an `XrpcError`.
    pub async fn xrpc(&self, did: &str, req: &XrpcRequest) -> Result<HttpResponse> {
        let resp = self.fetch(did, &req.to_pds_request()?).settled().await?;
        if !resp.is_success() {
            return Err(xrpc_error(&resp, &req.nsid));
        }
        Ok(resp)
    }

    /// An authenticated request to the session's PDS, as SDKs make them: refreshes ahead of
    /// expiry, and once more if the PDS says the token is invalid. Any HTTP status is an
    /// answer, not an error; only a request that never got one (network, timeout, an expired
    /// session) fails.
    pub async fn fetch(&self, did: &str, req: &PdsRequest) -> Result<HttpResponse> {
        if let Some((_, proxy)) = req
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(PROXY_HEADER))
        {
            check_proxy(proxy)?;
        }
        let mut live = self.live(did).settled().await?;
        // Refreshed ahead of expiry, or after the PDS refused the token once. (One await of
        // each call for both passes: each await is code.)
        let mut refused = false;
        loop {
            if refused
                || live
                    .session
                    .needs_refresh(self.now(), self.cfg.refresh_margin_secs)
            {
                live = self
                    .refresh_replacing(did, &live.session.access_token)
                    .settled()
                    .await?;
            }
            // Built from the session as it is now: a refresh may have found the account on
            // another PDS, and the token must go there, not to the one it left.
            let (request, target) = self.pds_request(&live.session.pds, req)?;
            let resp = self.send_bound(&live, &request, &target).settled().await?;
            if refused || resp.status != 401 || !is_invalid_token(&resp) {
                return Ok(resp);
            }
            refused = true;
        }
    }

    /// The HTTP request for `req`: its path resolved against the PDS, which it may not leave
    /// (the access token goes with it), and its DPoP target, read off the URL parsed here.
    fn pds_request(&self, pds: &str, req: &PdsRequest) -> Result<(HttpRequest, dpop::Target)> {
        let mut memo = self.pds_base.borrow_mut();
        let base = match &*memo {
            Some((given, base)) if given == pds => base,
            _ => &memo.insert((pds.to_string(), self.cfg.check_url(pds)?)).1,
        };
        let url = base
            .join(&req.path)
            .filter(|u| {
                req.path.starts_with('/')
                    && !req.path.starts_with("//")
                    && u.origin() == base.origin()
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::InvalidInput,
                    msg!(
                        util::quoted(&req.path),
                        " is not a path on the PDS (like /xrpc/<nsid>)"
                    ),
                )
            })?;
        let method = req.method.to_ascii_uppercase();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return err(
                ErrorCode::InvalidInput,
                msg!(util::quoted(&req.method), " is not an HTTP method"),
            );
        }
        // The session's own credentials are the only ones sent.
        let mut headers = Vec::new();
        for (k, v) in &req.headers {
            if !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("dpop") {
                headers.push((k.clone(), v.clone()));
            }
        }
        let target = dpop::Target::at(&url);
        let request = HttpRequest {
            method,
            url: url.into_string(),
            headers,
            body: req.body.clone(),
            max_body: self.cfg.max_response_bytes as usize,
            keep_body: req.keep_body.clone(),
            cancel: req.cancel.clone(),
        };
        Ok((request, target))
    }

    /// (`dpop_send`'s future itself: an `async fn` around it would be one more state machine.)
    fn send_bound<'a>(
        &'a self,
        live: &'a Live<P::Key>,
        request: &'a HttpRequest,
        target: &'a dpop::Target,
    ) -> impl Future<Output = Result<HttpResponse>> + 'a {
        let access = BoundToken {
            token: live.session.access_token.expose(),
            ath: &live.ath,
        };
        self.dpop_send(&live.key, request, Some(target), Some(access))
    }

    /// Every record of the query, page after page, up to `max` records, and up to 16 times
    /// `maxResponseBytes` of them, 32 bytes counted for each besides its text (never more than
    /// 256 MiB): every page is held until the walk
    /// ends, and copied once more on its way to JavaScript, so a server answering page after
    /// page of large records would otherwise fill Wasm memory, where an allocation that fails
    /// is a trap.
    pub async fn list_all_records(
        &self,
        did: &str,
        query: &RecordsQuery,
        max: usize,
    ) -> Result<Vec<String>> {
        let budget = (self.cfg.max_response_bytes as usize)
            .saturating_mul(16)
            .min(1 << 28);
        let mut held = 0usize;
        let mut all = Vec::new();
        let mut cursor = query.cursor.clone();
        // A server whose cursors come round again (the one it was given, or a → b → a) would
        // page forever. Brent's cycle detection: each cursor is compared with one kept from
        // earlier, which moves to the latest after 1, 2, 4, … pages; any cycle meets it again
        // within twice its length, in constant memory.
        let mut kept = cursor.clone();
        let (mut span, mut since) = (1u32, 0u32);
        while all.len() < max {
            let resp = self
                .xrpc(did, &query.request(did, cursor.as_deref()))
                .settled()
                .await?;
            let mut page = RecordsPage::from_response(&resp)?;
            let got = page.records.len();
            page.records.truncate(max - all.len());
            // Each record is a string of its own: 32 bytes besides its text (its place in the
            // list, its allocation), or pages of one-byte records would pass the budget at 30
            // times its size.
            for record in &page.records {
                held += record.len() + 32;
            }
            if held > budget {
                return Err(Error::new(
                    ErrorCode::ResponseTooLarge,
                    msg!(
                        "the records are more than ",
                        crate::util::int(budget as i64),
                        " bytes together (fetchRecords reads them a page at a time)"
                    ),
                ));
            }
            all.append(&mut page.records);
            cursor = page.cursor;
            if cursor.is_none() || got == 0 || cursor == kept {
                break;
            }
            since += 1;
            if since == span {
                kept = cursor.clone();
                (span, since) = (span.saturating_mul(2), 0);
            }
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::check_nsid;

    /// `check_nsid` against its earlier form (the segments collected into a vector first), on
    /// every string of up to 7 pieces of a set that makes each of its rules matter.
    #[test]
    fn xrpc_method_names_as_before() {
        fn before(nsid: &str) -> bool {
            let segments: Vec<&str> = nsid.split('.').collect();
            segments.len() >= 3
                && segments.iter().all(|s| {
                    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        }
        for s in crate::testing::strings_of(&["a", "1", "-", ".", "/"], 7) {
            assert_eq!(check_nsid(&s).is_ok(), before(&s), "{s}");
        }
    }
}
