//! `Http` over the Fetch API. Uses the global `fetch`, so it works in windows and workers alike.
//! Every request is bounded: an `AbortSignal` fires after the timeout (covering the body too),
//! and the body is read chunk by chunk and refused as soon as it passes the request's cap.

use js_sys::{Function, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Headers, ReadableStreamDefaultReader, Request, RequestInit, Response,
};

use super::js;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{Http, HttpRequest, HttpResponse};

#[wasm_bindgen]
extern "C" {
    // The global functions rather than `Window`'s, so the same code runs in workers.
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(request: &Request) -> std::result::Result<Promise, JsValue>;
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

/// Aborts the request when the time is up; clears its timer when dropped, so a finished (or
/// abandoned) request leaves nothing behind.
struct Deadline {
    controller: AbortController,
    timer: JsValue,
    /// Resolves when the signal aborts: raced against every step, so even a `fetch` (or a
    /// body stream) that ignores the signal cannot hang the call.
    aborted: Promise,
}

impl Deadline {
    fn start(ms: u32) -> Result<Deadline> {
        let controller = AbortController::new()
            .map_err(|e| js::error(ErrorCode::Unsupported, "AbortController", &e))?;
        // `controller.abort` bound to the controller: no Rust closure for the timer to outlive.
        let abort: Function = Reflect::get(&controller, &JsValue::from_str("abort"))
            .ok()
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| Error::new(ErrorCode::Unsupported, "AbortController.abort"))?;
        let timer = js::set_timeout(&abort.bind0(&controller), ms.min(i32::MAX as u32) as i32);
        let signal = controller.signal();
        let aborted = Promise::new(&mut |resolve, _reject| signal.set_onabort(Some(&resolve)));
        Ok(Deadline {
            controller,
            timer,
            aborted,
        })
    }

    /// Awaits `step` unless the deadline passes first.
    async fn race(&self, step: Promise, code: ErrorCode, what: &str) -> Result<JsValue> {
        let first = Promise::race(&js_sys::Array::of2(&step, &self.aborted));
        let value = JsFuture::from(first)
            .await
            .map_err(|e| self.error(code, what, &e))?;
        if self.expired() {
            return Err(self.error(code, what, &JsValue::from_str("aborted")));
        }
        Ok(value)
    }

    fn expired(&self) -> bool {
        self.controller.signal().aborted()
    }

    /// A failure as the caller should see it: `Timeout` once the deadline has passed.
    fn error(&self, code: ErrorCode, context: &str, e: &JsValue) -> Error {
        if self.expired() {
            js::error(
                ErrorCode::Timeout,
                &format!("{context}: no answer in time"),
                e,
            )
        } else {
            js::error(code, context, e)
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        js::clear_timeout(&self.timer);
        self.controller.signal().set_onabort(None);
    }
}

impl Http for FetchHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let deadline = Deadline::start(self.timeout_ms)?;
        let js_request = build_request(&request, &deadline.controller)?;
        let what = format!("{} {}", request.method, request.url);
        let promise = global_fetch(&js_request)
            .map_err(|e| js::error(ErrorCode::NetworkError, "fetch", &e))?;
        // fetch rejects only when no response arrived at all (offline, DNS, CORS refusal), or
        // when the deadline aborted it.
        let response = deadline
            .race(promise, ErrorCode::NetworkError, &what)
            .await?;
        let response: Response = response.dyn_into().map_err(|_| {
            Error::new(
                ErrorCode::NetworkError,
                "fetch resolved to something other than a Response",
            )
        })?;
        let headers = response_headers(&response.headers());
        let body = read_body(&response, request.max_body, &deadline, &what).await?;
        Ok(HttpResponse {
            status: response.status(),
            headers,
            body,
            redirected: response.redirected(),
        })
    }
}

/// A request the browser refuses to even build (bad URL, forbidden header value, body on GET)
/// is the caller's input, not the network's fault.
fn build_request(request: &HttpRequest, controller: &AbortController) -> Result<Request> {
    let invalid = |what: &str, e: JsValue| js::error(ErrorCode::InvalidInput, what, &e);
    let init = RequestInit::new();
    init.set_method(&request.method);
    init.set_signal(Some(&controller.signal()));
    let headers = Headers::new().map_err(|e| invalid("headers", e))?;
    for (name, value) in &request.headers {
        headers
            .append(name, value)
            .map_err(|e| invalid(&format!("header {name}"), e))?;
    }
    init.set_headers_headers(&headers);
    if let Some(body) = &request.body {
        // A copy in JS memory: a view into Wasm memory would be invalidated if memory grows
        // before fetch reads it.
        let bytes = Uint8Array::from(body.as_slice());
        init.set_body(&bytes);
    }
    Request::new_with_str_and_init(&request.url, &init)
        .map_err(|e| invalid(&format!("request to {}", request.url), e))
}

fn response_headers(headers: &Headers) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in headers.entries() {
        let Ok(entry) = entry else { break };
        let pair: js_sys::Array = entry.unchecked_into();
        if let (Some(name), Some(value)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
            out.push((name.to_ascii_lowercase(), value));
        }
    }
    out
}

fn too_large(what: &str, max: usize) -> Error {
    Error::new(
        ErrorCode::ResponseTooLarge,
        format!("{what}: the response is larger than {max} bytes"),
    )
}

/// Reads the body chunk by chunk, refusing it (and cancelling the download) as soon as it
/// passes `max` bytes, so an endless or enormous answer never fills memory. Always a stream,
/// even with a Content-Length: `fetch` decompresses transparently, so a small compressed body
/// can still grow into a huge one (and Content-Encoding is not visible across origins).
async fn read_body(
    response: &Response,
    max: usize,
    deadline: &Deadline,
    what: &str,
) -> Result<Vec<u8>> {
    let declared = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        deadline.controller.abort();
        return Err(too_large(what, max));
    }
    let Some(stream) = response.body() else {
        return Ok(Vec::new());
    };
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut body = Vec::new();
    loop {
        let chunk = deadline
            .race(reader.read(), ErrorCode::NetworkError, what)
            .await?;
        let done = Reflect::get(&chunk, &JsValue::from_str("done"))
            .map(|d| d.is_truthy())
            .unwrap_or(true);
        if done {
            return Ok(body);
        }
        let value = Reflect::get(&chunk, &JsValue::from_str("value")).unwrap_or(JsValue::UNDEFINED);
        let bytes: Uint8Array = value.dyn_into().map_err(|_| {
            Error::new(
                ErrorCode::NetworkError,
                format!("{what}: a body chunk is not bytes"),
            )
        })?;
        if body.len() + bytes.length() as usize > max {
            let _ = reader.cancel();
            deadline.controller.abort();
            return Err(too_large(what, max));
        }
        let start = body.len();
        body.resize(start + bytes.length() as usize, 0);
        bytes.copy_to(&mut body[start..]);
    }
}
