//! The browser platform in a dedicated worker (`tests/worker/glue.rs`).
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[path = "worker/glue.rs"]
mod glue;
