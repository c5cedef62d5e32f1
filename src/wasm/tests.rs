//! The JavaScript surface with wrong values, as a new user (or a confused app) passes them:
//! every call settles with an `OAuthError` whose code says what is wrong, never a trap, never a
//! plain `TypeError`.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

use super::{build_scope, loopback_client_id, OAuthClient};
use crate::platform::body_bytes;

wasm_bindgen_test_configure!(run_in_browser);

fn code(error: &JsValue) -> String {
    assert_eq!(
        Reflect::get(error, &"name".into())
            .ok()
            .and_then(|n| n.as_string())
            .as_deref(),
        Some("OAuthError"),
        "{error:?}"
    );
    Reflect::get(error, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_default()
}

async fn rejection(promise: Promise) -> String {
    match JsFuture::from(promise).await {
        Ok(v) => panic!("resolved with {v:?}"),
        Err(e) => code(&e),
    }
}

fn object(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &JsValue::from_str(k), v).unwrap();
    }
    o.into()
}

fn client() -> OAuthClient {
    client_of(&format!("wasm-surface-{}", js_sys::Math::random()))
}

/// A loopback client whose sessions live in the database `db`.
fn client_of(db: &str) -> OAuthClient {
    let redirect = "http://127.0.0.1:8080/callback";
    let config = object(&[
        (
            "clientId",
            loopback_client_id(redirect.into(), "atproto".into())
                .unwrap()
                .into(),
        ),
        ("redirectUri", redirect.into()),
        ("dbName", db.into()),
    ]);
    OAuthClient::new(config).unwrap_or_else(|e| panic!("{e:?}"))
}

#[wasm_bindgen_test]
async fn wrong_argument_types_reject_with_invalid_input() {
    let c = client();
    let num = || JsValue::from(42);
    assert_eq!(rejection(c.start_login(num(), None)).await, "invalid_input");
    assert_eq!(
        rejection(c.start_login(Object::new().into(), None)).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.start_login(JsValue::NULL, None)).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.start_login("alice.test".into(), Some(num()))).await,
        "invalid_input"
    );
    let bad_redirect = object(&[("redirect", "yes".into())]);
    assert_eq!(
        rejection(c.start_login("alice.test".into(), Some(bad_redirect))).await,
        "invalid_input"
    );
    let unknown = object(&[("colour", "blue".into())]);
    assert_eq!(
        rejection(c.start_login("alice.test".into(), Some(unknown))).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.handle_callback(Some(num()))).await,
        "invalid_input"
    );
    let did = || JsValue::from("did:plc:ewvi7nxzyoun6zhxrhs64oiz");
    let coll = || JsValue::from("app.bsky.feed.post");
    assert_eq!(
        rejection(c.fetch_records(JsValue::NULL, coll(), None)).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.fetch_records(did(), num(), None)).await,
        "invalid_input"
    );
    for (key, value) in [
        ("limit", JsValue::from("abc")),
        ("limit", JsValue::from(0)),
        ("limit", JsValue::from(1.5)),
        ("limit", JsValue::from(1e300)),
        ("reverse", JsValue::from("true")),
        ("cursor", JsValue::from(7)),
        // fetchAllRecords' option: one page has no maximum to take.
        ("maxRecords", JsValue::from(5)),
    ] {
        let options = object(&[(key, value.clone())]);
        assert_eq!(
            rejection(c.fetch_records(did(), coll(), Some(options))).await,
            "invalid_input",
            "{key}: {value:?}"
        );
    }
    let options = object(&[("maxRecords", JsValue::from(-1))]);
    assert_eq!(
        rejection(c.fetch_all_records(did(), coll(), Some(options))).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.xrpc(did(), JsValue::NULL)).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.xrpc(num(), object(&[("nsid", "a.b.c".into())]))).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.restore(Some(num()), None)).await,
        "invalid_input"
    );
    for options in [
        object(&[("proxy", "api.bsky.app".into())]),
        object(&[("proxy", 1.into())]),
        object(&[("proxi", "did:web:api.bsky.app#bsky_appview".into())]),
        "did:web:api.bsky.app#bsky_appview".into(),
    ] {
        assert_eq!(
            rejection(c.restore(Some(did()), Some(options))).await,
            "invalid_input"
        );
    }
    let call = object(&[
        ("nsid", "a.b.c".into()),
        ("proxy", "did:web:api.bsky.app".into()),
    ]);
    assert_eq!(rejection(c.xrpc(did(), call)).await, "invalid_input");
    assert_eq!(
        rejection(c.refresh(JsValue::UNDEFINED)).await,
        "invalid_input"
    );
    assert_eq!(rejection(c.sign_out(num())).await, "invalid_input");
    // Well-typed calls still get past the checks (no session here).
    assert_eq!(
        rejection(c.restore(Some(did()), None)).await,
        "session_not_found"
    );
    // No DID and nobody signed in here yet: no session, not an error.
    let none = JsFuture::from(c.restore(None, None)).await.unwrap();
    assert!(none.is_null(), "{none:?}");
    let proxy = object(&[("proxy", "did:web:api.bsky.app#bsky_appview".into())]);
    assert_eq!(
        rejection(c.restore(Some(did()), Some(proxy))).await,
        "session_not_found"
    );
    let ok = object(&[("limit", 5.into()), ("reverse", true.into())]);
    assert_eq!(
        rejection(c.fetch_records(did(), coll(), Some(ok))).await,
        "session_not_found"
    );
}

