#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| atproto_oauth_wasm::fuzz::json(data));
