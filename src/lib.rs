//! AT Protocol (Bluesky) OAuth for the browser: PAR, PKCE, DPoP, sessions that refresh
//! themselves across tabs.
//!
//! The protocol logic is plain Rust over the [`platform`] traits and is tested natively; the
//! browser implementations of those traits ([`browser`]) and the JavaScript surface (`wasm`)
//! exist only in `wasm32` builds. JavaScript users see the `OAuthClient` class; Rust users can
//! drive [`client::Client`] over any [`platform::Platform`].
#![deny(missing_docs)]

/// Text from pieces, each a `&str` or a `String` (`util::int` for a number, `util::quoted` for
/// input in a message): what shipped code uses instead of `format!`, so that nothing in the
/// .wasm calls core::fmt (`Arguments`, `Formatter`, padding, the `Display` impls). -185 B gzip
/// in all, measured in the thirteenth session: each call's table of pieces costs about what
/// `format_args!`'s did, and the message text stays. `npm test`'s lint stage refuses
/// `format!`, `write!` and `format_args!` in shipped code.
macro_rules! msg {
    ($($piece:expr),+ $(,)?) => {
        $crate::util::concat(&[$(::core::convert::AsRef::<str>::as_ref(&$piece)),+])
    };
}

mod cache;
pub mod client;
pub mod config;
mod dpop;
pub mod error;
mod form;
#[cfg(any(test, all(target_arch = "wasm32", not(target_feature = "atomics"))))]
mod heap;
mod identity;
mod json;
mod oauth;
pub mod platform;
mod secret;
mod session;
mod settled;
mod strmap;
mod url;
mod util;

pub use oauth::scope::{
    build_scope, AccountAction, AccountAttr, IdentityAttr, Permission, RepoAction,
};
pub use session::SessionInfo;

#[cfg(test)]
pub(crate) mod testing;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
#[allow(missing_docs)]
pub mod fuzz;

#[cfg(target_arch = "wasm32")]
pub mod browser;

#[cfg(target_arch = "wasm32")]
mod wasm;
