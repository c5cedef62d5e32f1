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
//!
//! The work is table-driven (one schema per resource, as in the reference) over a permission
//! given as its properties, which is what JavaScript passes; the typed [`Permission`] of the
//! Rust API is turned into the same properties.

use crate::error::{Error, ErrorCode, Result};
use crate::identity::parse_did;
use crate::util;
use crate::util::AsciiSplit;

/// What a `repo:` permission allows on records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepoAction {
    /// Create records.
    Create,
    /// Update records.
    Update,
    /// Delete records.
    Delete,
}

/// The part of the account an `account:` permission is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountAttr {
    /// The account's email address.
    Email,
    /// The whole repository (import a CAR file).
    Repo,
    /// The account's hosting status.
    Status,
}

/// How much control an `account:` permission gives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccountAction {
    /// See it (the default).
    #[default]
    Read,
    /// See and change it.
    Manage,
}

/// The part of the identity an `identity:` permission controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentityAttr {
    /// The handle.
    Handle,
    /// The whole DID document and handle.
    All,
}

/// One scope value: the base `atproto` scope, a transitional scope, or a permission of one of
/// the spec's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Permission {
    /// `atproto`: required in every request.
    Atproto,
    /// `transition:generic`: what app passwords allow.
    TransitionGeneric,
    /// `transition:email`: read the account's email.
    TransitionEmail,
    /// `transition:chat.bsky`: Bluesky chat (with `transition:generic`).
    TransitionChatBsky,
    /// `repo:`: write records of these collections (NSIDs, or `*` for all).
    Repo {
        /// Collection NSIDs, or `*`.
        collection: Vec<String>,
        /// Allowed actions; `None` allows all three.
        action: Option<Vec<RepoAction>>,
    },
    /// `rpc:`: call these methods (NSIDs, or `*`) on the service `aud` (`did…#service` or `*`).
    Rpc {
        /// Method NSIDs, or `*`.
        lxm: Vec<String>,
        /// The service: a DID with a `#fragment`, or `*` (not both `*`).
        aud: String,
    },
    /// `blob:`: upload blobs of these MIME types (`image/png`, `video/*`, `*/*`).
    Blob {
        /// MIME types or `type/*` patterns.
        accept: Vec<String>,
    },
    /// `account:`: read or manage part of the account.
    Account {
        /// Which part.
        attr: AccountAttr,
        /// Default `read`.
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
        aud: Option<String>,
    },
}

/// A permission's properties: name and values (one for a single-valued parameter).
pub(crate) type Fields = [(String, Vec<String>)];

impl Permission {
    /// The scope string, in the reference server's normalized form; `invalid_input` when a
    /// parameter breaks the spec.
    pub fn to_scope(&self) -> Result<String> {
        let static_name = match self {
            Permission::Atproto => "atproto",
            Permission::TransitionGeneric => "transition:generic",
            Permission::TransitionEmail => "transition:email",
            Permission::TransitionChatBsky => "transition:chat.bsky",
            _ => "",
        };
        if !static_name.is_empty() {
            return static_scope(static_name);
        }
        let one = |k: &str, v: &str| (k.to_string(), vec![v.to_string()]);
        let mut fields = Vec::new();
        match self {
            Permission::Repo { collection, action } => {
                fields.push(one("resource", "repo"));
                fields.push(("collection".into(), collection.clone()));
                if let Some(action) = action {
                    let names = action.iter().map(|a| {
                        match a {
                            RepoAction::Create => "create",
                            RepoAction::Update => "update",
                            RepoAction::Delete => "delete",
                        }
                        .to_string()
                    });
                    fields.push(("action".into(), names.collect()));
                }
            }
            Permission::Rpc { lxm, aud } => {
                fields.push(one("resource", "rpc"));
                fields.push(("lxm".into(), lxm.clone()));
                fields.push(one("aud", aud));
            }
            Permission::Blob { accept } => {
                fields.push(one("resource", "blob"));
                fields.push(("accept".into(), accept.clone()));
            }
            Permission::Account { attr, action } => {
                fields.push(one("resource", "account"));
                let attr = match attr {
                    AccountAttr::Email => "email",
                    AccountAttr::Repo => "repo",
                    AccountAttr::Status => "status",
                };
                fields.push(one("attr", attr));
                if *action == AccountAction::Manage {
                    fields.push(one("action", "manage"));
                }
            }
            Permission::Identity { attr } => {
                fields.push(one("resource", "identity"));
                fields.push(one(
                    "attr",
                    if *attr == IdentityAttr::All {
                        "*"
                    } else {
                        "handle"
                    },
                ));
            }
            Permission::Include { nsid, aud } => {
                fields.push(one("resource", "include"));
                fields.push(one("nsid", nsid));
                if let Some(aud) = aud {
                    fields.push(one("aud", aud));
                }
            }
            _ => {}
        }
        permission_scope(&fields)
    }
}

