//! The small set of capabilities the protocol logic needs from its host. The browser implements
//! them in `browser/` (fetch, IndexedDB + WebCrypto, Web Locks, BroadcastChannel); native tests
//! implement them with in-memory fakes, so every protocol rule runs under plain `cargo test`.
//!
//! Futures are not `Send`: in a browser everything runs on one thread.
#![allow(async_fn_in_trait)]

use std::rc::Rc;

use zeroize::Zeroizing;

use crate::error::Result;
use crate::settled::Settled;

/// The most bytes an identity, metadata or OAuth response may hold (1 MiB): a larger one is
/// refused while it is read, before it fills memory.
pub const DOCUMENT_LIMIT: usize = 1 << 20;

/// Whether the caller gave up on a request (an SDK's `AbortSignal` fired). Checked before each
/// attempt is sent: after it, nothing leaves (as `fetch` sends nothing once its signal fired).
/// The second field is the platform's own handle of it, if any (the browser's `AbortSignal`),
/// with which its HTTP layer aborts an attempt already on its way, as `fetch` does.
#[derive(Clone)]
pub struct Cancel(pub Rc<dyn Fn() -> bool>, pub Option<SignalHandle>);

/// The platform's handle of a caller's signal (`Cancel`): the browser's `AbortSignal`; none
/// natively. (A type per target, not a `dyn Any`: its downcast measured 0.3 KB more.)
#[cfg(target_arch = "wasm32")]
pub type SignalHandle = wasm_bindgen::JsValue;
/// The platform's handle of a caller's signal (`Cancel`): none natively.
#[cfg(not(target_arch = "wasm32"))]
pub type SignalHandle = ();

impl Cancel {
    /// Whether the caller gave up.
    pub fn fired(&self) -> bool {
        (self.0)()
    }
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cancel")
    }
}

/// A request's body: its bytes, shared, not copied, by every attempt that sends it (an upload
/// may be large, and each copy is one more block of Wasm memory).
#[cfg(not(target_arch = "wasm32"))]
pub type Body = Rc<Vec<u8>>;
/// A request's body: bytes built here (a form), or an app's own bytes (an upload, a
/// `fetchHandler` body), left where they are, in JS: copied into Wasm memory, an upload grew
/// it by its size for good (it never shrinks), and concurrent ones could exhaust it.
#[cfg(target_arch = "wasm32")]
#[derive(Clone, Debug)]
pub enum Body {
    /// Bytes built here.
    Bytes(Rc<Vec<u8>>),
    /// An app's bytes (a `Uint8Array` of their own, read by `glue.js`).
    Js(wasm_bindgen::JsValue),
}
#[cfg(target_arch = "wasm32")]
impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Body::Bytes(Rc::new(bytes))
    }
}

/// Where the platform leaves a 2xx answer's body that goes to the app as it is
/// (`HttpRequest::keep_body`): in the browser, a JS object whose `body` it sets, so that a
/// download is never copied into Wasm memory, which would keep its size for good. (Not a field
/// of `HttpResponse`: one more thing to drop with every answer measured +412 B.)
#[cfg(target_arch = "wasm32")]
pub type BodySink = wasm_bindgen::JsValue;
/// Where a 2xx answer's body that goes to the app would be left: natively it is not.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Clone, Debug, Default)]
pub struct BodySink;

/// A body's bytes, wherever they are (tests).
#[cfg(test)]
pub(crate) fn body_bytes(body: &Body) -> Vec<u8> {
    #[cfg(target_arch = "wasm32")]
    return match body {
        Body::Bytes(bytes) => bytes.to_vec(),
        Body::Js(value) => js_sys::Uint8Array::new(value).to_vec(),
    };
    #[cfg(not(target_arch = "wasm32"))]
    body.to_vec()
}

