//! AT Protocol OAuth for the browser. The protocol logic is plain Rust (tested natively);
//! the `#[wasm_bindgen]` surface and the browser glue live behind `cfg(target_arch = "wasm32")`.

pub mod cache;
pub mod client;
pub mod config;
pub mod dpop;
pub mod error;
pub mod identity;
pub mod oauth;
pub mod platform;
pub mod session;
pub mod util;

#[cfg(test)]
pub(crate) mod testing;

#[cfg(target_arch = "wasm32")]
pub mod browser;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(all(test, target_arch = "wasm32"))]
mod wasm_tests;
