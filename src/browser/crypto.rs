//! AES-GCM through WebCrypto, for encrypting stored records at rest. The key is generated
//! non-extractable: script on the page can use it through WebCrypto, but can never read its bytes,
//! so a copy of the IndexedDB files (or of its exported contents) is useless without this browser
//! profile.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, AesKeyGenParams, CryptoKey, SubtleCrypto};

use super::js;
use crate::error::{Error, ErrorCode, Result};

pub(crate) const IV_LEN: usize = 12;
/// The GCM tag WebCrypto appends to every ciphertext (128 bits, its default).
pub(crate) const TAG_LEN: usize = 16;

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

pub(crate) async fn generate_key(subtle: &SubtleCrypto) -> Result<CryptoKey> {
    let usages = Array::of2(&JsValue::from_str("encrypt"), &JsValue::from_str("decrypt"));
    let params = AesKeyGenParams::new("AES-GCM", 256);
    let promise = subtle
        .generate_key_with_object(&params, false, &usages)
        .map_err(|e| crypto_error("generating the storage key", &e))?;
    let key = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error("generating the storage key", &e))?;
    key.dyn_into::<CryptoKey>().map_err(|_| {
        Error::new(
            ErrorCode::CryptoError,
            "generateKey did not return a CryptoKey",
        )
    })
}

fn params(iv: &[u8], aad: &[u8]) -> AesGcmParams {
    let params = AesGcmParams::new("AES-GCM", &Uint8Array::from(iv));
    params.set_additional_data(&Uint8Array::from(aad));
    params
}

/// Encrypts under a fresh random IV; returns `iv || ciphertext`. `aad` binds the ciphertext to
/// where it is stored, so a record copied under another key or table fails to decrypt.
pub(crate) async fn encrypt(
    subtle: &SubtleCrypto,
    key: &CryptoKey,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut iv = [0u8; IV_LEN];
    getrandom::getrandom(&mut iv)
        .map_err(|e| Error::new(ErrorCode::CryptoError, format!("random IV: {e}")))?;
    let promise = subtle
        .encrypt_with_object_and_u8_array(&params(&iv, aad), key, plaintext)
        .map_err(|e| crypto_error("encrypting a record", &e))?;
    let ciphertext = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error("encrypting a record", &e))?;
    let ciphertext = Uint8Array::new(&ciphertext).to_vec();
    let mut out = Vec::with_capacity(IV_LEN + ciphertext.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Reverses `encrypt`. Fails with `CryptoError` on any tampering, a wrong `aad`, or a record
/// written under another key.
pub(crate) async fn decrypt(
    subtle: &SubtleCrypto,
    key: &CryptoKey,
    aad: &[u8],
    sealed: &[u8],
) -> Result<Vec<u8>> {
    if sealed.len() < IV_LEN + TAG_LEN {
        return Err(Error::new(
            ErrorCode::CryptoError,
            "stored record is too short to be encrypted data",
        ));
    }
    let (iv, ciphertext) = sealed.split_at(IV_LEN);
    let promise = subtle
        .decrypt_with_object_and_u8_array(&params(iv, aad), key, ciphertext)
        .map_err(|e| crypto_error("decrypting a record", &e))?;
    let plaintext = JsFuture::from(promise)
        .await
        .map_err(|e| crypto_error("decrypting a record", &e))?;
    Ok(Uint8Array::new(&plaintext).to_vec())
}
