//! URLs as the WHATWG URL Standard parses them, with only what this crate does with them.
//!
//! The parsing itself is the platform's: the browser's own `URL` in wasm32 builds (so the
//! shipped `.wasm` carries no URL parser, IDNA or Unicode tables), the `url` crate in native
//! builds (tests, fuzzing). Both implement the same standard, and each hands back the URL's
//! serialization (`href`). Everything else (the parts, the origin, the query pairs, the few
//! changes the protocol makes) is read off that serialization here, by the same code on both
//! targets. `url/tests.rs` holds one table of URLs, hostile ones included, that is asserted
//! natively and in Chromium, Firefox and WebKit.

use std::ops::Range;

use crate::util;
use crate::util::AsciiSplit;

/// A parsed absolute URL: its serialization and where its parts are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
    href: String,
    /// The scheme, before the first `:`.
    scheme_end: usize,
    /// Present when the serialization has `//` after the scheme.
    authority: Option<Authority>,
    path: Range<usize>,
    /// After the `?`, up to the `#` or the end.
    query: Option<Range<usize>>,
    /// After the `#`.
    fragment: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Authority {
    username: Range<usize>,
    password: Option<Range<usize>>,
    host: Range<usize>,
    port: Option<Range<usize>>,
}

/// The serialization of `input` (resolved against `base` when given), or `None` when it is not
/// a valid URL.
#[cfg(target_arch = "wasm32")]
fn serialize(input: &str, base: Option<&str>) -> Option<String> {
    js::JsUrl::new(input, base).ok().map(|u| u.href())
}

#[cfg(target_arch = "wasm32")]
mod js {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// The global `URL` class (windows and workers alike).
        #[wasm_bindgen(js_name = URL)]
        pub(super) type JsUrl;
        /// `new URL(input, base)`; an absent base is `undefined`, which is no base.
        #[wasm_bindgen(constructor, js_class = "URL", catch)]
        pub(super) fn new(input: &str, base: Option<&str>) -> Result<JsUrl, JsValue>;
        #[wasm_bindgen(method, getter)]
        pub(super) fn href(this: &JsUrl) -> String;
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn serialize(input: &str, base: Option<&str>) -> Option<String> {
    let parsed = match base {
        None => ::url::Url::parse(input),
        Some(base) => ::url::Url::parse(base).and_then(|b| b.join(input)),
    };
    parsed.ok().map(String::from)
}

impl Url {
    /// Parses an absolute URL.
    pub fn parse(input: &str) -> Option<Url> {
        Url::split(serialize(input, None)?)
    }

    /// Parses a URL that a server (or state stored from one) gave: not being one is the
    /// server's fault, `InvalidResponse`.
    pub fn parse_given(input: &str) -> crate::error::Result<Url> {
        Url::parse(input).ok_or_else(|| {
            crate::error::Error::new(
                crate::error::ErrorCode::InvalidResponse,
                msg!(util::quoted(input), " is not a URL"),
            )
        })
    }

    /// Resolves `input` (absolute, or relative to this URL) as a browser resolves a link.
    pub fn join(&self, input: &str) -> Option<Url> {
        Url::split(serialize(input, Some(&self.href))?)
    }

