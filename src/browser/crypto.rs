//! WebCrypto for the DPoP key: imported as a non-extractable ECDSA P-256 key that can only
//! sign, then used to sign proofs. Script on the page can use it through WebCrypto while it
//! runs, but can never read its bytes. (Records are sealed at rest with AES-GCM in
//! `glue.js`, under a key just as non-extractable.)

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, EcKeyImportParams, EcdsaParams, SubtleCrypto};
use zeroize::Zeroizing;

use super::js;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{KeyMaterial, PKCS8_LEN};

fn crypto_error(context: &str, e: &JsValue) -> Error {
    js::error(ErrorCode::CryptoError, context, e)
}

/// `crypto.subtle` of the current global. It is missing outside secure contexts (plain http
/// other than localhost), which the app has to fix, hence `Unsupported`.
pub(crate) fn subtle() -> Result<SubtleCrypto> {
    let unsupported = || {
        Error::new(
            ErrorCode::Unsupported,
            "WebCrypto (crypto.subtle) is not available; the page must be served over https or from localhost",
        )
    };
    let crypto = js::global_property("crypto").ok_or_else(unsupported)?;
    let subtle =
        js_sys::Reflect::get(&crypto, &JsValue::from_str("subtle")).map_err(|_| unsupported())?;
    subtle.dyn_into::<SubtleCrypto>().map_err(|_| unsupported())
}

fn as_crypto_key(value: JsValue, what: &str) -> Result<CryptoKey> {
    value.dyn_into::<CryptoKey>().map_err(|_| {
        Error::new(
            ErrorCode::CryptoError,
            format!("{what} did not return a CryptoKey"),
        )
    })
}

/// Imports a DPoP private key as a non-extractable ECDSA P-256 key whose only usage is `sign`.
///
/// The key travels as PKCS #8 bytes, never as a string: the DER is built in a buffer that is
/// wiped on drop, copied into a JS `Uint8Array` (WebCrypto copies it again when `importKey` is
/// called), and that array is zeroed as soon as the import settles. `material` is dropped (and
/// wiped) before this function awaits anything.
pub(crate) async fn import_signing_key(
    subtle: &SubtleCrypto,
    material: KeyMaterial,
) -> Result<CryptoKey> {
    let bytes = Uint8Array::new_with_length(PKCS8_LEN as u32);
    {
        let mut der = Zeroizing::new([0u8; PKCS8_LEN]);
        material.write_pkcs8(&mut der);
        drop(material);
        bytes.copy_from(der.as_slice());
    }
    let params = EcKeyImportParams::new("ECDSA");
    params.set_named_curve("P-256");
    let usages = Array::of1(&JsValue::from_str("sign"));
    let imported = match subtle.import_key_with_object("pkcs8", &bytes, &params, false, &usages) {
        Ok(promise) => JsFuture::from(promise).await,
        Err(e) => Err(e),
    };
    bytes.fill(0, 0, PKCS8_LEN as u32);
    let key = imported.map_err(|e| crypto_error("importing the DPoP key", &e))?;
    as_crypto_key(key, "importKey")
}

/// ECDSA P-256 / SHA-256: WebCrypto's output is the raw `r || s`, already a JWS ES256 signature.
pub(crate) async fn sign(
    subtle: &SubtleCrypto,
    key: &CryptoKey,
    message: &[u8],
) -> Result<Vec<u8>> {
    let params = EcdsaParams::new_with_str("ECDSA", "SHA-256");
    let promise = subtle
        .sign_with_object_and_u8_array(&params, key, message)
        .map_err(|e| crypto_error("signing a DPoP proof", &e))?;
    let signature = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error("signing a DPoP proof", &e))?;
    Ok(Uint8Array::new(&signature).to_vec())
}