/// An HTTP request, as the protocol code builds it.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// `GET`, `POST`, …
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Body>,
    /// The largest response body accepted; more fails with `ResponseTooLarge` while reading.
    pub max_body: usize,
    /// A 2xx answer's body goes to the app as it is, unread here: the platform may leave it
    /// in this sink rather than copy it in (`HttpResponse::body` is then empty).
    pub keep_body: Option<BodySink>,
    /// The caller's way to give up before it is sent, if it has one.
    pub cancel: Option<Cancel>,
}

impl HttpRequest {
    /// A GET request without headers.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            max_body: DOCUMENT_LIMIT,
            keep_body: None,
            cancel: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// The first value of a header (case-insensitive name).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

/// An HTTP response, body read in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    /// The body (empty when the request's `keep_body` sink took it).
    pub body: Vec<u8>,
    /// Whether the answer came from another URL than the one requested (a redirect was
    /// followed).
    pub redirected: bool,
}

impl HttpResponse {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as an OAuth or XRPC error, if it is one.
    pub fn error_body(&self) -> Option<ErrorBody> {
        crate::json::from_slice(&self.body).ok()
    }
}

/// The JSON error of an OAuth server (`error`, `error_description`) or of an XRPC server
/// (`error`, `message`). One type for both: each derived deserializer costs bytes in the .wasm.
#[derive(Debug, Default)]
pub struct ErrorBody {
    /// The error code.
    pub error: Option<String>,
    /// OAuth's human-readable text.
    pub error_description: Option<String>,
    /// XRPC's human-readable text.
    pub message: Option<String>,
}

impl crate::json::FromJson for ErrorBody {
    fn read(r: &mut crate::json::Reader<'_>) -> crate::json::JsonResult<Self> {
        use crate::json::set;
        let (mut error, mut description, mut message) = (None, None, None);
        r.object(&mut |r, key| match key {
            "error" => set(&mut error, key, r.opt_string()?),
            "error_description" => set(&mut description, key, r.opt_string()?),
            "message" => set(&mut message, key, r.opt_string()?),
            _ => r.skip(),
        })?;
        Ok(ErrorBody {
            error: error.flatten(),
            error_description: description.flatten(),
            message: message.flatten(),
        })
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sends one HTTP request. Network failures (including CORS refusals) are `NetworkError`; no
/// complete response within the platform's timeout is `Timeout`; a body larger than the
/// request's `max_body` is `ResponseTooLarge`, found while reading. Any HTTP status, even 500,
/// is a response.
pub trait Http {
    /// Sends the request and reads the whole response.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse>;
}

/// Wall-clock time in whole seconds since the Unix epoch.
pub trait Clock {
    /// Now, in Unix seconds.
    fn now(&self) -> i64;
    /// Seconds on a clock that only moves forward (the page's `performance.now()`), for how long
    /// something has taken: `now()` jumps when the device's clock is set. Only differences of it
    /// mean anything.
    fn monotonic(&self) -> i64;
}

/// Where records live. `Store` implementations persist opaque bytes; the browser one encrypts
/// every value with AES-GCM under a non-extractable key before it reaches IndexedDB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Table {
    /// Login attempts between `startLogin` and `handleCallback`, keyed by `state`.
    Pending,
    /// Signed-in sessions, keyed by DID.
    Sessions,
    /// DPoP nonces, keyed by server origin.
    Nonces,
}

impl Table {
    /// The table's storage name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Pending => "pending",
            Table::Sessions => "sessions",
            Table::Nonces => "nonces",
        }
    }
}

/// A P-256 private scalar in one heap cell that is wiped when dropped.
///
/// Boxed so that it never moves: the material travels by value through several async calls on
/// its way to the import, and each move of an inline array copies it into the next future's
/// state (heap memory on wasm32, which any page script can read) while leaving the old copy
/// behind, unwiped, since a moved-from value has no destructor. Moving a box copies a pointer.
pub type Scalar = Box<Zeroizing<[u8; 32]>>;

/// A new all-zero [`Scalar`] to fill in place.
pub fn blank_scalar() -> Scalar {
    Box::new(Zeroizing::new([0u8; 32]))
}

