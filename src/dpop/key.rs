//! The DPoP key. The P-256 scalar is generated here from the platform's CSPRNG and its public
//! point computed with `p256`; then the private key is handed to the platform (WebCrypto in the
//! browser imports it as a non-extractable, sign-only `CryptoKey`) and every copy here is wiped.
//! What this crate keeps is the public JWK and the base64url protected header of every proof.

use p256::elliptic_curve::sec1::ToEncodedPoint;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, ErrorCode, Result};
use crate::json::{set, FromJson, JsonResult, Obj, Reader, ToJson};
use crate::platform::{blank_scalar, KeyMaterial, Keys, Scalar};
use crate::secret::KeySecret;
use crate::settled::Settled;
use crate::util::{b64url, b64url_decode, fill_random, sha256};

/// The public half of a DPoP key, as a JWK (`kty` EC, `crv` P-256).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicJwk {
    pub x: String,
    pub y: String,
}

/// Stored as `{"x":…,"y":…}` (the curve is always P-256).
impl FromJson for PublicJwk {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut x, mut y) = (None, None);
        r.object(&mut |r, key| match key {
            "x" => set(&mut x, key, r.string()?),
            "y" => set(&mut y, key, r.string()?),
            _ => r.skip(),
        })?;
        let (x, y) = crate::json::present!(x: "x", y: "y");
        Ok(PublicJwk { x, y })
    }
}

impl ToJson for PublicJwk {
    fn write(&self, o: &mut Obj<'_>) {
        o.str("x", &self.x);
        o.str("y", &self.y);
    }
}

impl PublicJwk {
    fn from_point(point: &[u8; 65]) -> PublicJwk {
        PublicJwk {
            x: b64url(&point[1..33]),
            y: b64url(&point[33..65]),
        }
    }

    /// The JWK with its members in the order RFC 7638 hashes them.
    fn canonical_json(&self) -> String {
        msg!(
            r#"{"crv":"P-256","kty":"EC","x":""#,
            self.x,
            r#"","y":""#,
            self.y,
            r#""}"#
        )
    }

    /// The RFC 7638 thumbprint (`jkt`): the key's identity to the server.
    pub fn thumbprint(&self) -> String {
        b64url(&sha256(self.canonical_json().as_bytes()))
    }

    /// The base64url JOSE header every proof with this key carries.
    fn protected_header(&self) -> String {
        let header = msg!(
            r#"{"typ":"dpop+jwt","alg":"ES256","jwk":"#,
            self.canonical_json(),
            r#"}"#
        );
        b64url(header.as_bytes())
    }
}

/// Computes the public point of `scalar` and packs both for the platform. The scalar is wiped
/// when the material is dropped.
fn material(scalar: Scalar) -> Result<KeyMaterial> {
    if !in_range(&scalar) {
        return Err(Error::new(
            ErrorCode::CryptoError,
            "not a valid P-256 private key",
        ));
    }
    let public = public_point(&scalar);
    // `scalar` moves into the material; the copies the arithmetic left on the stack, all in
    // `public_point`'s frames below this one, go here.
    scrub_stack();
    match public {
        Some(public) => Ok(KeyMaterial::new(scalar, public)),
        None => Err(Error::new(ErrorCode::CryptoError, "unexpected public key")),
    }
}

/// The uncompressed SEC 1 encoding of `[k]G`. Never inlined: the projective point of `[k]G`
/// (its `Z` depends on `k` and is never published) and every intermediate stay in this
/// function's frame and its callees', below its caller's, where `scrub_stack` reaches them.
/// Inlined into `material`, the final `(X:Y:Z)` was left in `material`'s own frame, above the
/// scrubbed area (seen in the shipped module's disassembly).
#[inline(never)]
fn public_point(k: &[u8; 32]) -> Option<[u8; 65]> {
    let encoded = generator_times(k).to_affine().to_encoded_point(false);
    encoded.as_bytes().try_into().ok()
}

/// The order of P-256's base point, big-endian.
const ORDER: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// Whether the big-endian `k` is a private key: 0 < k < n. Read in constant time (every byte,
/// no early exit), like p256's `SecretKey::from_slice`, whose big-integer front end this replaces
/// (the .wasm measured 437 B smaller without it, 149 B gzip; a native test compares the two).
fn in_range(k: &[u8; 32]) -> bool {
    // k - n, from the last byte up: a borrow out of the first byte means k < n.
    let (mut borrow, mut any) = (0u16, 0u8);
    for (byte, order) in k.iter().zip(ORDER).rev() {
        borrow = (u16::from(*byte).wrapping_sub(u16::from(order) + borrow) >> 8) & 1;
        any |= byte;
    }
    borrow == 1 && any != 0
}