#[wasm_bindgen_test]
fn wrong_types_in_synchronous_calls_throw_oauth_errors() {
    let c = client();
    assert_eq!(
        code(&c.is_callback(Some(42.into())).unwrap_err()),
        "invalid_input"
    );
    assert!(!c
        .is_callback(Some("http://127.0.0.1:8080/".into()))
        .unwrap());
    assert_eq!(
        code(&c.on_session_event(42.into()).unwrap_err()),
        "invalid_input"
    );
    assert_eq!(
        code(&loopback_client_id(42.into(), "atproto".into()).unwrap_err()),
        "invalid_input"
    );
    for config in [
        JsValue::from(42),
        JsValue::NULL,
        JsValue::from("x"),
        Object::new().into(),
    ] {
        let e = OAuthClient::new(config).err().expect("refused");
        assert_eq!(code(&e), "invalid_config");
    }
}

#[wasm_bindgen_test]
fn values_from_another_realm_are_read_as_what_they_are() {
    // An iframe's arrays and bytes fail `instanceof` here; they must still count as arrays
    // and bytes (not as JSON objects, nor as invalid input).
    let make = js_sys::Function::new_no_args(
        "const f = document.createElement('iframe'); document.body.appendChild(f); \
         const w = f.contentWindow; \
         return { body: new w.Uint8Array([1, 2, 3]), tags: new w.Array('a', 'b'), \
                  buffer: new w.Uint8Array([9]).buffer };",
    );
    let made = make.call0(&JsValue::NULL).unwrap();
    let field = |k: &str| Reflect::get(&made, &k.into()).unwrap();
    let call = object(&[
        ("nsid", "com.atproto.repo.uploadBlob".into()),
        ("params", object(&[("tags", field("tags"))])),
        ("body", field("body")),
    ]);
    let req = super::convert::xrpc_call_from_js(&call).unwrap();
    assert_eq!(req.body.as_ref().map(body_bytes), Some(vec![1, 2, 3]));
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(
        req.params,
        vec![
            ("tags".to_string(), "a".to_string()),
            ("tags".into(), "b".into())
        ]
    );
    let call = object(&[("nsid", "a.b.c".into()), ("body", field("buffer"))]);
    assert_eq!(
        super::convert::xrpc_call_from_js(&call)
            .unwrap()
            .body
            .as_ref()
            .map(body_bytes),
        Some(vec![9])
    );
}

/// An app's body (an upload) stays a JS value on its way to `fetch`: copied into Wasm memory,
/// it grew the memory by its size for good (Wasm memory never shrinks), and concurrent large
/// uploads could exhaust it, a trap. The `fetchHandler`'s body likewise.
#[wasm_bindgen_test]
async fn an_upload_never_enters_wasm_memory() {
    let size = 48 << 20;
    let pages = || {
        wasm_bindgen::memory()
            .unchecked_into::<js_sys::WebAssembly::Memory>()
            .buffer()
            .unchecked_into::<js_sys::ArrayBuffer>()
            .byte_length()
    };
    let bytes = js_sys::Uint8Array::new_with_length(size);
    bytes.fill(7, 0, size);
    let before = pages();
    let call = object(&[
        ("nsid", "com.atproto.repo.uploadBlob".into()),
        ("body", bytes.clone().into()),
    ]);
    let req = super::convert::xrpc_call_from_js(&call).unwrap();
    let init = object(&[("method", "POST".into()), ("body", bytes.into())]);
    let path = JsValue::from("/xrpc/com.atproto.repo.uploadBlob");
    let fetched = super::fetch::tests::request_of(&path, &init).await.unwrap();
    let grown = pages() - before;
    assert!(grown < size / 4, "Wasm memory grew by {grown} bytes");
    drop((req, fetched));
}

