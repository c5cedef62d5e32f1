//! Converting values between JavaScript and Rust, and Rust futures into Promises. Every value
//! from the app is checked here (`xrpc()`'s call values in `glue.js`'s `xrpcCall`, which this
//! module calls), so a wrong type is an `invalid_input` error, never a trap.

use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use crate::browser::js::{header_lines, Outcome};
use crate::client::{LoginOptions, Prompt, RecordsQuery, XrpcRequest};
use crate::config::{ClientConfig, HandleMethod, ResponseMode};
use crate::error::{Error, ErrorCode, Result};
use crate::json;
use crate::oauth::scope::{permission_scope, static_scope};
use crate::platform::HttpResponse;
use crate::util;

/// JSON text (`crate::json`'s writer) as plain JavaScript data, parsed by the engine; the JSON
/// writer is linked anyway (stored records), and serde_wasm_bindgen cost about 8 KB gzip more
/// for the few values that cross here.
pub(super) fn to_js(json: &str) -> Result<JsValue> {
    js_sys::JSON::parse(json).map_err(|_| Error::new(ErrorCode::InvalidResponse, "not JSON"))
}

/// `new OAuthClient(config)`'s object, read property by property (`check_keys` refused any
/// other) onto `ClientConfig::new`'s defaults: `undefined` keeps the default, anything else
/// must be of the field's type. A `null`, a `NaN`, a `Date` or a function is refused, never
/// dropped or changed. (By hand: JSON.stringify and the derived reader were 2.5 KB gzip more.)
pub(super) fn config_from_js(obj: &JsValue) -> Result<ClientConfig> {
    let string = |key| config_string(obj, key);
    let integer = |key| config_integer(obj, key);
    let unsigned = |key| -> Result<Option<u32>> {
        integer(key)?
            .map(|n| {
                u32::try_from(n)
                    .map_err(|_| invalid(msg!("config: ", key, " must be from 0 to 4294967295")))
            })
            .transpose()
    };
    let required = |key| string(key)?.ok_or_else(|| invalid(msg!("config: ", key, " is required")));
    let present = |key| config_value(obj, key);
    let mut cfg = ClientConfig::new(&required("clientId")?, &required("redirectUri")?);
    let strings = [
        ("scope", &mut cfg.scope),
        ("handleResolver", &mut cfg.handle_resolver),
        ("plcDirectoryUrl", &mut cfg.plc_directory_url),
        ("dohUrl", &mut cfg.doh_url),
        ("dbName", &mut cfg.db_name),
    ];
    for (key, field) in strings {
        if let Some(value) = string(key)? {
            *field = value;
        }
    }
    if let Some(v) = present("handleResolution")? {
        let Some(v) = app_array(&v, VALUES, "config: handleResolution")? else {
            return Err(invalid("config: handleResolution must be an array"));
        };
        let mut methods = Vec::new();
        for m in v.iter() {
            let name = text(&m, "config: handleResolution")?.unwrap_or_default();
            let Some(method) = HandleMethod::parse(&name) else {
                return Err(invalid(msg!(
                    "config: handleResolution: ",
                    util::quoted(&name),
                    " is not well-known, dns or xrpc"
                )));
            };
            methods.push(method);
        }
        cfg.handle_resolution = methods;
    }
    if let Some(v) = present("allowHttp")? {
        cfg.allow_http = v
            .as_bool()
            .ok_or_else(|| invalid("config: allowHttp must be a boolean"))?;
    }
    if let Some(mode) = string("responseMode")? {
        cfg.response_mode = match mode.as_str() {
            "query" => ResponseMode::Query,
            "fragment" => ResponseMode::Fragment,
            _ => {
                return Err(invalid(msg!(
                    "config: responseMode must be query or fragment, not ",
                    util::quoted(&mode)
                )))
            }
        };
    }
    if let Some(n) = integer("refreshMarginSecs")? {
        cfg.refresh_margin_secs = n;
    }
    if let Some(n) = unsigned("requestTimeoutMs")? {
        cfg.request_timeout_ms = n;
    }
    if let Some(n) = unsigned("maxResponseBytes")? {
        cfg.max_response_bytes = n;
    }
    Ok(cfg)
}

/// A config property, `None` when it is `undefined`.
fn config_value(obj: &JsValue, key: &str) -> Result<Option<JsValue>> {
    Ok(Some(get(obj, key)?).filter(|v| !v.is_undefined()))
}

fn config_string(obj: &JsValue, key: &str) -> Result<Option<String>> {
    config_value(obj, key)?
        .map(|v| text(&v, key)?.ok_or_else(|| invalid(msg!("config: ", key, " must be a string"))))
        .transpose()
}