/// The scope string of `values`, space-separated, each in its normalized form and listed once
/// (the reference server refuses client metadata that lists a scope twice).
pub fn build_scope(values: &[Permission]) -> Result<String> {
    let scopes = values
        .iter()
        .map(Permission::to_scope)
        .collect::<Result<Vec<_>>>()?;
    Ok(join_unique(scopes))
}

/// Scope values space-separated, each once, in order.
pub(crate) fn join_unique(scopes: Vec<String>) -> String {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    crate::util::join(&out, " ")
}

/// A scope value without parameters: `atproto` or a `transition:` scope.
pub(crate) fn static_scope(value: &str) -> Result<String> {
    if [
        "atproto",
        "transition:generic",
        "transition:email",
        "transition:chat.bsky",
    ]
    .contains(&value)
    {
        Ok(value.into())
    } else {
        Err(invalid(msg!(
            util::quoted(value),
            " is not atproto or a transition: scope (permissions are objects)"
        )))
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

/// What a parameter's values may be.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// An NSID, or `*` for all.
    NsidOrAll,
    Nsid,
    /// A service reference (`did:…#fragment`), or `*` for any.
    AudOrAll,
    Aud,
    Mime,
    /// One of these names.
    OneOf(&'static [&'static str]),
}

/// A resource's parameters, the positional one first, as the reference defines them:
/// (name, several values allowed, required, kind, default: left out of the string).
type Param = (&'static str, bool, bool, Kind, &'static [&'static str]);

const REPO_ACTIONS: &[&str] = &["create", "update", "delete"];

const RESOURCES: &[(&str, &[Param])] = &[
    (
        "repo",
        &[
            ("collection", true, true, Kind::NsidOrAll, &[]),
            (
                "action",
                true,
                false,
                Kind::OneOf(REPO_ACTIONS),
                REPO_ACTIONS,
            ),
        ],
    ),
    (
        "rpc",
        &[
            ("lxm", true, true, Kind::NsidOrAll, &[]),
            ("aud", false, true, Kind::AudOrAll, &[]),
        ],
    ),
    ("blob", &[("accept", true, true, Kind::Mime, &[])]),
    (
        "account",
        &[
            (
                "attr",
                false,
                true,
                Kind::OneOf(&["email", "repo", "status"]),
                &[],
            ),
            (
                "action",
                false,
                false,
                Kind::OneOf(&["read", "manage"]),
                &["read"],
            ),
        ],
    ),
    (
        "identity",
        &[("attr", false, true, Kind::OneOf(&["handle", "*"]), &[])],
    ),
    (
        "include",
        &[
            ("nsid", false, true, Kind::Nsid, &[]),
            ("aud", false, false, Kind::Aud, &[]),
        ],
    ),
];

/// The scope string of a permission in the spec's JSON shape (`resource` and its parameters),
/// given as its properties. Unknown resources and parameters are refused, not ignored: a
/// misspelt `action` must not widen the permission.
pub(crate) fn permission_scope(fields: &Fields) -> Result<String> {
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let resource = match get("resource").map(Vec::as_slice) {
        Some([r]) => r.as_str(),
        _ => return Err(invalid("a permission needs one resource")),
    };
    let Some((_, params)) = RESOURCES.iter().find(|(r, _)| *r == resource) else {
        return Err(invalid(msg!(
            util::quoted(resource),
            " is not a permission resource"
        )));
    };
    // The spec's JSON shape (atproto.com/specs/permission, and every permission set's
    // entries) carries `"type": "permission"`: taken, and nothing else under that key.
    match get("type").map(Vec::as_slice) {
        None => {}
        Some([t]) if t == "permission" => {}
        Some(_) => return Err(invalid(msg!(resource, ": type must be \"permission\""))),
    }
    if let Some((key, _)) = fields
        .iter()
        .find(|(k, _)| k != "resource" && k != "type" && !params.iter().any(|p| p.0 == k))
    {
        return Err(invalid(msg!(
            resource,
            ": unknown parameter ",
            util::quoted(key)
        )));
    }
    // Written as each parameter is checked. The positional parameter (always first) is
    // always required, so it is never left out as a default.
    let mut out = resource.to_string();
    let mut sep = '?';
    let mut all_wild = true;
    for (i, &(name, multiple, required, kind, default)) in params.iter().enumerate() {
        let what = msg!(resource, " ", name);
        let values = match get(name) {
            Some(v) if v.is_empty() || (!multiple && v.len() > 1) => {
                return Err(invalid(msg!(what, ": one value expected")))
            }
            Some(v) => normalize(v, kind, &what)?,
            None if required => return Err(invalid(msg!(what, " is required"))),
            None => continue,
        };
        all_wild &= values == ["*"];
        if values == default {
            continue;
        }
        if let ([one], 0) = (values.as_slice(), i) {
            out.push(':');
            encode(&mut out, one, b"!~'()");
            continue;
        }
        for value in &values {
            out.push(sep);
            sep = '&';
            out.push_str(name);
            out.push('=');
            encode(&mut out, value, b"");
        }
    }
    if resource == "rpc" && all_wild {
        return Err(invalid("rpc: lxm and aud cannot both be *"));
    }
    Ok(out)
}

/// Checks each value and returns them as the reference writes them: several names sorted and
/// each once, one `*` standing for all; repo actions in the spec's order; MIME types
/// lowercase, `image/png` dropped beside `image/*`.
fn normalize(values: &[String], kind: Kind, what: &str) -> Result<Vec<String>> {
    // Plain loops over one vector: each iterator chain here was its own monomorphized code.
    // Sorted, each once, by insertion: a sort routine for strings costs more code.
    let mut out: Vec<String> = Vec::new();
    for v in values {
        let ok = match kind {
            Kind::NsidOrAll => v == "*" || is_nsid(v),
            Kind::Nsid => is_nsid(v),
            Kind::AudOrAll => v == "*" || is_did_ref(v),
            Kind::Aud => is_did_ref(v),
            Kind::Mime => is_accept(v),
            Kind::OneOf(names) => names.contains(&v.as_str()),
        };
        if !ok {
            return Err(invalid(msg!(
                what,
                ": ",
                util::quoted(v),
                " is not allowed"
            )));
        }
        let v = if kind == Kind::Mime {
            v.to_ascii_lowercase()
        } else {
            v.clone()
        };
        if let Err(at) = out.binary_search(&v) {
            out.insert(at, v);
        }
    }
    if let Kind::OneOf(names) = kind {
        // In the order the spec lists the names.
        let mut kept = Vec::new();
        for name in names {
            if out.iter().any(|v| v == name) {
                kept.push(name.to_string());
            }
        }
        return Ok(kept);
    }
    if let Some(all) = out.iter().position(|v| v == "*" || v == "*/*") {
        return Ok(vec![out.swap_remove(all)]);
    }
    // A type beside its own `type/*` goes.
    let mut i = 0;
    while i < out.len() {
        let v = &out[i];
        let covered = !v.ends_with("/*")
            && out
                .iter()
                .any(|w| w.ends_with("/*") && v.starts_with(&w[..w.len() - 1]));
        if covered {
            out.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(out)
}

/// Percent-encodes like `encodeURIComponent` (positional part) or `URLSearchParams` (query),
/// then leaves `: / + , @ %` as they are, as the reference formatter does.
fn encode(out: &mut String, value: &str, also_safe: &[u8]) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric()
            || crate::util::one_of(b, b"-_.*:/+,@%")
            || crate::util::one_of(b, also_safe)
        {
            out.push(b as char);
        } else {
            out.push('%');
            crate::util::push_hex(out, b as u32, 2, true);
        }
    }
}

/// NSID syntax (atproto.com/specs/nsid): at least three dot-separated segments of letters,
/// digits and hyphens; the domain part's segments neither start nor end with a hyphen, the
/// first does not start with a digit, and the name is letters and digits, not starting with
/// a digit.
fn is_nsid(nsid: &str) -> bool {
    let Some(dot) = nsid.bytes().rposition(|b| b == b'.') else {
        return false;
    };
    let (domain, name) = (&nsid[..dot], &nsid[dot + 1..]);
    let domain_ok = domain.pieces(b'.').enumerate().all(|(i, s)| {
        (1..=63).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !(i == 0 && s.starts_with(|c: char| c.is_ascii_digit()))
    });
    nsid.pieces(b'.').count() >= 3
        && nsid.len() <= 317
        && domain_ok
        && (1..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// A service reference: an atproto DID (`did:plc`, `did:web`) and a `#fragment`.
fn is_did_ref(aud: &str) -> bool {
    aud.cut(b'#').is_some_and(|(did, fragment)| {
        parse_did(did).is_ok()
            && !fragment.is_empty()
            && fragment.bytes().all(|b| b.is_ascii_graphic() && b != b'#')
    })
}

/// A MIME type, a `type/*` pattern, or `*/*`.
fn is_accept(accept: &str) -> bool {
    let part = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'*')
    };
    accept == "*/*"
        || accept
            .cut(b'/')
            .is_some_and(|(kind, sub)| part(kind) && (sub == "*" || part(sub)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_nsid` against its earlier form (the segments collected into a vector first), on
    /// every string of up to 7 pieces of a set that makes each of its rules matter.
    #[test]
    fn nsid_syntax_as_before() {
        fn before(nsid: &str) -> bool {
            let segments: Vec<&str> = nsid.split('.').collect();
            let (name, domain) = segments.split_last().unwrap_or((&"", &[]));
            let domain_ok = domain.iter().enumerate().all(|(i, s)| {
                (1..=63).contains(&s.len())
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !s.starts_with('-')
                    && !s.ends_with('-')
                    && !(i == 0 && s.starts_with(|c: char| c.is_ascii_digit()))
            });
            segments.len() >= 3
                && nsid.len() <= 317
                && domain_ok
                && (1..=63).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric())
                && !name.starts_with(|c: char| c.is_ascii_digit())
        }
        for s in crate::testing::strings_of(&["a", "1", "-", ".", "b_"], 7) {
            assert_eq!(is_nsid(&s), before(&s), "{s}");
        }
    }

    /// A permission from JSON as `buildScope` receives it from JavaScript.
    /// `normalize` against its earlier form (iterator chains, `*` looked for before the
    /// duplicates went), on every list of up to four values from a set that makes each rule
    /// matter, for every kind.
    #[test]
    fn normalize_as_before() {
        fn before(values: &[String], kind: Kind, what: &str) -> Result<Vec<String>> {
            for v in values {
                let ok = match kind {
                    Kind::NsidOrAll => v == "*" || is_nsid(v),
                    Kind::Nsid => is_nsid(v),
                    Kind::AudOrAll => v == "*" || is_did_ref(v),
                    Kind::Aud => is_did_ref(v),
                    Kind::Mime => is_accept(v),
                    Kind::OneOf(names) => names.contains(&v.as_str()),
                };
                if !ok {
                    return Err(invalid(format!(
                        "{what}: {} is not allowed",
                        util::quoted(v)
                    )));
                }
            }
            let mut values: Vec<String> = match kind {
                Kind::Mime => values.iter().map(|v| v.to_ascii_lowercase()).collect(),
                Kind::OneOf(names) => {
                    let kept = names.iter().filter(|n| values.iter().any(|v| v == *n));
                    return Ok(kept.map(|n| n.to_string()).collect());
                }
                _ => values.to_vec(),
            };
            if values.len() > 1 {
                if let Some(all) = values.iter().find(|v| *v == "*" || *v == "*/*") {
                    return Ok(vec![all.clone()]);
                }
            }
            let wild: Vec<String> = values
                .iter()
                .filter(|v| v.ends_with("/*"))
                .cloned()
                .collect();
            values.retain(|v| {
                v.ends_with("/*") || !wild.iter().any(|w| v.starts_with(&w[..w.len() - 1]))
            });
            let mut out: Vec<String> = Vec::new();
            for value in values {
                if let Err(at) = out.binary_search(&value) {
                    out.insert(at, value);
                }
            }
            Ok(out)
        }
        let sets: &[(Kind, &[&str])] = &[
            (Kind::NsidOrAll, &["*", "a.b.c", "a.b.d", "A.b.c", "bad"]),
            (Kind::Nsid, &["a.b.c", "x.y.z", "*"]),
            (
                Kind::AudOrAll,
                &["*", "did:web:a.com#x", "did:plc:abc#y", "nope"],
            ),
            (Kind::Aud, &["did:web:a.com#x", "*"]),
            (
                Kind::Mime,
                &[
                    "*/*",
                    "image/*",
                    "image/png",
                    "IMAGE/PNG",
                    "text/plain",
                    "text/*",
                    "x",
                ],
            ),
            (
                Kind::OneOf(REPO_ACTIONS),
                &["create", "update", "delete", "read"],
            ),
            (Kind::OneOf(&["handle", "*"]), &["handle", "*", "email"]),
        ];
        let mut checked = 0;
        for (kind, pieces) in sets {
            let mut lists: Vec<Vec<String>> = vec![vec![]];
            for _ in 0..4 {
                let longer: Vec<Vec<String>> = lists
                    .iter()
                    .filter(|l| l.len() == lists.last().unwrap().len())
                    .flat_map(|l| {
                        pieces.iter().map(move |p| {
                            let mut l = l.clone();
                            l.push(p.to_string());
                            l
                        })
                    })
                    .collect();
                lists.extend(longer);
            }
            for list in &lists {
                assert_eq!(
                    normalize(list, *kind, "w").map_err(|e| e.message.clone()),
                    before(list, *kind, "w").map_err(|e| e.message.clone()),
                    "{list:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 4_000, "{checked}");
    }

    fn scope(json: &str) -> Result<String> {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let text = |v: &serde_json::Value| v.as_str().unwrap().to_string();
        let fields: Vec<(String, Vec<String>)> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| match v.as_array() {
                Some(list) => (k.clone(), list.iter().map(text).collect()),
                None => (k.clone(), vec![text(v)]),
            })
            .collect();
        permission_scope(&fields)
    }

    /// The spec writes permissions with `"type": "permission"` (its examples, and every entry
    /// of a permission set): taken as such; another type is refused.
    #[test]
    fn the_spec_json_shape_with_its_type_is_taken() {
        assert_eq!(
            scope(
                r#"{"type":"permission","resource":"repo","collection":["app.example.profile"]}"#
            )
            .unwrap(),
            "repo:app.example.profile"
        );
        assert_eq!(
            scope(r#"{"resource":"rpc","type":"permission","lxm":"a.b.c","aud":"*"}"#).unwrap(),
            "rpc:a.b.c?aud=*"
        );
        for bad in [
            r#"{"type":"token","resource":"repo","collection":"a.b.c"}"#,
            r#"{"type":["permission","permission"],"resource":"repo","collection":"a.b.c"}"#,
            r#"{"type":"Permission","resource":"repo","collection":"a.b.c"}"#,
        ] {
            assert_eq!(
                scope(bad).unwrap_err().code,
                ErrorCode::InvalidInput,
                "{bad}"
            );
        }
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
            assert_eq!(static_scope(name).unwrap(), name);
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
            r#"{"resource":"repo","collection":"app.bsky.feed.post","actions":"create"}"#,
            r#"{"resource":"account","attr":["email","repo"]}"#,
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
                static_scope(name).unwrap_err().code,
                ErrorCode::InvalidInput
            );
        }
    }
}