/// A P-256 private key on its way to the platform: generated in this crate, handed to
/// [`Keys::import_key`] once, and wiped when dropped. Nothing else ever holds it.
pub struct KeyMaterial {
    scalar: Scalar,
    public: [u8; 65],
}

/// The DER prefix of a PKCS #8 `PrivateKeyInfo` for an ECDSA P-256 key (RFC 5915 `ECPrivateKey`
/// with the public key): version, algorithm (id-ecPublicKey, prime256v1), then the key's
/// version 1 and the 32-byte scalar.
const PKCS8_HEAD: [u8; 36] = [
    0x30, 0x81, 0x87, 0x02, 0x01, 0x00, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02,
    0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x04, 0x6d, 0x30, 0x6b, 0x02,
    0x01, 0x01, 0x04, 0x20,
];
/// Between the scalar and the uncompressed public point: `[1] BIT STRING`.
const PKCS8_MID: [u8; 5] = [0xa1, 0x44, 0x03, 0x42, 0x00];
/// The length of the whole PKCS #8 document.
pub const PKCS8_LEN: usize = PKCS8_HEAD.len() + 32 + PKCS8_MID.len() + 65;

impl KeyMaterial {
    /// A private scalar (big-endian) and its uncompressed SEC1 public point (`04 || x || y`).
    pub fn new(scalar: Scalar, public: [u8; 65]) -> Self {
        KeyMaterial { scalar, public }
    }

    /// The private scalar, big-endian.
    pub fn scalar(&self) -> &[u8; 32] {
        &self.scalar
    }

    /// The public point, uncompressed SEC1.
    pub fn public_point(&self) -> &[u8; 65] {
        &self.public
    }

    /// Writes the key as PKCS #8 DER (what WebCrypto's `importKey("pkcs8", …)` takes) into
    /// `out`, which the caller wipes.
    pub fn write_pkcs8(&self, out: &mut [u8; PKCS8_LEN]) {
        let (head, rest) = out.split_at_mut(PKCS8_HEAD.len());
        head.copy_from_slice(&PKCS8_HEAD);
        let (scalar, rest) = rest.split_at_mut(32);
        scalar.copy_from_slice(self.scalar.as_slice());
        let (mid, public) = rest.split_at_mut(PKCS8_MID.len());
        mid.copy_from_slice(&PKCS8_MID);
        public.copy_from_slice(&self.public);
    }
}

/// The type of the platform's DPoP key handle, shared by [`Keys`] and [`Store`].
pub trait KeyType {
    /// A private key that can sign but cannot be read: a non-extractable `CryptoKey` in the
    /// browser.
    type Key: Clone + 'static;
}

/// DPoP keys: imported once, then used only to sign. The private key never comes back.
pub trait Keys: KeyType {
    /// Imports a freshly generated key as a sign-only key that cannot be exported.
    async fn import_key(&self, material: KeyMaterial) -> Result<Self::Key>;
    /// ECDSA P-256 with SHA-256 over `message`: the raw 64-byte `r || s` (a JWS ES256 signature).
    async fn sign(&self, key: &Self::Key, message: &[u8]) -> Result<Vec<u8>>;
}

/// Sends a DPoP-bound request: signs the proof's input (`dpop::proof::signing_input`) with
/// `key`, then sends `request` with the finished proof as its `DPoP` header.
///
/// One capability rather than `sign` and then `send`, so that a platform whose signing and
/// sending are both host calls makes one call per request: in the browser, one call into JS and
/// one promise instead of two, and no signature copied into Wasm and back (`browser/glue.js`).
/// The default does the two steps.
pub trait SendWithProof: Http + Keys {
    /// The response, as [`Http::send`] gives it; a failed signature is `CryptoError`.
    async fn send_with_proof(
        &self,
        request: HttpRequest,
        key: &Self::Key,
        input: String,
    ) -> Result<HttpResponse> {
        let signature = self.sign(key, input.as_bytes()).settled().await?;
        send_with_signature(self, request, input, &signature)
            .settled()
            .await
    }
}

