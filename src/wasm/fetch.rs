//! The session object's `fetchHandler(pathname, init)`, the interface through which the AT
//! Protocol SDKs (`@atproto/api`'s `Agent`, `@atcute/client`'s `Client`) make their requests:
//! a `RequestInit` in, a `Response` out. The request itself is `Client::fetch`'s (DPoP, nonces,
//! refresh and retry). Reading the `RequestInit` and building the `Response` are one call each
//! into `glue.js` (`readInit`, `makeResponse`): from Rust every `Headers`, `Response` and
//! `ArrayBuffer` step was a boundary crossing and an import of its own in the `.wasm`.

use std::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{promise, string_arg};
use crate::browser::js::{header_lines, header_pairs, Outcome};
use crate::browser::BrowserPlatform;
use crate::client::{Client, PdsRequest};
use crate::error::{Error, ErrorCode, Result};
use crate::platform::{Cancel, HttpResponse};
use crate::settled::Settled;

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// Resolves, never rejects, to an `Init` or a failure; `signal` is what `sdkHandler` read of
    /// `init.signal`. (`catch`: an async function does not throw, but a throw from JS must be an
    /// error here, never a trap.)
    #[wasm_bindgen(js_name = readInit, catch)]
    fn read_init(
        init: &JsValue,
        signal: &JsValue,
        timeout_ms: u32,
    ) -> std::result::Result<Promise, JsValue>;

    /// The request `readInit` read: headers a line per name and per value, names lower-cased.
    #[wasm_bindgen(extends = Outcome)]
    type Init;
    #[wasm_bindgen(method, getter)]
    fn method(this: &Init) -> String;
    /// The SDK's `AbortSignal`, `undefined` for none.
    #[wasm_bindgen(method, getter)]
    fn signal(this: &Init) -> JsValue;

    /// Whether the signal (one `readInit` checked) fired.
    #[wasm_bindgen(js_name = signalFired)]
    fn signal_fired(signal: &JsValue) -> bool;

    /// A `Response`, or a failure.
    #[wasm_bindgen(js_name = makeResponse)]
    fn make_response(status: u16, head: &str, body: &[u8], sink: &JsValue) -> Outcome;

    /// The handler as SDKs expect it of fetch: `init.signal` honoured, an ended session a
    /// `statusCode` 401 (see `sdkHandler` in `glue.js`).
    #[wasm_bindgen(js_name = sdkHandler)]
    fn sdk_handler(handler: &JsValue) -> JsValue;
}

/// The request an SDK describes (see `readInit` in `glue.js`); its body read within
/// `timeout_ms`.
async fn request_from_js(
    path: &JsValue,
    init: &JsValue,
    signal: &JsValue,
    timeout_ms: u32,
) -> Result<PdsRequest> {
    let path = string_arg(path, "fetchHandler(pathname)")?;
    let bug = |e: JsValue| crate::browser::js::error(ErrorCode::InvalidInput, "fetchHandler", &e);
    let init: Init = crate::browser::task::wait(&read_init(init, signal, timeout_ms).map_err(bug)?)
        .await
        .map_err(bug)?
        .unchecked_into();
    if let Some(failure) = init.failure() {
        let code = match failure.as_str() {
            "timeout" => ErrorCode::Timeout,
            _ => ErrorCode::InvalidInput,
        };
        return Err(Error::new(code, init.detail()));
    }
    let signal = init.signal();
    // Checked before each attempt is sent: a call that waited for its lock or a refresh, or
    // would retry, sends nothing once the SDK gave up on it (as fetch sends nothing then).
    let cancel = (!signal.is_undefined()).then(|| {
        let handle = signal.clone();
        Cancel(Rc::new(move || signal_fired(&signal)), Some(handle))
    });
    Ok(PdsRequest {
        method: init.method(),
        path,
        headers: header_pairs(&init.headers()),
        body: init.app_body(),
        cancel,
        // The object `readInit` answered is the sink: no other is made per call.
        keep_body: Some(init.into()),
    })
}

