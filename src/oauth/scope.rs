//! AT Protocol permissions (atproto.com/specs/permission) as OAuth scope strings.
//!
//! The official authorization server compares each requested scope with the client metadata's
//! `scope` as plain strings, and writes the permissions of an `include:` set into the granted
//! scope in its own normalized form. So the builder emits exactly that form (the reference's
//! `@atproto/oauth-scopes` formatter): a lone positional value as `repo:x`, several as repeated
//! query parameters, defaults left out, repo actions in the order create/update/delete, lists
//! sorted and de-duplicated, and the query percent-encoded like `URLSearchParams` with
//! `: / + , @ %` left as they are. The same string can then be listed in the metadata,
//! requested, and found in a session's granted scopes.

use std::fmt::Write;

use serde::{Deserialize, Deserializer};

use crate::error::{Error, ErrorCode, Result};
use crate::identity::parse_did;

/// What a `repo:` permission allows on records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoAction {
    /// Create records.
    Create,
    /// Update records.
    Update,
    /// Delete records.
    Delete,
}

/// The part of the account an `account:` permission is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountAttr {
    /// The account's email address.
    Email,
    /// The whole repository (import a CAR file).
    Repo,
    /// The account's hosting status.
    Status,
}

/// How much control an `account:` permission gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountAction {
    /// See it (the default).
    #[default]
    Read,
    /// See and change it.
    Manage,
}

/// The part of the identity an `identity:` permission controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum IdentityAttr {
    /// The handle.
    #[serde(rename = "handle")]
    Handle,
    /// The whole DID document and handle.
    #[serde(rename = "*")]
    All,
}