/// The second of `send_with_proof`'s two steps, for an HTTP layer that does not sign: the proof
/// finished with `signature` (checked to be a raw ES256 one) and the request sent with it.
pub(crate) async fn send_with_signature<H: Http + ?Sized>(
    http: &H,
    request: HttpRequest,
    input: String,
    signature: &[u8],
) -> Result<HttpResponse> {
    let proof = crate::dpop::proof::finish(input, signature)?;
    http.send(request.header("DPoP", proof)).settled().await
}

/// A stored value: bytes (encrypted at rest by the browser store) and, for records that own a
/// DPoP key, the key handle itself, kept as it is (a `CryptoKey` stays non-extractable).
#[derive(Clone, Debug)]
pub struct Entry<K> {
    /// The record.
    pub data: Vec<u8>,
    /// The record's DPoP key, if it has one.
    pub key: Option<K>,
}

/// A record's plaintext is wiped when the entry is dropped: a record written by version 0.1
/// holds the DPoP scalar, and freed Wasm memory stays readable to page scripts until reused.
impl<K> Drop for Entry<K> {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.data);
    }
}

/// A key-value store with a few tables, shared by every tab of the origin.
pub trait Store: KeyType {
    /// The entry under `id`, if any.
    async fn get(&self, table: Table, id: &str) -> Result<Option<Entry<Self::Key>>>;
    /// Writes `data` (and the record's key) under `id`, replacing what was there, in one
    /// transaction.
    async fn put(&self, table: Table, id: &str, data: &[u8], key: Option<&Self::Key>)
        -> Result<()>;
    /// Removes `id` (no error if absent).
    async fn delete(&self, table: Table, id: &str) -> Result<()>;
    /// Reads and deletes in one transaction, so two callers can never both get the value.
    async fn take(&self, table: Table, id: &str) -> Result<Option<Entry<Self::Key>>>;
    /// Every key of a table.
    async fn keys(&self, table: Table) -> Result<Vec<String>>;
}

/// A mutual-exclusion lock shared by every tab of the origin (Web Locks), released when the
/// guard drops.
pub trait Locks {
    /// Holds the lock until dropped.
    type Guard;
    /// Waits for the lock `name`.
    async fn lock(&self, name: &str) -> Result<Self::Guard>;
    /// Takes the lock `name` only if nobody holds it (`None` when somebody does).
    async fn try_lock(&self, name: &str) -> Result<Option<Self::Guard>>;
}

/// A change to a stored session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The stored session changed (new tokens after a refresh, or a new sign-in).
    Updated {
        /// The account.
        did: String,
    },
    /// The session is gone: signed out, or its refresh token was refused.
    Deleted {
        /// The account.
        did: String,
        /// Why, for humans.
        reason: String,
    },
    /// A refresh succeeded but its tokens could not be stored: they live in this tab only
    /// (writes are retried; `Updated` follows once one lands).
    Unsaved {
        /// The account.
        did: String,
        /// Why, for humans.
        reason: String,
    },
}

/// Tells the app (and the other tabs) about session changes.
pub trait Events {
    /// Tells every listener, here and in other tabs.
    fn emit(&self, event: SessionEvent);
}

/// Runs work off the caller's path (persisting a new DPoP nonce must not delay the request
/// that learned it).
pub trait Spawn {
    /// Runs `task` to completion in the background.
    fn spawn(&self, task: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>);
}

/// Everything the client needs, in one bound. `Clone` must be cheap (handles, not data): a
/// background task holds its own copy.
pub trait Platform:
    SendWithProof + Clock + Store + Locks + Events + Spawn + Clone + 'static
{
}
impl<T: SendWithProof + Clock + Store + Locks + Events + Spawn + Clone + 'static> Platform for T {}