/// A whole number JavaScript holds exactly (at most 2^53).
fn config_integer(obj: &JsValue, key: &str) -> Result<Option<i64>> {
    config_value(obj, key)?
        .map(|v| {
            v.as_f64()
                .filter(|n| n.fract() == 0.0 && n.abs() <= 9_007_199_254_740_992.0)
                .map(|n| n as i64)
                .ok_or_else(|| invalid(msg!("config: ", key, " must be a whole number")))
        })
        .transpose()
}

/// `startLogin`'s options for the client (the glue reads its own: `redirect`, `popupTimeoutMs`).
pub(super) fn login_options(options: &JsValue) -> Result<LoginOptions> {
    let prompt = match opt_string(options, "prompt")? {
        None => None,
        Some(p) => Some(Prompt::parse(&p).ok_or_else(|| {
            invalid(msg!(
                "prompt must be one of ",
                crate::util::join(&Prompt::ALL.map(Prompt::as_str), ", "),
                ", not ",
                util::quoted(&p)
            ))
        })?),
    };
    Ok(LoginOptions {
        scope: opt_string(options, "scope")?,
        login_hint: opt_string(options, "loginHint")?,
        prompt,
        state: opt_string(options, "state")?,
        display: opt_string(options, "display")?,
    })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

/// The most UTF-16 units copied into Wasm memory from one string of the app's, and from all the
/// strings of one `buildScope` call together (2 Mi; `glue.js`'s `MAX_TEXT` for the texts it
/// builds). A copy allocates up to three bytes per unit, and in Wasm an allocation that fails is
/// a trap, not an error. Far above any handle, URL, scope, cursor or query.
const MAX_TEXT: u32 = 1 << 21;

/// `value` as a string (`None`: not a string), its length taken from `left`: refused, before
/// it is copied, past what is left. Each string costs at least 16 units, for what holding it
/// costs besides its bytes: a `buildScope` call of millions of empty strings filled memory.
fn text_within(value: &JsValue, left: &mut u32, what: &str) -> Result<Option<String>> {
    let Some(s) = value.dyn_ref::<js_sys::JsString>() else {
        return Ok(None);
    };
    *left = left.checked_sub(s.length().max(16)).ok_or_else(|| {
        invalid(msg!(
            what,
            ": more than ",
            util::int(MAX_TEXT.into()),
            " characters"
        ))
    })?;
    Ok(s.as_string())
}

/// `value` as a string (`None`: not a string), refused past `MAX_TEXT` units.
pub(super) fn text(value: &JsValue, what: &str) -> Result<Option<String>> {
    text_within(value, &mut MAX_TEXT.clone(), what)
}

/// A required string argument.
pub(super) fn string_arg(value: &JsValue, what: &str) -> Result<String> {
    text(value, what)?.ok_or_else(|| invalid(msg!(what, " must be a string")))
}

/// An optional string argument (`undefined` or `null` for none).
pub(super) fn opt_string_arg(value: Option<JsValue>, what: &str) -> Result<Option<String>> {
    match value {
        Some(v) if !v.is_undefined() && !v.is_null() => string_arg(&v, what).map(Some),
        _ => Ok(None),
    }
}

/// An options argument: an object, or `undefined`/`null` for none (an empty object).
pub(super) fn options_arg(value: Option<JsValue>, what: &str) -> Result<JsValue> {
    match value {
        Some(v) if v.is_object() && !v.is_function() => Ok(v),
        Some(v) if !v.is_undefined() && !v.is_null() => {
            Err(invalid(msg!(what, " must be an object")))
        }
        _ => Ok(Object::new().into()),
    }
}

/// Refuses properties outside `allowed`: a misspelt option must not be silently ignored
/// (the conversions only ever read the fields they know).
pub(super) fn check_keys(obj: &JsValue, allowed: &[&str], what: &str) -> Result<()> {
    if !obj.is_object() {
        return Ok(());
    }
    for key in app_array(obj, KEYS, what)?.unwrap_or_default().iter() {
        let key = text(&key, what)?.unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            return Err(invalid(msg!(
                what,
                ": unknown option ",
                util::quoted(&key),
                " (known: ",
                crate::util::join(allowed, ", "),
                ")"
            )));
        }
    }
    Ok(())
}

/// An optional boolean property.
pub(super) fn opt_bool(obj: &JsValue, key: &str) -> Result<Option<bool>> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    v.as_bool()
        .map(Some)
        .ok_or_else(|| invalid(msg!(key, " must be a boolean")))
}