/// One scope value: the base `atproto` scope, a transitional scope, or a permission of the
/// spec's resources. Objects in JavaScript have the spec's JSON shape (`resource` and its
/// parameters); a list parameter also takes a single string.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "resource", rename_all = "lowercase", deny_unknown_fields)]
pub enum Permission {
    /// `atproto`: required in every request.
    #[serde(skip)]
    Atproto,
    /// `transition:generic`: what app passwords allow.
    #[serde(skip)]
    TransitionGeneric,
    /// `transition:email`: read the account's email.
    #[serde(skip)]
    TransitionEmail,
    /// `transition:chat.bsky`: Bluesky chat (with `transition:generic`).
    #[serde(skip)]
    TransitionChatBsky,
    /// `repo:`: write records of these collections (NSIDs, or `*` for all).
    Repo {
        /// Collection NSIDs, or `*`.
        #[serde(deserialize_with = "one_or_many")]
        collection: Vec<String>,
        /// Allowed actions; `None` allows all three.
        #[serde(default, deserialize_with = "opt_one_or_many")]
        action: Option<Vec<RepoAction>>,
    },
    /// `rpc:`: call these methods (NSIDs, or `*`) on the service `aud` (`did…#service` or `*`).
    Rpc {
        /// Method NSIDs, or `*`.
        #[serde(deserialize_with = "one_or_many")]
        lxm: Vec<String>,
        /// The service: a DID with a `#fragment`, or `*` (not both `*`).
        aud: String,
    },
    /// `blob:`: upload blobs of these MIME types (`image/png`, `video/*`, `*/*`).
    Blob {
        /// MIME types or `type/*` patterns.
        #[serde(deserialize_with = "one_or_many")]
        accept: Vec<String>,
    },
    /// `account:`: read or manage part of the account.
    Account {
        /// Which part.
        attr: AccountAttr,
        /// Default `read`.
        #[serde(default)]
        action: AccountAction,
    },
    /// `identity:`: control the handle, or the whole identity.
    Identity {
        /// `handle` or `*`.
        attr: IdentityAttr,
    },
    /// `include:`: a permission set, by NSID, with an optional service for its `rpc` parts.
    Include {
        /// The permission set's NSID.
        nsid: String,
        /// A DID with a `#fragment`.
        #[serde(default)]
        aud: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

fn one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Vec<T>, D::Error> {
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

fn opt_one_or_many<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> std::result::Result<Option<Vec<T>>, D::Error> {
    one_or_many(d).map(Some)
}

const STATIC: [(&str, Permission); 4] = [
    ("atproto", Permission::Atproto),
    ("transition:generic", Permission::TransitionGeneric),
    ("transition:email", Permission::TransitionEmail),
    ("transition:chat.bsky", Permission::TransitionChatBsky),
];

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

impl Permission {
    /// The permission a scope string without parameters names (`atproto`, `transition:…`).
    pub fn from_static(value: &str) -> Result<Permission> {
        STATIC
            .iter()
            .find(|(s, _)| *s == value)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| {
                invalid(format!(
                    "{value:?} is not atproto or a transition: scope (describe permissions as objects)"
                ))
            })
    }

    /// The scope string, in the reference server's normalized form; `invalid_input` when a
    /// parameter breaks the spec.
    pub fn to_scope(&self) -> Result<String> {
        let (prefix, positional, params): (&str, Vec<String>, Vec<(&str, &str)>) = match self {
            Permission::Atproto => return Ok("atproto".into()),
            Permission::TransitionGeneric => return Ok("transition:generic".into()),
            Permission::TransitionEmail => return Ok("transition:email".into()),
            Permission::TransitionChatBsky => return Ok("transition:chat.bsky".into()),
            Permission::Repo { collection, action } => {
                let mut params = Vec::new();
                if let Some(action) = action {
                    if action.is_empty() {
                        return Err(invalid("repo action: an empty list allows nothing"));
                    }
                    // A subset is written in the spec's order; all three is the default.
                    let all = [
                        (RepoAction::Create, "create"),
                        (RepoAction::Update, "update"),
                        (RepoAction::Delete, "delete"),
                    ];
                    let kept: Vec<_> = all.iter().filter(|(a, _)| action.contains(a)).collect();
                    if kept.len() < all.len() {
                        params.extend(kept.iter().map(|(_, s)| ("action", *s)));
                    }
                }
                ("repo", names(collection, "repo collection")?, params)
            }
            Permission::Rpc { lxm, aud } => {
                let lxm = names(lxm, "rpc lxm")?;
                if aud != "*" {
                    check_did_ref(aud)?;
                } else if lxm == ["*"] {
                    return Err(invalid("rpc: lxm and aud cannot both be *"));
                }
                ("rpc", lxm, vec![("aud", aud.as_str())])
            }
            Permission::Blob { accept } => ("blob", accept_list(accept)?, vec![]),
            Permission::Account { attr, action } => {
                let attr = match attr {
                    AccountAttr::Email => "email",
                    AccountAttr::Repo => "repo",
                    AccountAttr::Status => "status",
                };
                let params = match action {
                    AccountAction::Read => vec![],
                    AccountAction::Manage => vec![("action", "manage")],
                };
                ("account", vec![attr.into()], params)
            }
            Permission::Identity { attr } => {
                let attr = match attr {
                    IdentityAttr::Handle => "handle",
                    IdentityAttr::All => "*",
                };
                ("identity", vec![attr.into()], vec![])
            }
            Permission::Include { nsid, aud } => {
                check_nsid(nsid, "include")?;
                let mut params = Vec::new();
                if let Some(aud) = aud {
                    check_did_ref(aud)?;
                    params.push(("aud", aud.as_str()));
                }
                ("include", vec![nsid.clone()], params)
            }
        };
        Ok(format_scope(prefix, &positional, &params))
    }
}

/// The scope string of `values`, space-separated, each in its normalized form and listed once
/// (the reference server refuses client metadata that lists a scope twice).
pub fn build_scope(values: &[Permission]) -> Result<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        let scope = value.to_scope()?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out.join(" "))
}

