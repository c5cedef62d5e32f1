//! WebCrypto for the DPoP key: imported as a non-extractable ECDSA P-256 key that can only
//! sign, then used to sign proofs. Script on the page can use it through WebCrypto while it
//! runs, but can never read its bytes. (Records are sealed at rest with AES-GCM in
//! `glue.js`, under a key just as non-extractable.)
//!
//! The WebCrypto calls are `keyImport` and `keySign` in `glue.js`: from Rust, `crypto.subtle`,
//! the algorithm objects and the type checks each took a binding in the `.wasm` (0.4 KB gzip
//! more, measured in the eleventh session).

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_sys::CryptoKey;
use zeroize::Zeroizing;

use super::js;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{KeyMaterial, PKCS8_LEN};
use crate::settled::Settled;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = keyImport)]
    fn key_import(der: &[u8]) -> Promise;
    #[wasm_bindgen(js_name = keySign)]
    fn key_sign(key: &CryptoKey, message: &[u8]) -> Promise;

    #[wasm_bindgen(extends = js::Outcome)]
    type KeyAnswer;
    #[wasm_bindgen(method, getter)]
    fn signature(this: &KeyAnswer) -> Vec<u8>;
}

/// Imports `material` as the non-extractable signing key. Its PKCS#8 form exists only in a
/// stack buffer here, wiped as soon as WebCrypto has taken its copy (synchronously, in the
/// call), before anything is awaited.
pub(crate) async fn import_signing_key(material: KeyMaterial) -> Result<CryptoKey> {
    let promise = {
        let mut der = Zeroizing::new([0u8; PKCS8_LEN]);
        material.write_pkcs8(&mut der);
        drop(material);
        key_import(der.as_slice())
    };
    js::settle::<KeyAnswer>(promise)
        .settled()
        .await?
        .key()
        .ok_or_else(|| Error::new(ErrorCode::CryptoError, "importKey gave no key"))
}

/// An ES256 signature (r || s) of `message` with `key`.
pub(crate) async fn sign(key: &CryptoKey, message: &[u8]) -> Result<Vec<u8>> {
    Ok(js::settle::<KeyAnswer>(key_sign(key, message))
        .settled()
        .await?
        .signature())
}
