//! WebCrypto for the DPoP key: imported as a non-extractable ECDSA P-256 key that can only
//! sign, then used to sign proofs. Script on the page can use it through WebCrypto while it
//! runs, but can never read its bytes. (Records are sealed at rest with AES-GCM in
//! `glue.js`, under a key just as non-extractable.)
//!
//! The WebCrypto calls are `keyImport` and `keySign` in `glue.js`: from Rust, `crypto.subtle`,
//! the algorithm objects and the type checks each took a binding in the `.wasm` (0.4 KB gzip
//! more, measured in the eleventh session).
//!
//! While a private scalar is in Wasm memory (drawn, turned into its public point and PKCS #8
//! bytes, handed to `importKey`), no JavaScript a page script could have replaced may run: a
//! replaced `getRandomValues`, `importKey`, typed-array method or getter would be called with
//! the bytes, or could read them from the memory. So the draw and the import go to `glue.js`
//! as an address and a length (numbers: no wasm-bindgen helper converts them), and `glue.js`
//! uses only functions it took when the package was loaded (`randomFill`, `keyImport`).

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
    fn key_import(memory: &JsValue, at: u32, len: u32) -> Promise;
    #[wasm_bindgen(js_name = randomFill)]
    fn random_fill(memory: &JsValue, at: u32, len: u32) -> bool;
    #[wasm_bindgen(js_name = keySign)]
    fn key_sign(key: &CryptoKey, message: &[u8]) -> Promise;

    #[wasm_bindgen(extends = js::Outcome)]
    type KeyAnswer;
    #[wasm_bindgen(method, getter)]
    fn signature(this: &KeyAnswer) -> Vec<u8>;
}

thread_local! {
    /// The module's memory, taken once (wasm-bindgen hands it over through its glue, which a
    /// page script's replaced built-ins could see run): at the first random draw, before any
    /// scalar exists.
    static MEMORY: JsValue = wasm_bindgen::memory();
}

/// Runs `f` with the module's memory (the one taken at the first draw).
pub(crate) fn with_memory<R>(f: impl FnOnce(&JsValue) -> R) -> R {
    MEMORY.with(f)
}

/// Fills `buf` from `crypto.getRandomValues`, in place; false if there is none or it failed.
pub(crate) fn fill_random(buf: &mut [u8]) -> bool {
    MEMORY.with(|memory| random_fill(memory, buf.as_mut_ptr() as u32, buf.len() as u32))
}

/// Imports `material` as the non-extractable signing key. Its PKCS#8 form exists only in a
/// stack buffer here: `keyImport` copies it into a buffer of its own and zeroes it here before
/// it calls `importKey` (and this function wipes it again), so nothing is awaited, and no
/// replaceable built-in runs, while the bytes are in Wasm memory.
pub(crate) async fn import_signing_key(material: KeyMaterial) -> Result<CryptoKey> {
    let promise = MEMORY.with(|memory| {
        let mut der = Zeroizing::new([0u8; PKCS8_LEN]);
        material.write_pkcs8(&mut der);
        drop(material);
        key_import(memory, der.as_ptr() as u32, der.len() as u32)
    });
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
