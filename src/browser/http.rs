//! `Http` over the Fetch API. Uses the global `fetch`, so it works in windows and workers alike.

use js_sys::{ArrayBuffer, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, Request, RequestCache, RequestInit, Response};

use super::js;
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{Http, HttpRequest, HttpResponse};

#[wasm_bindgen]
extern "C" {
    // The global function rather than `Window::fetch`, so the same code runs in workers.
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(request: &Request) -> std::result::Result<Promise, JsValue>;
}

/// Sends requests with `fetch`. Stateless; `cache: "no-store"` on every request because OAuth
/// and XRPC responses must never come from the HTTP cache (nonces, tokens, fresh metadata).
#[derive(Clone, Copy, Debug, Default)]
pub struct FetchHttp;

impl Http for FetchHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse> {
        let js_request = build_request(&request)?;
        let promise = global_fetch(&js_request)
            .map_err(|e| js::error(ErrorCode::NetworkError, "fetch", &e))?;
        // fetch rejects only when no response arrived at all (offline, DNS, CORS refusal).
        let response = JsFuture::from(promise).await.map_err(|e| {
            js::error(
                ErrorCode::NetworkError,
                &format!("{} {}", request.method, request.url),
                &e,
            )
        })?;
        let response: Response = response.dyn_into().map_err(|_| {
            Error::new(
                ErrorCode::NetworkError,
                "fetch resolved to something other than a Response",
            )
        })?;
        let headers = response_headers(&response.headers());
        let body = read_body(&response).await?;
        Ok(HttpResponse {
            status: response.status(),
            headers,
            body,
        })
    }
}

/// A request the browser refuses to even build (bad URL, forbidden header value, body on GET)
/// is the caller's input, not the network's fault.
fn build_request(request: &HttpRequest) -> Result<Request> {
    let invalid = |what: &str, e: JsValue| js::error(ErrorCode::InvalidInput, what, &e);
    let init = RequestInit::new();
    init.set_method(&request.method);
    init.set_cache(RequestCache::NoStore);
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

async fn read_body(response: &Response) -> Result<Vec<u8>> {
    let network = |e: JsValue| js::error(ErrorCode::NetworkError, "reading response body", &e);
    let promise = response.array_buffer().map_err(network)?;
    let buffer = JsFuture::from(promise).await.map_err(network)?;
    let buffer: ArrayBuffer = buffer.dyn_into().map_err(|_| {
        Error::new(
            ErrorCode::NetworkError,
            "response body is not an ArrayBuffer",
        )
    })?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
