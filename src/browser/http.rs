//! `Http` over the Fetch API: the global `fetch` as it was when the package loaded (see
//! `glue.js`: a script that replaces it later must not see or change what is sent), so it works
//! in windows and workers alike.
//! Every request is bounded: a deadline aborts it after the timeout (covering the body too),
//! and the body is read chunk by chunk and refused as soon as it passes the request's cap.
//! The request itself runs in `glue.js`, one call and one promise from Wasm. Every step of a
//! request is a JS object (AbortController, timer, Request, Headers, stream reader, chunks);
//! driving them from Wasm cost a boundary crossing, a string conversion or a Wasm-side future
//! per step. Moving them to JS took the benchmark's DPoP cost per call (fetch stubbed) from
//! 1.78x atcute's to 1.05-1.38x in the runs since (ratios within one run), and the package
//! 808 B gzip lighter.

use std::future::Future;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use web_sys::CryptoKey;

use crate::error::{Error, ErrorCode, Result};
use crate::platform::{Body, Http, HttpRequest, HttpResponse};
use crate::settled::Settled;
use crate::util::AsciiSplit;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// `head`: the method, the URL and the headers, a line each (see `head`).
    /// `signal`: the caller's `AbortSignal` (or `undefined`), which aborts the request on its way.
    #[wasm_bindgen(js_name = send)]
    fn js_send(
        head: &str,
        given: &JsValue,
        body: &[u8],
        timeout_ms: u32,
        max: u32,
        signal: &JsValue,
        keep: &JsValue,
    ) -> Promise;

    /// `send` with a DPoP proof signed on the way: the head (`head_len` bytes at `head_at` in
    /// `memory`, read by `glue.js` itself, not through wasm-bindgen's string conversion) starts
    /// with the proof's signing input, which is signed with `key` and sent as `DPoP`.
    #[wasm_bindgen(js_name = sendSigned)]
    fn js_send_signed(
        key: &CryptoKey,
        memory: &JsValue,
        head_at: u32,
        head_len: u32,
        given: &JsValue,
        body: &[u8],
        timeout_ms: u32,
        max: u32,
        signal: &JsValue,
        keep: &JsValue,
    ) -> Promise;

    /// Replaces the `fetch` taken at load, and returns the one before (see `replace_fetch`).
    #[wasm_bindgen(js_name = fetchForTests)]
    fn js_fetch_for_tests(fetch: &JsValue) -> JsValue;

    /// What `send` resolves to: an answer, or a failure and its detail.
    #[wasm_bindgen(extends = super::js::Outcome)]
    type Answer;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Answer) -> u16;
    #[wasm_bindgen(method, getter)]
    fn redirected(this: &Answer) -> bool;

}

/// For tests of this package only: makes `fetch` (a function of the `Request`) what requests
/// are sent with, in place of the `fetch` taken when the package loaded, and returns the one
/// before. Replacing the global `fetch` after load changes nothing, by design. Nothing in the
/// package calls it, so the shipped `.wasm` does not import it, and the shipped glue, which has
/// only what the `.wasm` imports, does not have it.
#[doc(hidden)]
pub fn replace_fetch(fetch: &JsValue) -> JsValue {
    js_fetch_for_tests(fetch)
}

/// Sends requests with `fetch`, each aborted after `timeout_ms`.
#[derive(Clone, Copy, Debug)]
pub struct FetchHttp {
    timeout_ms: u32,
}

impl FetchHttp {
    /// Requests (body included) that take longer than `timeout_ms` fail with `Timeout`.
    pub fn new(timeout_ms: u32) -> Self {
        FetchHttp { timeout_ms }
    }
}

impl Default for FetchHttp {
    fn default() -> Self {
        FetchHttp::new(30_000)
    }
}

impl FetchHttp {
    /// The request line by line, one string to cross into JS: `first` (the proof's signing
    /// input) if any, the method, the URL, then a line per header name and per value. A line
    /// break inside any of them would forge another part (browsers refuse them in headers
    /// anyway, and in a method or URL they would change what is sent).
    fn head(first: Option<&str>, request: &HttpRequest) -> Result<String> {
        let broken = |what: String| {
            Err(Error::new(
                ErrorCode::InvalidInput,
                msg!(what, ": a line break"),
            ))
        };
        let mut head = String::new();
        for part in [first, Some(&request.method), Some(&request.url)] {
            let Some(part) = part else { continue };
            if part.has(b'\n') {
                return broken("the request's method or URL".into());
            }
            head.push_str(part);
            head.push('\n');
        }
        for (name, value) in &request.headers {
            if name.has(b'\n') || value.has(b'\n') {
                return broken(msg!("header ", name));
            }
            head.push_str(name);
            head.push('\n');
            head.push_str(value);
            head.push('\n');
        }
        Ok(head)
    }