/// `[k]G` for the big-endian scalar `k` (already checked to be in range), by double-and-add-always
/// with p256's complete addition formula: every bit costs the same two additions and a
/// constant-time select, so the time does not depend on the scalar. p256's own multiplication
/// (a 4-bit window over a table of 16 points) links a separate doubling formula and the window's
/// code: the .wasm measured 2,197 B larger with it, 906 B gzip. It is faster once compiled:
/// in V8 on the test machine 0.8–1.4 ms per key against 1.3–2.2 ms here; on the module's first
/// run, which is a sign-in's (compiling as it goes), 3.0–4.9 ms against 3.1–5.2. The same
/// window over this addition was as fast as p256's and 171 B (gzip) larger than this loop.
fn generator_times(k: &[u8]) -> p256::ProjectivePoint {
    use p256::elliptic_curve::subtle::{Choice, ConditionallySelectable};
    let generator = p256::ProjectivePoint::GENERATOR;
    let mut acc = p256::ProjectivePoint::IDENTITY;
    for byte in k {
        for shift in (0..8).rev() {
            acc = acc.add(&acc);
            let sum = acc.add(&generator);
            acc.conditional_assign(&sum, Choice::from((byte >> shift) & 1));
        }
    }
    acc
}

/// Overwrites the stack below the caller with zeros. Curve arithmetic leaves copies of the
/// scalar's bits and of the points they chose in stack frames that no destructor wipes; on
/// wasm32 that stack is in linear memory, which any page script can read.
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut area = [0u8; 16 * 1024];
    area.zeroize();
    std::hint::black_box(&area);
}

/// A new random key's material.
pub(crate) fn generate() -> Result<KeyMaterial> {
    // Rejection sampling: a random 32-byte string is a valid scalar with overwhelming
    // probability; the loop bound only guards against a broken RNG.
    for _ in 0..16 {
        // Filled in place: a scalar returned by value would leave copies in stack frames. In
        // the browser `crypto.getRandomValues` (as `glue.js` took it at load) writes straight
        // into this box through a view of the Wasm memory: no JS buffer ever holds the scalar,
        // and no built-in a page script replaced later runs while it exists.
        let mut scalar = blank_scalar();
        fill_random(scalar.as_mut_slice())?;
        if let Ok(material) = material(scalar) {
            return Ok(material);
        }
    }
    Err(Error::new(
        ErrorCode::CryptoError,
        "could not generate a P-256 key",
    ))
}

/// The material of a key stored by version 0.1 (its scalar in base64url, in the record).
pub(crate) fn from_legacy_secret(secret: &KeySecret) -> Result<KeyMaterial> {
    let corrupt = || Error::new(ErrorCode::CryptoError, "stored DPoP key is corrupt");
    let mut bytes = Zeroizing::new(b64url_decode(secret.expose()).map_err(|_| corrupt())?);
    if bytes.len() != 32 {
        return Err(corrupt());
    }
    let mut scalar = blank_scalar();
    scalar.copy_from_slice(&bytes);
    bytes.zeroize();
    material(scalar).map_err(|_| corrupt())
}

/// A DPoP key as the client holds it: the platform's handle (which can only sign) and what
/// every proof needs, computed once.
pub(crate) struct DpopKey<K> {
    pub handle: K,
    pub jwk: PublicJwk,
    /// The base64url protected header, the first part of every proof.
    pub header: String,
    /// The key's thumbprint: which session a server nonce was handed to.
    pub jkt: String,
}

impl<K> DpopKey<K> {
    pub fn new(handle: K, jwk: PublicJwk) -> Self {
        let header = jwk.protected_header();
        let jkt = jwk.thumbprint();
        DpopKey {
            handle,
            jwk,
            header,
            jkt,
        }
    }
}

impl<K> std::fmt::Debug for DpopKey<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&msg!("DpopKey(", self.jkt, ")"))
    }
}

/// Generates a key and hands it to the platform: afterwards only the platform's handle exists.
pub(crate) async fn create<P: Keys>(platform: &P) -> Result<DpopKey<P::Key>> {
    import(platform, generate()?).settled().await
}

/// Imports `material` into the platform (consuming it, so it is wiped) and keeps the public JWK.
pub(crate) async fn import<P: Keys>(
    platform: &P,
    material: KeyMaterial,
) -> Result<DpopKey<P::Key>> {
    let jwk = PublicJwk::from_point(material.public_point());
    let handle = platform.import_key(material).settled().await?;
    Ok(DpopKey::new(handle, jwk))
}

/// The usable key of a stored record: the platform key stored beside it, or, for a record
/// written by version 0.1, its legacy scalar imported now (`migrated` is then true: the caller
/// rewrites the record without the scalar).
pub(crate) struct Restored<K> {
    pub key: DpopKey<K>,
    pub migrated: bool,
}

