//! The session object's `fetchHandler(pathname, init)`, the interface through which the AT
//! Protocol SDKs (`@atproto/api`'s `Agent`, `@atcute/client`'s `Client`) make their requests:
//! a `RequestInit` in, a `Response` out. The request itself is `Client::fetch`'s (DPoP, nonces,
//! refresh and retry); this file only converts.

use std::rc::Rc;

use js_sys::{Array, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, ReadableStream, Response, ResponseInit};

use super::convert::{get, opt_string, options_arg, promise, string_arg};
use crate::browser::BrowserPlatform;
use crate::client::{Client, PdsRequest};
use crate::error::{Error, ErrorCode, Result};
use crate::platform::HttpResponse;

fn invalid(what: &str, value: &JsValue) -> Error {
    Error::new(
        ErrorCode::InvalidInput,
        format!(
            "fetchHandler: {what}: {}",
            crate::browser::js::message(value)
        ),
    )
}

/// The request an SDK describes, read the way `fetch` reads it: headers in any `HeadersInit`
/// form, and any `BodyInit` (string, bytes, `Blob`, `ReadableStream`, `FormData`,
/// `URLSearchParams`). The body is read whole: a retry after a refresh sends it again.
async fn request_from_js(path: &JsValue, init: JsValue) -> Result<PdsRequest> {
    let path = string_arg(path, "fetchHandler(pathname)")?;
    let init = options_arg(Some(init), "fetchHandler(init)")?;
    let method = opt_string(&init, "method")?.unwrap_or_else(|| "GET".into());
    let headers_init = get(&init, "headers");
    let headers = if headers_init.is_undefined() || headers_init.is_null() {
        Headers::new()
    } else {
        Headers::new_with_str_sequence_sequence(&headers_init)
    }
    .map_err(|e| invalid("headers", &e))?;
    let mut list = Vec::new();
    // A Headers object iterates as [name, value] pairs, names lower-cased.
    if let Ok(Some(entries)) = js_sys::try_iter(&headers) {
        for entry in entries.flatten() {
            let pair: Array = entry.unchecked_into();
            if let (Some(k), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                list.push((k, v));
            }
        }
    }
    let body_init = get(&init, "body");
    let body = if body_init.is_undefined() || body_init.is_null() {
        None
    } else {
        // `new Response(body)` accepts every BodyInit in every browser (a stream as a request
        // body does not work in Firefox's `Request`), and says the content type fetch would
        // send. The binding's parameter type does not matter: the constructor is the same.
        let reader = Response::new_with_opt_readable_stream(Some(
            body_init.unchecked_ref::<ReadableStream>(),
        ))
        .map_err(|e| invalid("body", &e))?;
        if !list.iter().any(|(k, _)| k == "content-type") {
            if let Ok(Some(ct)) = reader.headers().get("content-type") {
                list.push(("content-type".into(), ct));
            }
        }
        let buffer = reader.array_buffer().map_err(|e| invalid("body", &e))?;
        let buffer = JsFuture::from(buffer)
            .await
            .map_err(|e| invalid("could not read the body", &e))?;
        Some(Uint8Array::new(&buffer).to_vec())
    };
    Ok(PdsRequest {
        method,
        path,
        headers: list,
        body,
    })
}

/// The answer as a `Response`, whatever its status: SDKs read error answers themselves.
fn response_to_js(resp: &HttpResponse) -> Result<JsValue> {
    let fail = |e: JsValue| {
        Error::new(
            ErrorCode::InvalidResponse,
            format!("HTTP {}: {}", resp.status, crate::browser::js::message(&e)),
        )
    };
    let headers = Headers::new().map_err(fail)?;
    for (k, v) in &resp.headers {
        let _ = headers.append(k, v);
    }
    let init = ResponseInit::new();
    init.set_status(resp.status);
    init.set_headers(&headers);
    // These statuses must not have a body (the constructor throws otherwise).
    let body: Option<Object> = match resp.status {
        101 | 103 | 204 | 205 | 304 => None,
        _ => Some(Uint8Array::from(resp.body.as_slice()).into()),
    };
    Response::new_with_opt_buffer_source_and_init(body.as_ref(), &init)
        .map(Into::into)
        .map_err(fail)
}

/// `fetchHandler` for `did`: a function of its own (SDKs call it without `this`), holding the
/// client. `proxy` is the session's default `atproto-proxy`; a request's own header wins.
pub(super) fn handler(
    client: Rc<Client<BrowserPlatform>>,
    did: String,
    proxy: Option<String>,
) -> JsValue {
    Closure::<dyn Fn(JsValue, JsValue) -> Promise>::new(move |path: JsValue, init: JsValue| {
        let (client, did, proxy) = (client.clone(), did.clone(), proxy.clone());
        promise(async move {
            let req = request_from_js(&path, init)
                .await?
                .with_default_proxy(proxy.as_deref());
            response_to_js(&client.fetch(&did, &req).await?)
        })
    })
    .into_js_value()
}