/// What `xrpc(did, call)` sends for each kind of value, and what it refuses with which message.
#[wasm_bindgen_test]
fn xrpc_calls_are_read_value_by_value() {
    let js = |src: &str| {
        js_sys::Function::new_no_args(&format!("return {src};"))
            .call0(&JsValue::NULL)
            .unwrap()
    };
    let read = |src: &str| super::convert::xrpc_call_from_js(&js(src));
    let req = read(
        r#"{ nsid: "a.b.c", params: { n: 1.5, t: true, s: "x\ny", list: [1, [2, null], "z"],
             skip: undefined, none: null, big: 1e21 }, headers: { "X-A": "v" },
             proxy: "did:web:x#y" }"#,
    )
    .unwrap();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(req.method, "GET");
    assert_eq!(req.nsid, "a.b.c");
    assert_eq!(
        req.params,
        pairs(&[
            ("n", "1.5"),
            ("t", "true"),
            ("s", "x\ny"),
            ("list", "1"),
            ("list", "2"),
            ("list", "z"),
            ("big", "1e+21"),
        ])
    );
    assert_eq!(req.headers, pairs(&[("X-A", "v")]));
    assert_eq!(req.proxy.as_deref(), Some("did:web:x#y"));
    assert!(req.body.is_none() && req.content_type.is_none());

    let req =
        read(r#"{ nsid: "a.b.c", method: "post", body: { é: [1, "\u2028"] }, encoding: "x/y" }"#)
            .unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.body.as_ref().map(body_bytes).as_deref(),
        Some("{\"é\":[1,\"\u{2028}\"]}".as_bytes())
    );
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    // A body of `null` is JSON too; bytes keep their encoding.
    let req = read(r#"{ nsid: "a.b.c", body: null }"#).unwrap();
    assert_eq!(
        (
            req.method.as_str(),
            req.body.as_ref().map(body_bytes).as_deref()
        ),
        ("POST", Some(&b"null"[..]))
    );
    let req = read(r#"{ nsid: "a.b.c", body: new Uint8Array([0, 255]), encoding: "image/png", method: "POST" }"#)
        .unwrap();
    assert_eq!(
        req.body.as_ref().map(body_bytes).as_deref(),
        Some(&[0u8, 255][..])
    );
    assert_eq!(req.content_type.as_deref(), Some("image/png"));
    // Any view of bytes is its bytes, from its offset (JSON would make it an object of indices).
    for view in [
        "new DataView(new Uint8Array([9, 0, 255, 9]).buffer, 1, 2)",
        "new Int8Array([0, -1])",
        "new Uint8ClampedArray([0, 255])",
        "new Uint8Array([9, 0, 255]).subarray(1)",
        "new Uint8Array([0, 255]).buffer",
    ] {
        let req = read(&format!(r#"{{ nsid: "a.b.c", body: {view} }}"#)).unwrap();
        assert_eq!(
            req.body.as_ref().map(body_bytes).as_deref(),
            Some(&[0u8, 255][..]),
            "{view}"
        );
        assert_eq!(
            req.content_type.as_deref(),
            Some("application/octet-stream"),
            "{view}"
        );
    }

    // Whole calls, then the rest of a call to `a.b.c`.
    let mut cases = vec![
        ("42".to_string(), "xrpc(did, call): call must be an object"),
        (
            r#"{ nsid: "a.b.c", nope: 1 }"#.into(),
            "xrpc call: unknown option",
        ),
        ("{}".into(), "xrpc: nsid is required"),
        ("{ nsid: 7 }".into(), "nsid must be a string"),
    ];
    for (rest, message) in [
        (r#"method: "PUT""#, "xrpc: method must be GET or POST"),
        (r#"method: "poſt""#, "xrpc: method must be GET or POST"),
        ("method: 1", "method must be a string"),
        ("body: () => 1", "xrpc: body is not JSON-serializable"),
        ("body: { n: 1n }", "xrpc: body is not JSON-serializable"),
        // JSON would send `{}`: a Blob's bytes are read with `await blob.arrayBuffer()`.
        ("body: new Blob([\"x\"])", "xrpc: body is a Blob"),
        ("body: new Map([[1, 2]])", "xrpc: body is a Map"),
        (
            "body: new URLSearchParams(\"a=b\")",
            "xrpc: body is a URLSearchParams",
        ),
        (
            "body: new Uint8Array(1), encoding: 1",
            "encoding must be a string",
        ),
        ("params: []", "params must be an object"),
        (r#"params: "a=b""#, "params must be an object"),
        (
            "params: { a: {} }",
            "param a must be a string, number or boolean",
        ),
        (
            "params: { a: [1, {}] }",
            "param a must be a string, number or boolean",
        ),
        (
            "headers: { h: 1n }",
            "param h must be a string, number or boolean",
        ),
        ("proxy: false", "proxy must be a string"),
    ] {
        cases.push((format!(r#"{{ nsid: "a.b.c", {rest} }}"#), message));
    }
    for (src, message) in cases {
        let src = src.as_str();
        let e = read(src)
            .err()
            .unwrap_or_else(|| panic!("{src} was accepted"));
        assert_eq!(e.code, crate::error::ErrorCode::InvalidInput, "{src}");
        assert!(e.message.starts_with(message), "{src}: {}", e.message);
    }
}

/// What an answer's body is for the app: JSON when it says so and parses, else its bytes, or
/// `undefined` when it has none.
#[wasm_bindgen_test]
fn xrpc_answers_are_json_bytes_or_nothing() {
    use crate::platform::HttpResponse;
    let answer = |content_type: &str, body: &[u8]| HttpResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("x-n".into(), "1".into()),
        ],
        body: body.to_vec(),
        redirected: false,
    };
    // A call with no sink: the answer's body is in Wasm memory, as the client reads them.
    let call = crate::client::tests::list_request();
    let data = |resp: &HttpResponse| {
        js_sys::Reflect::get(&super::convert::xrpc_result(resp, &call), &"data".into()).unwrap()
    };
    let text = |v: JsValue| js_sys::JSON::stringify(&v).unwrap().as_string().unwrap();
    assert_eq!(
        text(data(&answer("application/json", br#"{"a":[1]}"#))),
        r#"{"a":[1]}"#
    );
    assert!(data(&answer("application/json", b"null")).is_null());
    for (content_type, body) in [
        ("application/json", &b"{nope"[..]),
        ("application/json", b"\xef\xbb\xbf{}"),
        ("application/json", b"\"\xff\""),
        ("text/plain", b"{}"),
    ] {
        let bytes: js_sys::Uint8Array = data(&answer(content_type, body)).dyn_into().unwrap();
        assert_eq!(bytes.to_vec(), body, "{content_type}");
    }
    assert!(data(&answer("application/json", b"")).is_undefined());
    assert!(data(&answer("text/plain", b"")).is_undefined());
    let result = super::convert::xrpc_result(
        &HttpResponse {
            status: 201,
            ..answer("application/json; charset=utf-8", b"[true]")
        },
        &call,
    );
    assert_eq!(
        text(result),
        r#"{"status":201,"headers":{"content-type":"application/json; charset=utf-8","x-n":"1"},"data":[true]}"#
    );
}

#[wasm_bindgen_test]
fn build_scope_reads_javascript_values() {
    let values = js_sys::JSON::parse(
        r#"["atproto", {"resource":"repo","collection":"com.example.allowed","action":"create"},
            {"resource":"rpc","lxm":["b.example.get","a.example.get"],"aud":"did:web:api.example.com#svc"},
            {"resource":"account","attr":"email"}, "transition:email", "atproto"]"#,
    )
    .unwrap();
    assert_eq!(
        build_scope(values).unwrap(),
        "atproto repo:com.example.allowed?action=create \
         rpc?lxm=a.example.get&lxm=b.example.get&aud=did:web:api.example.com%23svc \
         account:email transition:email"
    );
    for bad in [
        "42",
        r#"{"resource":"repo"}"#,
        r#"["repo:app.bsky.feed.post"]"#,
        r#"[{"resource":"repo","collection":"app.bsky.feed.post","acton":"create"}]"#,
        "[null]",
        "[7]",
        r#"[{"resource":"repo","collection":["app.bsky.feed.post",7]}]"#,
        r#"[{"resource":"repo","collection":{"0":"app.bsky.feed.post"}}]"#,
    ] {
        let e = build_scope(js_sys::JSON::parse(bad).unwrap()).unwrap_err();
        assert_eq!(code(&e), "invalid_input", "{bad}");
    }
}

/// Objects that throw when read (a Proxy whose traps throw, a revoked Proxy, a throwing
/// getter, a Proxy claiming 2^32 − 1 elements) where the app passes options, a config, an xrpc
/// call or scope values: each call fails with the typed error, and the next calls work. A
/// throw that crossed the Wasm frames left the module's stack pointer behind: after a few
/// hundred, every call of the page trapped (`memory access out of bounds`).
#[wasm_bindgen_test]
async fn objects_that_throw_when_read_are_refused_not_thrown_through() {
    let hostile = js_sys::Function::new_no_args(
        "const r = Proxy.revocable({}, {}); r.revoke();          const keys = new Proxy({}, { ownKeys() { throw new Error('no keys'); } });          const getter = { resource: 'repo', get collection() { throw new Error('no'); } };          const long = new Proxy([], { get: (t, k) => k === 'length' ? 4294967295 : 'x' });          return [r.proxy, keys, getter, long];",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let hostile: Vec<JsValue> = js_sys::Array::from(&hostile).iter().collect();
    let c = client();
    let did = || JsValue::from("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    for _ in 0..300 {
        for h in &hostile {
            let e = OAuthClient::new(h.clone()).err().expect("refused");
            assert_eq!(code(&e), "invalid_config");
            let config = object(&[
                (
                    "clientId",
                    "https://app.example/client-metadata.json".into(),
                ),
                ("redirectUri", "https://app.example/callback".into()),
                ("handleResolution", h.clone()),
            ]);
            let e = OAuthClient::new(config).err().expect("refused");
            assert_eq!(code(&e), "invalid_config");
            let list = js_sys::Array::of1(h);
            assert_eq!(
                code(&build_scope(list.into()).unwrap_err()),
                "invalid_input"
            );
            let permission = object(&[("resource", "repo".into()), ("collection", h.clone())]);
            let list = js_sys::Array::of1(&permission);
            assert_eq!(
                code(&build_scope(list.into()).unwrap_err()),
                "invalid_input"
            );
        }
        // The revoked Proxy and the long one as the list itself.
        assert_eq!(
            code(&build_scope(hostile[0].clone()).unwrap_err()),
            "invalid_input"
        );
        assert_eq!(
            code(&build_scope(hostile[3].clone()).unwrap_err()),
            "invalid_input"
        );
    }
    for h in &hostile[..2] {
        let h = Some(h.clone());
        assert_eq!(
            rejection(c.start_login("alice.test".into(), h.clone())).await,
            "invalid_input"
        );
        assert_eq!(
            rejection(c.xrpc(did(), h.clone().unwrap())).await,
            "invalid_input"
        );
        assert_eq!(
            rejection(c.fetch_records(did(), "a.b.c".into(), h.clone())).await,
            "invalid_input"
        );
        assert_eq!(
            rejection(c.fetch_all_records(did(), "a.b.c".into(), h)).await,
            "invalid_input"
        );
    }
    // A Proxy's `length` that is not a count, and a getter that throws a Proxy whose `has`
    // trap throws (asking it whether it is one of glue.js's own failures would throw again).
    let odd = js_sys::Function::new_no_args(
        "return [new Proxy([], { get: (t, k) => k === 'length' ? 'atproto' : undefined }),                  { nsid: 'a.b.c', get params() {                      throw new Proxy({}, { has() { throw new Error('has'); } }); } }];",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let list = js_sys::Reflect::get_u32(&odd, 0).unwrap();
    assert_eq!(code(&build_scope(list).unwrap_err()), "invalid_input");
    let call = js_sys::Reflect::get_u32(&odd, 1).unwrap();
    assert_eq!(rejection(c.xrpc(did(), call)).await, "invalid_input");
    // Nothing was left behind: the same calls with good values work.
    assert_eq!(
        build_scope(js_sys::Array::of1(&"atproto".into()).into()).unwrap(),
        "atproto"
    );
    client();
}

/// A known option whose getter (or `Proxy` `get` trap) throws is refused, not read as absent:
/// a config whose `dbName` throws opened the default database, `fetchRecords` whose `limit`
/// throws ran without one, and `startLogin` whose `redirect` throws did not redirect.
#[wasm_bindgen_test]
async fn a_known_option_that_throws_when_read_is_refused() {
    let make = js_sys::Function::new_with_args(
        "key, base",
        "const o = { ...base }; Object.defineProperty(o, key, { enumerable: true, get() { throw new Error('no ' + key); } }); return o;",
    );
    let throwing =
        |key: &str, base: &JsValue| make.call2(&JsValue::NULL, &key.into(), base).unwrap();
    let base = object(&[
        (
            "clientId",
            "https://app.example/client-metadata.json".into(),
        ),
        ("redirectUri", "https://app.example/callback".into()),
    ]);
    for key in [
        "dbName",
        "allowHttp",
        "requestTimeoutMs",
        "scope",
        "handleResolution",
        "clientId",
    ] {
        let e = OAuthClient::new(throwing(key, &base)).err().expect(key);
        assert_eq!(code(&e), "invalid_config", "{key}");
    }
    // Every key listed, every read throwing.
    let proxy = js_sys::Function::new_with_args(
        "keys",
        "return new Proxy(Object.fromEntries(keys.map((k) => [k, 1])), { get() { throw new Error('no'); } });",
    );
    let trap = |keys: &[&str]| {
        let keys: js_sys::Array = keys.iter().map(|k| JsValue::from(*k)).collect();
        proxy.call1(&JsValue::NULL, &keys).unwrap()
    };
    let c = client();
    let did = || JsValue::from("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    let empty = JsValue::from(js_sys::Object::new());
    for options in [
        throwing("redirect", &empty),
        throwing("prompt", &empty),
        throwing("display", &empty),
        throwing("popupTimeoutMs", &empty),
        trap(&["redirect"]),
    ] {
        assert_eq!(
            rejection(c.start_login("alice.test".into(), Some(options))).await,
            "invalid_input"
        );
    }
    for options in [
        throwing("limit", &empty),
        throwing("cursor", &empty),
        trap(&["limit"]),
    ] {
        assert_eq!(
            rejection(c.fetch_records(did(), "a.b.c".into(), Some(options))).await,
            "invalid_input"
        );
    }
    for options in [throwing("maxRecords", &empty), trap(&["maxRecords"])] {
        assert_eq!(
            rejection(c.fetch_all_records(did(), "a.b.c".into(), Some(options))).await,
            "invalid_input"
        );
    }
}

/// Copying a string into Wasm memory allocates (up to three bytes per UTF-16 unit), and an
/// allocation that fails is a trap, not an error: the app's text is refused past 2 Mi units,
/// one string or all of a call's strings together, before it is copied. Before, `buildScope`
/// given 10,000 copies of one 1 Mi string (10 GB in Wasm) trapped, and a 3 Mi cursor or query
/// went through.
#[wasm_bindgen_test]
async fn text_too_long_to_copy_into_wasm_is_refused() {
    let texts = js_sys::Function::new_no_args(
        "const mib = 'a'.repeat(1 << 20);          return [[{ resource: 'repo', collection: new Array(10000).fill(mib) }],                  'é'.repeat((1 << 21) + 1), { a: [mib, mib, mib] }, 'a'.repeat(1 << 21)];",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let at = |i| Reflect::get_u32(&texts, i).unwrap();
    let c = client();
    let did = || JsValue::from("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    let records = |options: JsValue| c.fetch_records(did(), "a.b.c".into(), Some(options));
    assert_eq!(code(&build_scope(at(0)).unwrap_err()), "invalid_input");
    assert_eq!(
        rejection(records(object(&[("cursor", at(1))]))).await,
        "invalid_input"
    );
    let call = object(&[("nsid", "a.b.c".into()), ("params", at(2))]);
    assert_eq!(rejection(c.xrpc(did(), call)).await, "invalid_input");
    // At the limit, taken (the call fails only for want of a session).
    assert_eq!(
        rejection(records(object(&[("cursor", at(3))]))).await,
        "session_not_found"
    );
    // Every string costs at least 16 units: 200,000 empty ones are too many.
    let empties = js_sys::Function::new_no_args(
        "const o = {}; for (let i = 0; i < 20; i++) o['k' + i] = new Array(10000).fill('');          return [o];",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let e = build_scope(empties).unwrap_err();
    let message = Reflect::get(&e, &"message".into()).unwrap().as_string();
    assert!(message.unwrap().contains("characters"));
    // What an app's getter throws is shown cut short.
    let thrower = js_sys::Function::new_no_args(
        "return [new Proxy([], { get() { throw new Error('x'.repeat(1 << 22)); } })];",
    )
    .call0(&JsValue::NULL)
    .unwrap();
    let e = build_scope(thrower).unwrap_err();
    let message = Reflect::get(&e, &"message".into()).unwrap().as_string();
    assert!(message.unwrap().len() < 5000);
    // The module still works.
    assert_eq!(
        build_scope(js_sys::Array::of1(&"atproto".into()).into()).unwrap(),
        "atproto"
    );
}

/// A request body over 256 MiB (far above any PDS's blob limit) is refused: once it was copied
/// into Wasm memory, where a failed allocation is a trap; its bytes now stay in JS, and the
/// cap bounds what a call holds. One byte less is taken (and the call fails only for want of a
/// session).
#[wasm_bindgen_test]
async fn a_request_body_over_256_mib_is_refused_before_it_enters_wasm() {
    let c = client();
    let call = |len: f64| {
        js_sys::Function::new_with_args(
            "len",
            "return { nsid: 'a.b.c', body: new Uint8Array(len) };",
        )
        .call1(&JsValue::NULL, &len.into())
        .unwrap()
    };
    let did = || JsValue::from("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa");
    let limit = f64::from(1u32 << 28);
    assert_eq!(
        rejection(c.xrpc(did(), call(limit + 1.0))).await,
        "invalid_input"
    );
    assert_eq!(
        rejection(c.xrpc(did(), call(limit))).await,
        "session_not_found"
    );
}

#[wasm_bindgen_test]
async fn config_and_login_options_are_read_strictly() {
    let redirect = "http://127.0.0.1:8080/callback";
    let client_id: JsValue = loopback_client_id(redirect.into(), "atproto".into())
        .unwrap()
        .into();
    let config = |extra: &[(&str, JsValue)]| {
        let mut pairs = vec![
            ("clientId", client_id.clone()),
            ("redirectUri", redirect.into()),
            (
                "dbName",
                format!("wasm-strict-{}", js_sys::Math::random()).into(),
            ),
        ];
        pairs.extend(extra.iter().cloned());
        object(&pairs)
    };
    // Numbers, booleans, arrays of strings and null-free values go through as they are.
    let methods = js_sys::Array::of2(&"xrpc".into(), &"dns".into());
    OAuthClient::new(config(&[
        ("requestTimeoutMs", 5000.into()),
        ("allowHttp", true.into()),
        ("handleResolution", methods.into()),
        ("responseMode", "query".into()),
        ("scope", JsValue::UNDEFINED),
    ]))
    .unwrap_or_else(|e| panic!("{e:?}"));
    // What JSON.stringify would drop or change is refused, not dropped or changed.
    let nan = JsValue::from(f64::NAN);
    let date: JsValue = js_sys::Date::new_0().into();
    let function: JsValue = js_sys::Function::new_no_args("return 1").into();
    let holey = js_sys::Array::of2(&"xrpc".into(), &JsValue::UNDEFINED);
    for (key, value) in [
        ("requestTimeoutMs", nan),
        ("requestTimeoutMs", JsValue::from(1.5)),
        ("requestTimeoutMs", JsValue::from("5000")),
        ("clientId", date),
        ("scope", function),
        ("scope", JsValue::NULL),
        ("handleResolution", holey.into()),
        (
            "handleResolution",
            js_sys::Array::of1(&"carrier-pigeon".into()).into(),
        ),
        ("responseMode", "smoke".into()),
    ] {
        let e = OAuthClient::new(config(&[(key, value.clone())]))
            .err()
            .unwrap_or_else(|| panic!("{key}: {value:?} accepted"));
        assert_eq!(code(&e), "invalid_config", "{key}: {value:?}");
        let message = Reflect::get(&e, &"message".into()).unwrap().as_string();
        assert!(
            message.as_deref().is_some_and(|m| !m.contains(" at line ")),
            "{message:?}"
        );
    }
    let c = client();
    for prompt in [
        JsValue::from("bogus"),
        JsValue::from(42),
        JsValue::from(true),
    ] {
        let options = object(&[("prompt", prompt.clone())]);
        assert_eq!(
            rejection(c.start_login("alice.test".into(), Some(options))).await,
            "invalid_input",
            "{prompt:?}"
        );
    }
}

/// Where `needles` (byte arrays living only in JS) occur in the Wasm linear memory, as any page
/// script reaching the package's exports could look.
fn found_in_wasm_memory(needles: &js_sys::Array) -> Vec<String> {
    let scan = js_sys::Function::new_with_args(
        "memory, needles",
        "const m = new Uint8Array(memory.buffer); const found = [];
         needles.forEach((n, k) => {
           outer: for (let i = m.indexOf(n[0]); i >= 0 && i + n.length <= m.length; i = m.indexOf(n[0], i + 1)) {
             for (let j = 1; j < n.length; j++) if (m[i + j] !== n[j]) continue outer;
             found.push(`needle ${k} at ${i}`);
           }
         });
         return found;",
    );
    let found = scan
        .call2(&JsValue::NULL, &wasm_bindgen::memory(), needles)
        .unwrap();
    js_sys::Array::from(&found)
        .iter()
        .filter_map(|v| v.as_string())
        .collect()
}

/// Stores a version 0.1 session of `did` in `db`: its scalar (random) in the encrypted record.
/// Its own copies are wiped when it returns; the scalar as the needles a scan looks for.
async fn store_legacy_session(db: &str, did: &str, needles: &js_sys::Array) {
    use crate::platform::{Store, Table};
    use std::fmt::Write;
    use zeroize::Zeroizing;

    // A 0.1 session: its scalar in the (encrypted) record. Every copy this test makes is
    // wiped before the client runs, and the scan below checks that first.
    let mut scalar = Zeroizing::new([0u8; 32]);
    getrandom::fill(scalar.as_mut_slice()).unwrap();
    let b64 = Zeroizing::new(crate::util::b64url(scalar.as_slice()));
    let mut reversed = Zeroizing::new(*scalar);
    reversed.reverse();
    needles.push(&js_sys::Uint8Array::from(scalar.as_slice()));
    needles.push(&js_sys::Uint8Array::from(reversed.as_slice()));
    needles.push(&js_sys::Uint8Array::from(b64.as_bytes()));
    let now = (js_sys::Date::now() / 1000.0) as i64;
    let server = r#"{"issuer":"https://pds.example","authorization_endpoint":"https://pds.example/oauth/authorize","token_endpoint":"https://pds.example/oauth/token","pushed_authorization_request_endpoint":"https://pds.example/oauth/par"}"#;
    // Written in place: a growing String would leave copies of itself behind.
    let mut record = Zeroizing::new(String::with_capacity(4096));
    write!(
        record,
        r#"{{"did":"{did}","handle":null,"pds":"https://pds.example","server":{server},"scope":"atproto","access_token":"at","refresh_token":"rt","expires_at":{},"dpop_key":"{}","created_at":{now},"updated_at":{now}}}"#,
        now + 3600,
        b64.as_str()
    )
    .unwrap();
    assert!(record.capacity() == 4096);
    let store = crate::browser::IdbStore::open(db).await.unwrap();
    store
        .put(Table::Sessions, did, record.as_bytes(), None)
        .await
        .unwrap();
}

#[wasm_bindgen_test]
async fn migrating_a_version_0_1_record_leaves_no_copy_of_the_scalar_in_wasm_memory() {
    let db = format!("wasm-legacy-{}", js_sys::Math::random());
    let did = "did:plc:legacylegacylegacyleg";
    let needles = js_sys::Array::new();
    store_legacy_session(&db, did, &needles).await;
    // Temporaries the debug build left in the stack frames below this one.
    crate::dpop::key::scrub_stack();
    assert_eq!(
        found_in_wasm_memory(&needles),
        Vec::<String>::new(),
        "the test's own copies are gone"
    );

    let c = client_of(&db);
    // Listing reads (and decrypts) every record; restoring migrates the key.
    JsFuture::from(c.list_sessions()).await.unwrap();
    assert_eq!(
        found_in_wasm_memory(&needles),
        Vec::<String>::new(),
        "no copy of the stored scalar is left in Wasm memory by reading the record"
    );
    let info = JsFuture::from(c.restore(Some(did.into()), None))
        .await
        .unwrap();
    assert_eq!(
        Reflect::get(&info, &"did".into()).unwrap().as_string(),
        Some(did.into())
    );
    assert_eq!(
        found_in_wasm_memory(&needles),
        Vec::<String>::new(),
        "no copy of the migrated scalar is left in Wasm memory"
    );
}

#[wasm_bindgen_test]
fn every_config_field_lands_in_its_place() {
    use crate::config::{HandleMethod, ResponseMode};
    let methods = js_sys::Array::of2(&"dns".into(), &"well-known".into());
    let cfg = super::convert::config_from_js(&object(&[
        (
            "clientId",
            "https://app.example/client-metadata.json".into(),
        ),
        ("redirectUri", "https://app.example/cb".into()),
        ("scope", "atproto s1".into()),
        ("handleResolver", "https://resolver.example".into()),
        ("plcDirectoryUrl", "https://plc.example".into()),
        ("dohUrl", "https://doh.example/q".into()),
        ("handleResolution", methods.into()),
        ("allowHttp", true.into()),
        ("responseMode", "fragment".into()),
        ("refreshMarginSecs", 120.into()),
        ("requestTimeoutMs", 5000.into()),
        ("maxResponseBytes", 4096.into()),
        ("dbName", "db-x".into()),
    ]))
    .unwrap();
    assert_eq!(cfg.client_id, "https://app.example/client-metadata.json");
    assert_eq!(cfg.redirect_uri, "https://app.example/cb");
    assert_eq!(cfg.scope, "atproto s1");
    assert_eq!(cfg.handle_resolver, "https://resolver.example");
    assert_eq!(cfg.plc_directory_url, "https://plc.example");
    assert_eq!(cfg.doh_url, "https://doh.example/q");
    assert_eq!(
        cfg.handle_resolution,
        [HandleMethod::Dns, HandleMethod::WellKnown]
    );
    assert!(cfg.allow_http);
    assert_eq!(cfg.response_mode, ResponseMode::Fragment);
    assert_eq!(cfg.refresh_margin_secs, 120);
    assert_eq!(cfg.request_timeout_ms, 5000);
    assert_eq!(cfg.max_response_bytes, 4096);
    assert_eq!(cfg.db_name, "db-x");
    // Only the two required fields: every other one is ClientConfig::new's default.
    let minimal = super::convert::config_from_js(&object(&[
        (
            "clientId",
            "https://app.example/client-metadata.json".into(),
        ),
        ("redirectUri", "https://app.example/cb".into()),
    ]))
    .unwrap();
    let defaults = crate::config::ClientConfig::new(
        "https://app.example/client-metadata.json",
        "https://app.example/cb",
    );
    assert_eq!(format!("{minimal:?}"), format!("{defaults:?}"));
    for missing in ["clientId", "redirectUri"] {
        let mut pairs = vec![
            ("clientId", JsValue::from("https://app.example/c.json")),
            ("redirectUri", JsValue::from("https://app.example/cb")),
        ];
        pairs.retain(|(k, _)| *k != missing);
        let e = super::convert::config_from_js(&object(&pairs)).unwrap_err();
        assert!(e.message.contains(missing), "{}", e.message);
    }
}

/// Each wrong value in the config is refused with a message naming its field and what it must
/// be; the extremes JavaScript holds exactly are read as they are.
#[wasm_bindgen_test]
fn config_values_are_refused_by_name() {
    let js = |src: &str| {
        js_sys::Function::new_no_args(&format!(
            "return {{ clientId: 'https://app.example/c.json', redirectUri: 'https://app.example/cb', {src} }};"
        ))
        .call0(&JsValue::NULL)
        .unwrap()
    };
    for (src, message) in [
        ("clientId: undefined", "config: clientId is required"),
        ("clientId: 1", "config: clientId must be a string"),
        ("redirectUri: null", "config: redirectUri must be a string"),
        ("scope: null", "config: scope must be a string"),
        ("dbName: new String('x')", "config: dbName must be a string"),
        (
            "handleResolution: 'dns'",
            "config: handleResolution must be an array",
        ),
        (
            "handleResolution: { length: 0 }",
            "config: handleResolution must be an array",
        ),
        (
            "handleResolution: ['dns', 'x\"']",
            r#"config: handleResolution: "x\"" is not well-known, dns or xrpc"#,
        ),
        (
            "handleResolution: [1]",
            r#"config: handleResolution: "" is not well-known, dns or xrpc"#,
        ),
        ("allowHttp: 'true'", "config: allowHttp must be a boolean"),
        ("allowHttp: null", "config: allowHttp must be a boolean"),
        (
            "responseMode: 'smoke'",
            r#"config: responseMode must be query or fragment, not "smoke""#,
        ),
        (
            "refreshMarginSecs: 1.5",
            "config: refreshMarginSecs must be a whole number",
        ),
        (
            "refreshMarginSecs: NaN",
            "config: refreshMarginSecs must be a whole number",
        ),
        (
            "refreshMarginSecs: -Infinity",
            "config: refreshMarginSecs must be a whole number",
        ),
        (
            "refreshMarginSecs: 2 ** 53 + 2",
            "config: refreshMarginSecs must be a whole number",
        ),
        (
            "refreshMarginSecs: '5'",
            "config: refreshMarginSecs must be a whole number",
        ),
        (
            "refreshMarginSecs: 5n",
            "config: refreshMarginSecs must be a whole number",
        ),
        (
            "requestTimeoutMs: -1",
            "config: requestTimeoutMs must be from 0 to 4294967295",
        ),
        (
            "maxResponseBytes: 2 ** 32",
            "config: maxResponseBytes must be from 0 to 4294967295",
        ),
    ] {
        let e = super::convert::config_from_js(&js(src))
            .err()
            .unwrap_or_else(|| panic!("{src} was accepted"));
        assert_eq!(e.message, message, "{src}");
    }
    let cfg = super::convert::config_from_js(&js(
        "refreshMarginSecs: -(2 ** 53), requestTimeoutMs: 2 ** 32 - 1, maxResponseBytes: -0, \
         handleResolution: [], allowHttp: false, scope: '', dbName: 'é\\n'",
    ))
    .unwrap();
    assert_eq!(cfg.refresh_margin_secs, -9_007_199_254_740_992);
    assert_eq!(cfg.request_timeout_ms, u32::MAX);
    assert_eq!(cfg.max_response_bytes, 0);
    assert!(cfg.handle_resolution.is_empty() && !cfg.allow_http);
    assert_eq!((cfg.scope.as_str(), cfg.db_name.as_str()), ("", "é\n"));
}

/// The last active account is stored as gloo-storage stores it (a JSON string), which earlier
/// versions wrote through gloo-storage: each side reads what the other wrote. Anything else in
/// its place is no account, not an error.
#[wasm_bindgen_test]
fn last_active_reads_what_gloo_storage_wrote() {
    use gloo_storage::{LocalStorage, Storage};
    let active = super::last_active::LastActive::new("la-test", "client");
    let key = "la-test:last-active:client";
    LocalStorage::set(key, "did:plc:written-by-gloo").unwrap();
    assert_eq!(
        active.get().unwrap().as_deref(),
        Some("did:plc:written-by-gloo")
    );
    active.set("did:plc:abc");
    let raw = LocalStorage::raw().get_item(key).unwrap();
    assert_eq!(raw.as_deref(), Some(r#""did:plc:abc""#));
    assert_eq!(LocalStorage::get::<String>(key).unwrap(), "did:plc:abc");
    assert_eq!(active.get().unwrap().as_deref(), Some("did:plc:abc"));
    active.clear("did:plc:other");
    assert_eq!(active.get().unwrap().as_deref(), Some("did:plc:abc"));
    active.clear("did:plc:abc");
    assert_eq!(active.get().unwrap(), None);
    LocalStorage::raw().set_item(key, "not json").unwrap();
    assert_eq!(active.get().unwrap(), None);
    LocalStorage::raw().remove_item(key).unwrap();
}
