//! The parts of a DID document AT Protocol uses: the handle claim and the PDS endpoint.

use crate::error::{err, ErrorCode, Result};
use crate::identity::handle::handle_syntax;
use crate::json::{self, required, set, FromJson, JsonResult, Reader};
use crate::util;
use crate::util::AsciiSplit;

#[derive(Clone, Debug)]
pub(crate) struct DidDocument {
    pub id: String,
    pub also_known_as: Vec<String>,
    pub service: Vec<Service>,
}

/// `type` and `serviceEndpoint` may be any JSON (the DID spec allows maps and sets); only
/// strings count here, so anything else is read as `None`.
#[derive(Clone, Debug)]
pub(crate) struct Service {
    pub id: String,
    pub kind: Option<String>,
    pub service_endpoint: Option<String>,
}

impl FromJson for DidDocument {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut id, mut also_known_as, mut service) = (None, None, None);
        r.object(&mut |r, key| match key {
            "id" => set(&mut id, key, r.string()?),
            "alsoKnownAs" => set(&mut also_known_as, key, r.strings()?),
            "service" => set(&mut service, key, r.list(Service::read)?),
            _ => r.skip(),
        })?;
        Ok(DidDocument {
            id: required(id, "id")?,
            also_known_as: also_known_as.unwrap_or_default(),
            service: service.unwrap_or_default(),
        })
    }
}

impl FromJson for Service {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut id, mut kind, mut endpoint) = (None, None, None);
        r.object(&mut |r, key| match key {
            "id" => set(&mut id, key, r.string()?),
            "type" => set(&mut kind, key, r.string_or_skip()?),
            "serviceEndpoint" => set(&mut endpoint, key, r.string_or_skip()?),
            _ => r.skip(),
        })?;
        Ok(Service {
            id: required(id, "id")?,
            kind: kind.flatten(),
            service_endpoint: endpoint.flatten(),
        })
    }
}

impl DidDocument {
    pub fn parse(body: &[u8], did: &str) -> Result<DidDocument> {
        let doc: DidDocument = json::from_slice(body).map_err(|e| {
            crate::error::Error::new(
                ErrorCode::DidResolutionFailed,
                msg!("DID document of ", did, " is malformed: ", e),
            )
        })?;
        if doc.id != did {
            return err(
                ErrorCode::DidResolutionFailed,
                msg!("DID document id ", util::quoted(&doc.id), " is not ", did),
            );
        }
        Ok(doc)
    }

    /// The `#atproto_pds` service endpoint (id may be relative or absolute).
    pub fn pds_endpoint(&self) -> Result<String> {
        let absolute = msg!(self.id, "#atproto_pds");
        // The first entry with both the id and the type (another service may reuse the id).
        let service = self.service.iter().find(|s| {
            (s.id == "#atproto_pds" || s.id == absolute)
                && s.kind.as_deref() == Some("AtprotoPersonalDataServer")
        });
        match service.map(|s| s.service_endpoint.as_deref()) {
            Some(Some(endpoint)) => {
                let scheme =
                    util::find(endpoint, "://").map(|i| endpoint[..i].to_ascii_lowercase());
                if !matches!(scheme.as_deref(), Some("https" | "http")) {
                    return err(
                        ErrorCode::NoPds,
                        msg!(
                            "the #atproto_pds endpoint of ",
                            self.id,
                            " is not an http(s) URL: ",
                            util::quoted(endpoint)
                        ),
                    );
                }
                Ok(endpoint.trim_end_byte(b'/').to_string())
            }
            _ => err(
                ErrorCode::NoPds,
                msg!(self.id, " has no #atproto_pds service"),
            ),
        }
    }

    /// The handle the document claims, not yet verified: the first `alsoKnownAs` entry that is
    /// `at://` followed by a syntactically valid handle, exactly (the DID spec's rule: later
    /// entries do not count, even when they name a handle, and a reserved TLD is still the
    /// claim, which then fails to resolve).
    pub fn claimed_handle(&self) -> Option<String> {
        self.also_known_as
            .iter()
            .filter_map(|aka| aka.strip_prefix("at://"))
            .find_map(|h| handle_syntax(h, h, true).ok())
    }