    /// Finds the parts of a serialization. Every delimiter that can appear in one is found by
    /// its first occurrence: the serializer percent-encodes `#` before the fragment, `?` before
    /// the query, `/ ? # @` in the user info and `:` in the user name, and a host holds none.
    fn split(href: String) -> Option<Url> {
        let scheme_end = href.pos(b':')?;
        let fragment = href.pos(b'#').map(|i| i + 1);
        let end = fragment.map_or(href.len(), |f| f - 1);
        let mut path_start = scheme_end + 1;
        let mut authority = None;
        let rest = &href[path_start..end];
        if rest.starts_with("//") {
            let start = path_start + 2;
            let stop = href[start..end].find(['/', '?']).map_or(end, |i| start + i);
            authority = Some(Authority::split(&href, start, stop));
            path_start = stop;
        } else if rest.starts_with("/.//") {
            // A URL without a host whose path starts with `//` is written `scheme:/.//path`,
            // so that it does not read as a host; the `/.` is not part of the path.
            path_start += 2;
        }
        let (path_end, query) = match href[path_start..end].pos(b'?') {
            Some(i) => (path_start + i, Some(path_start + i + 1..end)),
            None => (end, None),
        };
        Some(Url {
            scheme_end,
            authority,
            path: path_start..path_end,
            query,
            fragment,
            href,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.href
    }

    pub fn into_string(self) -> String {
        self.href
    }

    /// Lowercase, without the `:`.
    pub fn scheme(&self) -> &str {
        &self.href[..self.scheme_end]
    }

    /// Percent-encoded, empty when there is none. (Compared with the `url` crate's.)
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn username(&self) -> &str {
        self.authority
            .as_ref()
            .map_or("", |a| &self.href[a.username.clone()])
    }

    /// Whether there is user info: a user name or a password (`fetch` sends to no such URL).
    pub fn has_user_info(&self) -> bool {
        self.authority
            .as_ref()
            .is_some_and(|a| !a.username.is_empty() || a.password.is_some())
    }

    /// Percent-encoded; `None` when there is none or it is empty. (Compared with the `url`
    /// crate's.)
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn password(&self) -> Option<&str> {
        let range = self.authority.as_ref()?.password.clone()?;
        Some(&self.href[range])
    }

    /// The host as serialized: a domain in ASCII (IDNA applied), an IPv4 address in dotted
    /// decimal, an IPv6 address in brackets. `None` when the URL has no host or an empty one.
    pub fn host_str(&self) -> Option<&str> {
        let host = &self.href[self.authority.as_ref()?.host.clone()];
        (!host.is_empty()).then_some(host)
    }

    /// The port, when it is not the scheme's default.
    pub fn port(&self) -> Option<u16> {
        let range = self.authority.as_ref()?.port.clone()?;
        crate::util::parse_int(&self.href[range]).and_then(|p| u16::try_from(p).ok())
    }

    pub fn path(&self) -> &str {
        &self.href[self.path.clone()]
    }

    /// Without the `?`; `Some("")` for a URL ending in `?`.
    pub fn query(&self) -> Option<&str> {
        Some(&self.href[self.query.clone()?])
    }

    /// Without the `#`; `Some("")` for a URL ending in `#`.
    pub fn fragment(&self) -> Option<&str> {
        Some(&self.href[self.fragment?..])
    }

    /// The query as `application/x-www-form-urlencoded` pairs, decoded.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        crate::form::parse(self.query().unwrap_or(""))
    }

    /// The ASCII serialization of the URL's origin: `scheme://host[:port]` for http(s), ws(s)
    /// and ftp; a `blob:` URL's is that of the http(s) URL inside it; every other URL's origin
    /// is opaque, serialized `null`.
    pub fn origin(&self) -> String {
        match self.scheme() {
            "http" | "https" | "ws" | "wss" | "ftp" => {
                let host = self.authority.as_ref().map_or(0..0, |a| {
                    a.host.start..a.port.as_ref().map_or(a.host.end, |p| p.end)
                });
                msg!(self.scheme(), "://", &self.href[host])
            }
            "blob" => Url::parse(self.path())
                .filter(|inner| matches!(inner.scheme(), "http" | "https"))
                .map_or_else(|| "null".into(), |inner| inner.origin()),
            _ => "null".into(),
        }
    }

    /// Whether the host is a loopback IP address (127.0.0.0/8 or `::1`). Only a special
    /// scheme's host is ever an IP address; the serializer writes an IPv4 host as four decimal
    /// numbers and the IPv6 loopback as `[::1]`, so comparing the text is enough.
    pub fn host_is_loopback_ip(&self) -> bool {
        if !matches!(
            self.scheme(),
            "http" | "https" | "ws" | "wss" | "ftp" | "file"
        ) {
            return false;
        }
        let Some(host) = self.host_str() else {
            return false;
        };
        if host == "[::1]" {
            return true;
        }
        host.pieces(b'.').count() == 4
            && host.starts_with("127.")
            && host
                .pieces(b'.')
                .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The URL up to its path: no query, no fragment (DPoP's `htu`).
    pub fn without_query_and_fragment(&self) -> &str {
        self.strip_opaque_path_spaces(&self.href[..self.path.end])
    }

    /// The URL without its fragment.
    pub fn without_fragment(&self) -> &str {
        match (self.fragment, &self.query) {
            (Some(f), None) => self.strip_opaque_path_spaces(&self.href[..f - 1]),
            (Some(f), Some(_)) => &self.href[..f - 1],
            (None, _) => &self.href,
        }
    }

    /// `href`, which ends with the path: an opaque path (`mailto:a `, no `/` after the scheme)
    /// that nothing follows any more loses its trailing spaces, as the standard's setters do.
    fn strip_opaque_path_spaces<'a>(&self, href: &'a str) -> &'a str {
        if self.authority.is_none() && !self.path().starts_with('/') {
            href.trim_end_byte(b' ')
        } else {
            href
        }
    }

    /// Appends `application/x-www-form-urlencoded` pairs to the query (creating it when there
    /// is none), keeping the fragment.
    pub fn append_query_pairs(&mut self, pairs: &[(&str, &str)]) {
        let mut query = self.query().unwrap_or("").to_owned();
        crate::form::append(&mut query, pairs);
        self.replace_query(Some(&query));
    }

    /// Replaces the query with these pairs, or removes it when there are none.
    pub fn set_query_pairs(&mut self, pairs: &[(String, String)]) {
        if pairs.is_empty() {
            self.replace_query(None);
        } else {
            self.replace_query(Some(&crate::form::encode(pairs)));
        }
    }

    /// Replaces the path of a URL with a host by `path`, an absolute path that needs no
    /// percent-encoding (a constant of this crate), keeping query and fragment.
    pub fn set_path(&mut self, path: &str) {
        debug_assert!(path.starts_with('/') && !path.contains(['?', '#', '%', '\\']));
        let href = msg!(
            &self.href[..self.path.start],
            path,
            &self.href[self.path.end..]
        );
        // (Re-splitting a URL this type produced cannot fail; if it did, the URL stays as it
        // was.)
        if let Some(url) = Url::split(href) {
            *self = url;
        }
    }

    /// `query` is already encoded (form pairs).
    fn replace_query(&mut self, query: Option<&str>) {
        let mut href = self.href[..self.path.end].to_owned();
        if query.is_none() && self.fragment.is_none() {
            href = self.strip_opaque_path_spaces(&href).to_owned();
        }
        if let Some(query) = query {
            href.push('?');
            href.push_str(query);
        }
        if let Some(fragment) = self.fragment() {
            href.push('#');
            href.push_str(fragment);
        }
        // (Re-splitting a URL this type produced cannot fail; if it did, the URL stays as it
        // was.)
        if let Some(url) = Url::split(href) {
            *self = url;
        }
    }
}

impl Authority {
    /// `[username[:password]@]host[:port]` in `href[start..stop]`.
    fn split(href: &str, start: usize, stop: usize) -> Authority {
        let text = &href[start..stop];
        // By bytes, as every search for an ASCII character here: `rfind` links a reverse char
        // searcher.
        let (username, password, host_start) = match text.bytes().rposition(|b| b == b'@') {
            Some(at) => {
                let info = &text[..at];
                match info.pos(b':') {
                    Some(colon) => (
                        start..start + colon,
                        (colon + 1 < at).then_some(start + colon + 1..start + at),
                        start + at + 1,
                    ),
                    None => (start..start + at, None, start + at + 1),
                }
            }
            None => (start..start, None, start),
        };
        let host_text = &href[host_start..stop];
        let host_len = if host_text.starts_with('[') {
            host_text.pos(b']').map_or(host_text.len(), |i| i + 1)
        } else {
            host_text.pos(b':').unwrap_or(host_text.len())
        };
        let host = host_start..host_start + host_len;
        let port = (host.end < stop).then_some(host.end + 1..stop);
        Authority {
            username,
            password,
            host,
            port,
        }
    }
}

/// Asserts that every part read off the serialization is the one the `url` crate reports, and
/// that the changes this type makes give what the `url` crate's own would (native tests and the
/// `url` fuzz target).
#[cfg(all(not(target_arch = "wasm32"), any(test, feature = "fuzzing")))]
pub(crate) fn assert_same_as_url_crate(theirs: &::url::Url, ours: &Url) {
    let input = theirs.as_str();
    assert_eq!(ours.as_str(), input);
    assert_eq!(ours.scheme(), theirs.scheme(), "{input}");
    assert_eq!(ours.username(), theirs.username(), "{input}");
    assert_eq!(ours.password(), theirs.password(), "{input}");
    let info = !theirs.username().is_empty() || theirs.password().is_some();
    assert_eq!(ours.has_user_info(), info, "{input}");
    assert_eq!(ours.host_str(), theirs.host_str(), "{input}");
    assert_eq!(ours.port(), theirs.port(), "{input}");
    assert_eq!(ours.path(), theirs.path(), "{input}");
    assert_eq!(ours.query(), theirs.query(), "{input}");
    assert_eq!(ours.fragment(), theirs.fragment(), "{input}");
    let loopback = match theirs.host() {
        Some(::url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(::url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    };
    assert_eq!(ours.host_is_loopback_ip(), loopback, "{input}");
    if theirs.scheme() != "blob" {
        assert_eq!(
            ours.origin(),
            theirs.origin().ascii_serialization(),
            "{input}"
        );
    }
    let mut theirs_htu = theirs.clone();
    theirs_htu.set_query(None);
    theirs_htu.set_fragment(None);
    assert_eq!(
        ours.without_query_and_fragment(),
        theirs_htu.as_str(),
        "{input}"
    );
    let mut theirs_unfragmented = theirs.clone();
    theirs_unfragmented.set_fragment(None);
    assert_eq!(
        ours.without_fragment(),
        theirs_unfragmented.as_str(),
        "{input}"
    );
    let mut theirs_cleared = theirs.clone();
    theirs_cleared.set_query(None);
    let mut ours_cleared = ours.clone();
    ours_cleared.set_query_pairs(&[]);
    assert_eq!(ours_cleared.as_str(), theirs_cleared.as_str(), "{input}");
    let mut theirs_set = theirs.clone();
    theirs_set
        .query_pairs_mut()
        .clear()
        .append_pair("k", "v w&");
    let mut ours_set = ours.clone();
    ours_set.set_query_pairs(&[("k".into(), "v w&".into())]);
    assert_eq!(ours_set.as_str(), theirs_set.as_str(), "{input}");
    let mut theirs_appended = theirs.clone();
    theirs_appended
        .query_pairs_mut()
        .append_pair("k", "v w&")
        .append_pair("x", "");
    let mut ours_appended = ours.clone();
    ours_appended.append_query_pairs(&[("k", "v w&"), ("x", "")]);
    assert_eq!(ours_appended.as_str(), theirs_appended.as_str(), "{input}");
}

#[cfg(test)]
mod tests;