/// `prefix`, then a single positional value as `:value`, or several as repeated parameters
/// named after the resource's positional parameter, then the other parameters.
fn format_scope(prefix: &str, positional: &[String], params: &[(&str, &str)]) -> String {
    let mut out = prefix.to_string();
    let name = match prefix {
        "repo" => "collection",
        "rpc" => "lxm",
        "blob" => "accept",
        _ => "",
    };
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let [one] = positional {
        out.push(':');
        encode(&mut out, one, b"!~'()");
    } else {
        query.extend(positional.iter().map(|v| (name, v.as_str())));
    }
    query.extend_from_slice(params);
    for (i, (key, value)) in query.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(key);
        out.push('=');
        encode(&mut out, value, b"");
    }
    out
}

/// Percent-encodes like `encodeURIComponent` (positional part) or `URLSearchParams` (query),
/// then leaves `: / + , @ %` as they are, as the reference formatter does.
fn encode(out: &mut String, value: &str, also_safe: &[u8]) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.*:/+,@%".contains(&b) || also_safe.contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// NSIDs or `*`: non-empty; one `*` covers everything; several names are sorted, each once.
fn names(list: &[String], what: &str) -> Result<Vec<String>> {
    if list.is_empty() {
        return Err(invalid(format!("{what}: at least one is needed")));
    }
    for name in list.iter().filter(|n| *n != "*") {
        check_nsid(name, what)?;
    }
    let mut out = list.to_vec();
    if out.len() > 1 && out.iter().any(|n| n == "*") {
        return Ok(vec!["*".into()]);
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// MIME types and patterns, normalized as the reference does: lowercase; `*/*` alone covers
/// everything; `image/png` is dropped beside `image/*`; sorted, each once.
fn accept_list(list: &[String]) -> Result<Vec<String>> {
    if list.is_empty() {
        return Err(invalid("blob accept: at least one is needed"));
    }
    let mut out = Vec::new();
    for accept in list {
        let ok = accept == "*/*"
            || accept.split_once('/').is_some_and(|(kind, sub)| {
                let part = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'*')
                };
                part(kind) && (sub == "*" || part(sub))
            });
        if !ok {
            return Err(invalid(format!(
                "blob accept: {accept:?} is not a MIME type or a type/* pattern"
            )));
        }
        out.push(accept.to_ascii_lowercase());
    }
    if out.iter().any(|a| a == "*/*") {
        return Ok(vec!["*/*".into()]);
    }
    let wild: Vec<String> = out.iter().filter(|a| a.ends_with("/*")).cloned().collect();
    out.retain(|a| a.ends_with("/*") || !wild.iter().any(|w| a.starts_with(&w[..w.len() - 1])));
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// NSID syntax (atproto.com/specs/nsid): at least three dot-separated segments of letters,
/// digits and hyphens; the domain part's segments neither start nor end with a hyphen, the
/// first does not start with a digit, and the name is letters and digits, not starting with
/// a digit.
fn check_nsid(nsid: &str, what: &str) -> Result<()> {
    let segments: Vec<&str> = nsid.split('.').collect();
    let (name, domain) = segments.split_last().unwrap_or((&"", &[]));
    let domain_ok = domain.iter().enumerate().all(|(i, s)| {
        (1..=63).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !(i == 0 && s.starts_with(|c: char| c.is_ascii_digit()))
    });
    let name_ok = (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
        && !name.starts_with(|c: char| c.is_ascii_digit());
    if segments.len() >= 3 && nsid.len() <= 317 && domain_ok && name_ok {
        Ok(())
    } else {
        Err(invalid(format!("{what}: {nsid:?} is not an NSID")))
    }
}

/// A service reference: an atproto DID (`did:plc`, `did:web`) and a `#fragment`.
fn check_did_ref(aud: &str) -> Result<()> {
    let ok = aud.split_once('#').is_some_and(|(did, fragment)| {
        parse_did(did).is_ok()
            && !fragment.is_empty()
            && fragment.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "aud {aud:?} is not a DID with a #service fragment (did:web:api.example.com#svc)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: &str) -> Result<String> {
        serde_json::from_str::<Permission>(json)
            .map_err(|e| invalid(e.to_string()))?
            .to_scope()
    }

    /// Every expected string was printed by the reference formatter (`@atproto/oauth-scopes`
    /// 0.5.12, the version the pinned PDS runs: `new RepoPermission(...).toString()` etc.).
    #[test]
    fn each_resource_is_written_as_the_reference_writes_it() {
        let cases = [
            (
                r#"{"resource":"repo","collection":"app.bsky.feed.post"}"#,
                "repo:app.bsky.feed.post",
            ),
            (
                r#"{"resource":"repo","collection":["app.bsky.feed.post"],"action":["create","update","delete"]}"#,
                "repo:app.bsky.feed.post",
            ),
            (
                r#"{"resource":"repo","collection":"com.example.allowed","action":"create"}"#,
                "repo:com.example.allowed?action=create",
            ),
            (
                r#"{"resource":"repo","collection":"app.bsky.feed.post","action":["delete","update"]}"#,
                "repo:app.bsky.feed.post?action=update&action=delete",
            ),
            (
                r#"{"resource":"repo","collection":["app.example.profile","app.example.post","app.example.post"]}"#,
                "repo?collection=app.example.post&collection=app.example.profile",
            ),
            (
                r#"{"resource":"repo","collection":["b.example.x","a.example.y"],"action":["delete","create"]}"#,
                "repo?collection=a.example.y&collection=b.example.x&action=create&action=delete",
            ),
            (
                r#"{"resource":"repo","collection":["*","app.example.post"],"action":"delete"}"#,
                "repo:*?action=delete",
            ),
            (r#"{"resource":"repo","collection":"*"}"#, "repo:*"),
            (
                r#"{"resource":"rpc","lxm":"app.bsky.feed.getTimeline","aud":"did:web:api.bsky.app#bsky_appview"}"#,
                "rpc:app.bsky.feed.getTimeline?aud=did:web:api.bsky.app%23bsky_appview",
            ),
            (
                r#"{"resource":"rpc","lxm":"app.example.moderation.createReport","aud":"*"}"#,
                "rpc:app.example.moderation.createReport?aud=*",
            ),
            (
                r#"{"resource":"rpc","lxm":["b.example.get","a.example.get"],"aud":"did:web:api.example.com#svc_appview"}"#,
                "rpc?lxm=a.example.get&lxm=b.example.get&aud=did:web:api.example.com%23svc_appview",
            ),
            (
                r#"{"resource":"rpc","lxm":["*","a.example.get"],"aud":"did:web:api.example.com#svc_appview"}"#,
                "rpc:*?aud=did:web:api.example.com%23svc_appview",
            ),
            (
                r#"{"resource":"rpc","lxm":"a.example.get","aud":"did:web:localhost%3A2584#svc"}"#,
                "rpc:a.example.get?aud=did:web:localhost%3A2584%23svc",
            ),
            (r#"{"resource":"blob","accept":"*/*"}"#, "blob:*/*"),
            (
                r#"{"resource":"blob","accept":["image/png","*/*"]}"#,
                "blob:*/*",
            ),
            (r#"{"resource":"blob","accept":"image/*"}"#, "blob:image/*"),
            (
                r#"{"resource":"blob","accept":["video/*","text/html","IMAGE/PNG","video/mp4"]}"#,
                "blob?accept=image/png&accept=text/html&accept=video/*",
            ),
            (
                r#"{"resource":"blob","accept":"application/ld+json"}"#,
                "blob:application/ld+json",
            ),
            (r#"{"resource":"account","attr":"email"}"#, "account:email"),
            (
                r#"{"resource":"account","attr":"email","action":"read"}"#,
                "account:email",
            ),
            (
                r#"{"resource":"account","attr":"repo","action":"manage"}"#,
                "account:repo?action=manage",
            ),
            (
                r#"{"resource":"account","attr":"status","action":"manage"}"#,
                "account:status?action=manage",
            ),
            (
                r#"{"resource":"identity","attr":"handle"}"#,
                "identity:handle",
            ),
            (r#"{"resource":"identity","attr":"*"}"#, "identity:*"),
            (
                r#"{"resource":"include","nsid":"app.example.authFull"}"#,
                "include:app.example.authFull",
            ),
            (
                r#"{"resource":"include","nsid":"app.example.authFull","aud":"did:web:api.example.com#svc_chat"}"#,
                "include:app.example.authFull?aud=did:web:api.example.com%23svc_chat",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(scope(json).unwrap(), want, "{json}");
        }
    }

    #[test]
    fn static_values_and_a_whole_scope() {
        for name in [
            "atproto",
            "transition:generic",
            "transition:email",
            "transition:chat.bsky",
        ] {
            assert_eq!(
                Permission::from_static(name).unwrap().to_scope().unwrap(),
                name
            );
        }
        let values = [
            Permission::Atproto,
            Permission::Repo {
                collection: vec!["com.example.allowed".into()],
                action: Some(vec![RepoAction::Create]),
            },
            Permission::Atproto,
            Permission::Blob {
                accept: vec!["image/*".into()],
            },
            Permission::TransitionEmail,
        ];
        assert_eq!(
            build_scope(&values).unwrap(),
            "atproto repo:com.example.allowed?action=create blob:image/* transition:email",
            "in order, each once"
        );
    }

    #[test]
    fn invalid_permissions_are_invalid_input() {
        let bad = [
            r#"{"resource":"repo","collection":[]}"#,
            r#"{"resource":"repo","collection":"app.bsky.*"}"#,
            r#"{"resource":"repo","collection":"post"}"#,
            r#"{"resource":"repo","collection":"app.bsky.feed.post","action":[]}"#,
            r#"{"resource":"repo","collection":"app.bsky.feed.post","action":"read"}"#,
            r#"{"resource":"repo","collection":"1app.bsky.post"}"#,
            r#"{"resource":"repo","collection":"app.bsky.feed.po-st"}"#,
            r#"{"resource":"repo","collection":"app.bsky.feed.post","bogus":1}"#,
            r#"{"resource":"rpc","lxm":"app.bsky.feed.getTimeline"}"#,
            r#"{"resource":"rpc","lxm":"*","aud":"*"}"#,
            r#"{"resource":"rpc","lxm":"a.b.c","aud":"did:web:api.bsky.app"}"#,
            r#"{"resource":"rpc","lxm":"a.b.c","aud":"did:example:x#svc"}"#,
            r#"{"resource":"rpc","lxm":"a.b.c","aud":"did:web:api.bsky.app#"}"#,
            r#"{"resource":"blob","accept":"image"}"#,
            r#"{"resource":"blob","accept":"*/png"}"#,
            r#"{"resource":"blob","accept":"image/pn*"}"#,
            r#"{"resource":"blob","accept":"image/png jpeg"}"#,
            r#"{"resource":"account","attr":"*"}"#,
            r#"{"resource":"account","attr":"email","action":"write"}"#,
            r#"{"resource":"identity","attr":"did"}"#,
            r#"{"resource":"include","nsid":"app.example.authFull","aud":"*"}"#,
            r#"{"resource":"include"}"#,
            r#"{"resource":"atproto"}"#,
            r#"{"resource":"space","attr":"x"}"#,
        ];
        for json in bad {
            assert_eq!(
                scope(json).unwrap_err().code,
                ErrorCode::InvalidInput,
                "{json}"
            );
        }
        for name in ["openid", "transition:", "repo:app.bsky.feed.post", ""] {
            assert_eq!(
                Permission::from_static(name).unwrap_err().code,
                ErrorCode::InvalidInput
            );
        }
    }
}