    /// Whether the document claims `handle` (the DID side of the bidirectional check).
    pub fn claims_handle(&self, handle: &str) -> bool {
        self.claimed_handle()
            .is_some_and(|h| h.eq_ignore_ascii_case(handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DID: &str = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";

    fn doc(service: &str) -> Vec<u8> {
        format!(r#"{{"@context":[],"id":"{DID}","alsoKnownAs":["at://Alice.test"],"verificationMethod":[],"service":[{service}]}}"#).into_bytes()
    }

    #[test]
    fn finds_pds_and_handle() {
        let d = DidDocument::parse(&doc(r##"{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example/"}"##), DID).unwrap();
        assert_eq!(d.pds_endpoint().unwrap(), "https://pds.example");
        assert_eq!(d.claimed_handle().as_deref(), Some("alice.test"));
        assert!(d.claims_handle("alice.test"));
        assert!(!d.claims_handle("bob.test"));
        let abs = DidDocument::parse(&doc(&format!(r#"{{"id":"{DID}#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://p.example"}}"#)), DID).unwrap();
        assert_eq!(abs.pds_endpoint().unwrap(), "https://p.example");
    }

    #[test]
    fn the_claimed_handle_is_the_first_valid_at_uri() {
        let doc = |aka: &str| {
            DidDocument::parse(
                format!(r#"{{"id":"{DID}","alsoKnownAs":{aka}}}"#).as_bytes(),
                DID,
            )
            .unwrap()
        };
        let d =
            doc(r#"["https://x.example","at://not a handle","at://Bob.test","at://alice.test"]"#);
        assert_eq!(d.claimed_handle().as_deref(), Some("bob.test"));
        assert!(d.claims_handle("bob.test"));
        assert!(
            !d.claims_handle("alice.test"),
            "only the first valid entry counts"
        );
        assert_eq!(doc(r#"["at://alice"]"#).claimed_handle(), None);
        assert_eq!(doc("[]").claimed_handle(), None);
        // Exactly a handle: no `@`, no white space; a reserved TLD is syntax all the same (the
        // claim then fails to resolve), and does not pass the claim to the next entry.
        for (aka, claimed) in [
            (r#"["at://@alice.test","at://bob.test"]"#, "bob.test"),
            (r#"["at://alice.test ","at://bob.test"]"#, "bob.test"),
            (r#"["at://alice.local","at://bob.test"]"#, "alice.local"),
        ] {
            assert_eq!(doc(aka).claimed_handle().as_deref(), Some(claimed), "{aka}");
        }
    }

    /// The PDS is the first service with both the id and the type: another service may use the
    /// same id before it.
    #[test]
    fn the_pds_is_the_first_service_of_its_id_and_type() {
        let d = DidDocument::parse(
            &doc(
                r##"{"id":"#atproto_pds","type":"Other","serviceEndpoint":"https://other.example"},
                    {"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://pds.example"}"##,
            ),
            DID,
        )
        .unwrap();
        assert_eq!(d.pds_endpoint().unwrap(), "https://pds.example");
    }

    #[test]
    fn rejects_missing_pds_wrong_id_and_garbage() {
        let d = DidDocument::parse(&doc(r##"{"id":"#other","type":"AtprotoPersonalDataServer","serviceEndpoint":"https://x"}"##), DID).unwrap();
        assert_eq!(d.pds_endpoint().unwrap_err().code, ErrorCode::NoPds);
        let d = DidDocument::parse(
            &doc(r##"{"id":"#atproto_pds","type":"Other","serviceEndpoint":"https://x"}"##),
            DID,
        )
        .unwrap();
        assert_eq!(d.pds_endpoint().unwrap_err().code, ErrorCode::NoPds);
        for endpoint in ["ftp://pds.example", "javascript:alert(1)", "pds.example"] {
            let d = DidDocument::parse(
                &doc(&format!(r##"{{"id":"#atproto_pds","type":"AtprotoPersonalDataServer","serviceEndpoint":"{endpoint}"}}"##)),
                DID,
            )
            .unwrap();
            let e = d.pds_endpoint().unwrap_err();
            assert_eq!(e.code, ErrorCode::NoPds, "{endpoint}");
            assert!(e.message.contains("http(s)"), "{}", e.message);
        }
        assert_eq!(
            DidDocument::parse(&doc(""), "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")
                .unwrap_err()
                .code,
            ErrorCode::DidResolutionFailed
        );
        assert_eq!(
            DidDocument::parse(b"<html>", DID).unwrap_err().code,
            ErrorCode::DidResolutionFailed
        );
    }
}