    /// Sends `request` through `glue.js`: `sendSigned` when a proof is to be signed on the way,
    /// else `send`.
    ///
    /// It owns its arguments, so that `send` and `send_signed` return its future as it is
    /// (a wrapping `async fn` would be one more state machine).
    async fn exchange(
        &self,
        request: HttpRequest,
        proof: Option<(&CryptoKey, String)>,
    ) -> Result<HttpResponse> {
        let head = Self::head(proof.as_ref().map(|(_, input)| input.as_str()), &request)?;
        let HttpRequest {
            method,
            url,
            body,
            max_body,
            keep_body,
            ..
        } = &request;
        let max = u32::try_from(*max_body).unwrap_or(u32::MAX);
        // An SDK's `AbortSignal` (see `wasm/fetch.rs`): aborts the request on its way.
        let none = JsValue::UNDEFINED;
        let signal = request.cancel.as_ref().and_then(|c| c.1.as_ref());
        let signal = signal.unwrap_or(&none);
        // `given`: no body (`undefined`), the bytes in `body_bytes` (`true`), or an app's own
        // bytes, which stay in JS.
        let keep = keep_body.as_ref().unwrap_or(&none);
        let (given, body_bytes) = match body {
            None => (none.clone(), &[][..]),
            Some(Body::Bytes(bytes)) => (JsValue::TRUE, bytes.as_slice()),
            Some(Body::Js(given)) => (given.clone(), &[][..]),
        };
        let promise = match proof {
            None => js_send(
                &head,
                &given,
                body_bytes,
                self.timeout_ms,
                max,
                signal,
                keep,
            ),
            Some((key, _)) => {
                let (at, len) = (head.as_ptr() as u32, head.len() as u32);
                super::crypto::with_memory(|memory| {
                    js_send_signed(
                        key,
                        memory,
                        at,
                        len,
                        &given,
                        body_bytes,
                        self.timeout_ms,
                        max,
                        signal,
                        keep,
                    )
                })
            }
        };
        // `send` never rejects; a rejection would be a bug in it, reported as a network error.
        let answer: Answer = super::task::wait(&promise)
            .await
            .map_err(|e| super::js::error(ErrorCode::NetworkError, "fetch", &e))?
            .unchecked_into();
        let what = || msg!(method, " ", url);
        if let Some(failure) = answer.failure() {
            let detail = answer.detail();
            return Err(match failure.as_str() {
                "invalid" => Error::new(
                    ErrorCode::InvalidInput,
                    msg!("request to ", url, ": ", detail),
                ),
                "timeout" => Error::new(ErrorCode::Timeout, msg!(what(), ": no answer in time")),
                "too_large" => Error::new(
                    ErrorCode::ResponseTooLarge,
                    msg!(
                        what(),
                        ": the response is larger than ",
                        crate::util::int(*max_body as i64),
                        " bytes"
                    ),
                ),
                "crypto" => Error::new(
                    ErrorCode::CryptoError,
                    msg!("signing a DPoP proof: ", detail),
                ),
                "redirect" => Error::new(
                    ErrorCode::InvalidResponse,
                    msg!(
                        what(),
                        ": answered with a redirect, which a request with a body never follows"
                    ),
                ),
                _ => Error::new(ErrorCode::NetworkError, msg!(what(), ": ", detail)),
            });
        }
        Ok(HttpResponse {
            status: answer.status(),
            headers: super::js::header_pairs(&answer.headers()),
            body: answer.body().unwrap_or_default(),
            redirected: answer.redirected(),
        })
    }
}

impl Http for FetchHttp {
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse>> {
        self.exchange(request, None)
    }
}

/// An HTTP layer of the browser platform, which may sign a request's DPoP proof on its way out.
/// `FetchHttp` does it in the same call into JS as the request; the default (a scripted server
/// in tests) signs with WebCrypto first.
// Single-threaded Wasm: no caller needs the future to be `Send` (as for the `platform` traits).
#[allow(async_fn_in_trait)]
pub trait SendSigned: Http {
    /// `SendWithProof::send_with_proof`, with the browser's key type.
    async fn send_signed(
        &self,
        request: HttpRequest,
        key: &CryptoKey,
        input: String,
    ) -> Result<HttpResponse> {
        let signature = super::crypto::sign(key, input.as_bytes()).settled().await?;
        crate::platform::send_with_signature(self, request, input, &signature)
            .settled()
            .await
    }
}

impl SendSigned for FetchHttp {
    fn send_signed(
        &self,
        request: HttpRequest,
        key: &CryptoKey,
        input: String,
    ) -> impl Future<Output = Result<HttpResponse>> {
        self.exchange(request, Some((key, input)))
    }
}