/// An optional integer property within `min..=max`.
pub(super) fn opt_integer(obj: &JsValue, key: &str, min: i64, max: i64) -> Result<Option<i64>> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    match v.as_f64() {
        // `as` is exact here: the value is an integer inside an i64 range.
        Some(n) if n.fract() == 0.0 && n >= min as f64 && n <= max as f64 => Ok(Some(n as i64)),
        _ => Err(invalid(msg!(
            key,
            " must be an integer from ",
            util::int(min),
            " to ",
            util::int(max)
        ))),
    }
}

/// `maxRecords`: a non-negative integer or `Infinity`; default 10000.
pub(super) fn max_records(options: &JsValue) -> Result<usize> {
    if get(options, "maxRecords")?.as_f64() == Some(f64::INFINITY) {
        return Ok(usize::MAX);
    }
    Ok(opt_integer(options, "maxRecords", 0, u32::MAX as i64)?
        .map(|n| n as usize)
        .unwrap_or(10_000))
}

/// `buildScope`'s values as scope strings: `atproto` and `transition:…` as they are,
/// permissions (objects of the spec's JSON shape) from their properties' string values.
pub(super) fn scope_values(values: &JsValue) -> Result<Vec<String>> {
    let Some(values) = app_array(values, VALUES, "buildScope(values)")? else {
        return Err(invalid("buildScope(values) must be an array"));
    };
    // Plain loops: the iterator adapters (`collect` into `Result`/`Option`) were a
    // monomorphized copy each.
    let mut out = Vec::new();
    // One budget for every string of the call: 10,000 permissions of 10,000 copies of one
    // string each would be a few bytes in JavaScript, and terabytes here.
    let left = &mut MAX_TEXT.clone();
    const WHAT: &str = "buildScope: its strings";
    for v in values.iter() {
        if let Some(s) = text_within(&v, left, WHAT)? {
            out.push(static_scope(&s)?);
            continue;
        }
        if !v.is_object() {
            return Err(invalid(
                "buildScope: each value is a string or a permission object",
            ));
        }
        let mut fields = Vec::new();
        let entries = app_array(&v, ENTRIES, "buildScope: a permission")?;
        for entry in entries.unwrap_or_default().iter() {
            let key = text_within(&Reflect::get_u32(&entry, 0).unwrap_or_default(), left, WHAT)?;
            let value = Reflect::get_u32(&entry, 1).unwrap_or_default();
            // A string, or an array of strings.
            let list = match value.is_string() {
                true => Some(Array::of1(&value)),
                false => app_array(&value, VALUES, "buildScope: a permission property")?,
            };
            let mut ok = list.is_some();
            let mut strings = Vec::new();
            for x in list.unwrap_or_default().iter() {
                match text_within(&x, left, WHAT)? {
                    Some(s) => strings.push(s),
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            match key {
                Some(k) if ok => fields.push((k, strings)),
                k => {
                    return Err(invalid(msg!(
                        "buildScope: permission property ",
                        util::quoted(&k.unwrap_or_default()),
                        " must be a string or an array of strings"
                    )))
                }
            }
        }
        out.push(permission_scope(&fields)?);
    }
    Ok(out)
}

const KEYS: u8 = 0;
const ENTRIES: u8 = 1;
const VALUES: u8 = 2;

/// What `read_app` read of the app's `value` as a plain array (`None`: `VALUES` of a
/// non-array). Read in `glue.js`, where a Proxy's or a getter's throw is caught: here it would
/// unwind through the Wasm frames. A throw is `invalid_input`.
fn app_array(value: &JsValue, kind: u8, what: &str) -> Result<Option<Array>> {
    let read = read_app(value, kind);
    match read.as_string() {
        Some(thrown) => Err(invalid(msg!(what, ": unreadable (", thrown, ")"))),
        None => Ok(read.dyn_into().ok()),
    }
}

/// A property of a value the app passed. A getter or `Proxy` trap that throws is refused
/// (`invalid_input`), never read as absent: a config whose `dbName` getter throws must not
/// open the default database, nor options whose `limit` throws run without a limit.
pub(super) fn get(obj: &JsValue, key: &str) -> Result<JsValue> {
    Reflect::get(obj, &JsValue::from_str(key)).map_err(|thrown| {
        invalid(msg!(
            key,
            ": unreadable (",
            crate::browser::js::message(&thrown),
            ")"
        ))
    })
}

pub(super) fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>> {
    let v = get(obj, key)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    text(&v, key)?
        .map(Some)
        .ok_or_else(|| invalid(msg!(key, " must be a string")))
}

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// An object's own keys (`KEYS`), its entries (`ENTRIES`) or an array's values (`VALUES`,
    /// `null` for a non-array), or the text of what reading it threw (see `readApp`).
    #[wasm_bindgen(js_name = readApp)]
    fn read_app(value: &JsValue, kind: u8) -> JsValue;
    /// The call read (see `xrpcCall` in `glue.js`): `headers` is the JSON array [method, nsid,
    /// proxy, encoding, params, headers], `body` the bytes to send; or a failure.
    #[wasm_bindgen(js_name = xrpcCall)]
    fn read_xrpc_call(call: &JsValue) -> Outcome;
    /// `{ status, headers, data }`, from `head`: "name\nvalue\n"….
    #[wasm_bindgen(js_name = xrpcResult)]
    fn js_xrpc_result(status: u16, head: &str, body: &[u8], sink: &JsValue) -> JsValue;
}

/// `xrpc(did, call)`'s call. Its keys are checked here (with every options object's check), the
/// rest in `glue.js`, which hands the values over as one JSON text.
pub(super) fn xrpc_call_from_js(call: &JsValue) -> Result<XrpcRequest> {
    if !call.is_object() {
        return Err(invalid("xrpc(did, call): call must be an object"));
    }
    check_keys(
        call,
        &[
            "nsid", "method", "params", "body", "encoding", "headers", "proxy",
        ],
        "xrpc call",
    )?;
    let read = read_xrpc_call(call);
    if read.failure().is_some() {
        return Err(invalid(read.detail()));
    }
    let head = read.headers();
    let unreadable = |e: json::JsonError| Error::new(ErrorCode::Internal, msg!("xrpc call: ", e));
    let mut r = json::Reader::new(head.as_bytes()).map_err(unreadable)?;
    let mut req = XrpcRequest {
        method: String::new(),
        nsid: String::new(),
        params: Vec::new(),
        body: read.app_body(),
        // The object `xrpcCall` answered is the sink: no other is made per call.
        keep_body: Some(read.into()),
        content_type: None,
        headers: Vec::new(),
        proxy: None,
    };
    let mut at = 0;
    r.array(&mut |r| {
        match at {
            0 => req.method = r.string()?,
            1 => req.nsid = r.string()?,
            2 => req.proxy = r.opt_string()?,
            3 => req.content_type = r.opt_string()?,
            4 => req.params = pairs(r.strings()?),
            _ => req.headers = pairs(r.strings()?),
        }
        at += 1;
        Ok(())
    })
    .map_err(unreadable)?;
    Ok(req)
}

/// [name, value, name, value, …] as pairs.
fn pairs(flat: Vec<String>) -> Vec<(String, String)> {
    let mut flat = flat.into_iter();
    let mut out = Vec::new();
    while let (Some(name), Some(value)) = (flat.next(), flat.next()) {
        out.push((name, value));
    }
    out
}

/// `xrpc()`'s answer (see `xrpcResult` in `glue.js`).
pub(super) fn xrpc_result(resp: &HttpResponse, req: &XrpcRequest) -> JsValue {
    // The body `glue.js` left in the sink, if it did, is taken there.
    let sink = req.keep_body.as_ref();
    let head = header_lines(&resp.headers);
    js_xrpc_result(
        resp.status,
        &head,
        &resp.body,
        sink.unwrap_or(&JsValue::UNDEFINED),
    )
}

/// Runs a future as a JS Promise, turning our errors into `OAuthError`s.
pub(super) fn promise<F>(fut: F) -> Promise
where
    F: std::future::Future<Output = Result<JsValue>> + 'static,
{
    // Never destroyed (`crate::settled`): the task (`browser::task`) drops a future only after
    // it finished, when it holds nothing, so the drop code of every suspended state of every
    // method's future, reachable only from the box's vtable, is left out. In every build: no
    // caller can drop these early.
    crate::browser::task::promise(Box::pin(crate::settled::Undropped::new(fut)))
}

/// `fetchRecords` / `fetchAllRecords` options as a query of `collection`; `maxRecords` only
/// for `fetchAllRecords` (`all`), which reads it.
pub(super) fn records_query(
    collection: String,
    options: &JsValue,
    all: bool,
) -> Result<RecordsQuery> {
    let keys = ["repo", "limit", "cursor", "reverse", "maxRecords"];
    let keys = if all { &keys[..] } else { &keys[..4] };
    check_keys(options, keys, "records options")?;
    Ok(RecordsQuery {
        repo: opt_string(options, "repo")?,
        collection,
        // com.atproto.repo.listRecords takes 1 to 100.
        limit: opt_integer(options, "limit", 1, 100)?,
        cursor: opt_string(options, "cursor")?,
        reverse: opt_bool(options, "reverse")?,
    })
}

/// JSON texts as one JavaScript array, parsed by the engine's own JSON parser.
pub(super) fn json_array(values: &[String]) -> Result<JsValue> {
    to_js(&msg!("[", crate::util::join(values, ","), "]"))
}
