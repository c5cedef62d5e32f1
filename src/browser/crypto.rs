//! WebCrypto: the DPoP key (imported as a non-extractable ECDSA P-256 key that can only sign,
//! then used to sign proofs) and AES-GCM for encrypting stored records at rest. Both keys are
//! non-extractable: script on the page can use them through WebCrypto while it runs, but can
//! never read their bytes.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AesGcmParams, AesKeyGenParams, CryptoKey, EcKeyImportParams, EcdsaParams, SubtleCrypto,
};
use zeroize::Zeroizing;

use super::js;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{KeyMaterial, PKCS8_LEN};

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
    as_crypto_key(key, "generateKey")
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
    let iv = crate::util::random_bytes::<IV_LEN>()?;
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