pub(crate) async fn restore<P: Keys>(
    platform: &P,
    handle: Option<P::Key>,
    jwk: Option<&PublicJwk>,
    legacy: Option<&KeySecret>,
) -> Result<Restored<P::Key>> {
    match (handle, jwk, legacy) {
        (Some(handle), Some(jwk), _) => Ok(Restored {
            key: DpopKey::new(handle, jwk.clone()),
            migrated: false,
        }),
        (_, _, Some(legacy)) => Ok(Restored {
            key: import(platform, from_legacy_secret(legacy)?)
                .settled()
                .await?,
            migrated: true,
        }),
        _ => Err(Error::new(
            ErrorCode::CryptoError,
            "the stored record has no DPoP key",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_thumbprint_and_header() {
        // RFC 7638 has no P-256 vector; this one is checked against jose's calculateJwkThumbprint.
        let jwk = PublicJwk {
            x: "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0".into(),
            y: "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps".into(),
        };
        assert_eq!(
            jwk.thumbprint(),
            b64url(&sha256(jwk.canonical_json().as_bytes()))
        );
        let header: serde_json::Value =
            serde_json::from_slice(&b64url_decode(&jwk.protected_header()).unwrap()).unwrap();
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["jwk"]["x"], jwk.x);
        assert!(header["jwk"].get("d").is_none());
    }

    #[test]
    fn generated_material_is_consistent_and_pkcs8_is_well_formed() {
        let m = generate().unwrap();
        let mut copy = blank_scalar();
        copy.copy_from_slice(m.scalar());
        let again = material(copy).unwrap();
        assert_eq!(m.public_point(), again.public_point());
        assert_eq!(m.public_point()[0], 4);
        let mut der = [0u8; crate::platform::PKCS8_LEN];
        m.write_pkcs8(&mut der);
        assert_eq!(der.len(), 138);
        assert_eq!(&der[36..68], m.scalar());
        assert_eq!(&der[73..], m.public_point());
        assert_ne!(generate().unwrap().scalar(), m.scalar());
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn point_of(k: &[u8]) -> [u8; 65] {
        let mut scalar = blank_scalar();
        scalar.copy_from_slice(k);
        *material(scalar).unwrap().public_point()
    }

    #[test]
    fn public_point_matches_p256_and_a_known_answer() {
        // RFC 6979, A.2.5: the P-256 key pair its signature examples use.
        let k = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let point = point_of(&k);
        assert_eq!(
            point[1..33],
            hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6")[..]
        );
        assert_eq!(
            point[33..],
            hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")[..]
        );
        // The edges of the scalar range (1, 2, n-2, n-1, top bit set and clear, one bit set)
        // and random scalars, against p256's own multiplication.
        let n_minus = |d: u8| {
            let mut n = ORDER.to_vec();
            n[31] -= d;
            n
        };
        let mut scalars = vec![n_minus(1), n_minus(2), vec![0x80; 32], vec![0x7f; 32]];
        for at in [0usize, 5, 31] {
            for value in [1u8, 2, 0x80] {
                let mut k = vec![0u8; 32];
                k[at] = value;
                scalars.push(k);
            }
        }
        for _ in 0..64 {
            let mut k = vec![0u8; 32];
            fill_random(&mut k).unwrap();
            scalars.push(k);
        }
        let mut compared = 0;
        for k in scalars {
            let Ok(secret) = p256::SecretKey::from_slice(&k) else {
                continue;
            };
            let expected = secret.public_key().to_encoded_point(false);
            assert_eq!(point_of(&k)[..], *expected.as_bytes(), "{k:02x?}");
            compared += 1;
        }
        // All 77 scalars are in range (a random one fails with odds of 2^-32): none was skipped.
        assert!(compared >= 76, "{compared}");
    }

    #[test]
    fn range_check_matches_p256() {
        // 0, n and the values beside n in every byte, both ways, then random values (nearly
        // all in range) and random values that share n's first 4, 16 or 24 bytes (whether they
        // are in range is decided by the bytes after those).
        let mut values = vec![[0u8; 32], [0xff; 32], ORDER];
        for at in 0..32 {
            for delta in [1u8, 0x80] {
                let (mut up, mut down) = (ORDER, ORDER);
                up[at] = up[at].wrapping_add(delta);
                down[at] = down[at].wrapping_sub(delta);
                let mut one = [0u8; 32];
                one[at] = delta;
                values.extend([up, down, one]);
            }
        }
        for prefix in [0usize, 4, 16, 24] {
            for _ in 0..200 {
                let mut k = [0u8; 32];
                fill_random(&mut k).unwrap();
                k[..prefix].copy_from_slice(&ORDER[..prefix]);
                values.push(k);
            }
        }
        let accepted = values.iter().filter(|k| in_range(k)).count();
        assert!(
            accepted > 100 && accepted < values.len() - 100,
            "{accepted}"
        );
        for k in &values {
            let expected = p256::SecretKey::from_slice(k).is_ok();
            assert_eq!(in_range(k), expected, "{k:02x?}");
        }
    }

    #[test]
    fn legacy_secret_round_trip_and_corruption() {
        let m = generate().unwrap();
        let legacy = KeySecret::new(b64url(m.scalar()));
        assert_eq!(
            from_legacy_secret(&legacy).unwrap().public_point(),
            m.public_point()
        );
        for bad in ["garbage!", &b64url(&[0u8; 32]), &b64url(&[1u8; 31])] {
            let e = from_legacy_secret(&KeySecret::new(bad)).err().unwrap();
            assert_eq!(e.code, ErrorCode::CryptoError, "{bad}");
        }
    }
}
