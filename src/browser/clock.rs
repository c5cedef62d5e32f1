use crate::platform::Clock;

/// `Date.now()` in whole seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now(&self) -> i64 {
        (js_sys::Date::now() / 1000.0).floor() as i64
    }
    fn monotonic(&self) -> i64 {
        monotonic_secs().map_or_else(|_| self.now(), i64::from)
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// `performance.now()` in whole seconds: since the page started, never set back. (`catch`:
    /// a throw must not cross the Wasm frames; and without it the function would be imported
    /// straight from glue.js, which scripts/inline-snippets.mjs cannot inline.)
    #[wasm_bindgen(js_name = monotonicSecs, catch)]
    fn monotonic_secs() -> Result<u32, wasm_bindgen::JsValue>;
}