/// The answer as a `Response`, whatever its status: SDKs read error answers themselves.
fn response_to_js(resp: &HttpResponse, req: &PdsRequest) -> Result<JsValue> {
    // The body `glue.js` left in the sink, if it did, is taken there.
    let sink = req.keep_body.as_ref();
    let head = header_lines(&resp.headers);
    let out = make_response(
        resp.status,
        &head,
        &resp.body,
        sink.unwrap_or(&JsValue::UNDEFINED),
    );
    if out.failure().is_some() {
        return Err(Error::new(ErrorCode::InvalidResponse, out.detail()));
    }
    Ok(out.into())
}

/// `fetchHandler` for `did`: a function of its own (SDKs call it without `this`), holding the
/// client. `proxy` is the session's default `atproto-proxy`; a request's own header wins.
pub(super) fn handler(
    client: Rc<Client<BrowserPlatform>>,
    did: String,
    proxy: Option<String>,
) -> JsValue {
    sdk_handler(
        &Closure::<dyn Fn(JsValue, JsValue, JsValue) -> Promise>::new(
            move |path: JsValue, init: JsValue, signal: JsValue| {
                let (client, did, proxy) = (client.clone(), did.clone(), proxy.clone());
                promise(async move {
                    let timeout = client.config().request_timeout_ms;
                    let req = request_from_js(&path, &init, &signal, timeout)
                        .settled()
                        .await?
                        .with_default_proxy(proxy.as_deref());
                    response_to_js(&client.fetch(&did, &req).settled().await?, &req)
                })
            },
        )
        .into_js_value(),
    )
}

#[cfg(test)]
pub(super) mod tests {
    use wasm_bindgen_test::*;

    use super::*;

    /// The request a `fetchHandler` call with `init` describes.
    pub(crate) async fn request_of(path: &JsValue, init: &JsValue) -> Result<PdsRequest> {
        request_from_js(path, init, &JsValue::UNDEFINED, 10_000).await
    }

    fn init(source: &str) -> JsValue {
        js_sys::Function::new_no_args(source)
            .call0(&JsValue::NULL)
            .unwrap()
    }

    /// The app's body is read within the call's deadline: a stream that never ends held the
    /// call forever, before any request existed for `requestTimeoutMs` to bound.
    #[wasm_bindgen_test]
    async fn a_body_that_never_ends_is_read_until_the_deadline() {
        let path = JsValue::from("/xrpc/a.b.c");
        let none = JsValue::UNDEFINED;
        let stalled = init(
            "globalThis.stalledCancelled = false; return { method: 'POST', body: new \
             ReadableStream({ pull: () => new Promise(() => {}), cancel() { \
             globalThis.stalledCancelled = true; } }) };",
        );
        let Err(e) = request_from_js(&path, &stalled, &none, 100).await else {
            panic!("the body was taken");
        };
        assert_eq!(e.code, ErrorCode::Timeout, "{}", e.message);
        // The stream given up on is cancelled, as fetch cancels a body it stops reading: its
        // source stops, and does not stay locked for nothing.
        let cancelled = js_sys::Reflect::get(&js_sys::global(), &"stalledCancelled".into());
        assert_eq!(cancelled.unwrap().as_bool(), Some(true));
        // Chunks that are not bytes are the app's mistake.
        let strings = init(
            "return { method: 'POST', body: new ReadableStream({ start(c) { c.enqueue('x'); \
             c.close(); } }) };",
        );
        let Err(e) = request_from_js(&path, &strings, &none, 1000).await else {
            panic!("a string chunk was taken");
        };
        assert_eq!(e.code, ErrorCode::InvalidInput, "{}", e.message);
        let given = init("return { method: 'POST', body: 'abc' };");
        let req = request_from_js(&path, &given, &none, 100).await.unwrap();
        let body = req.body.as_ref().map(crate::platform::body_bytes);
        assert_eq!(body.as_deref(), Some(&b"abc"[..]));
    }
}
