use crate::platform::Clock;

/// `Date.now()` in whole seconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now(&self) -> i64 {
        (js_sys::Date::now() / 1000.0).floor() as i64
    }
    fn monotonic(&self) -> i64 {
        (monotonic_ms() / 1000.0).floor() as i64
    }
}

#[wasm_bindgen::prelude::wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    /// `performance.now()`: milliseconds since the page started, never set back.
    #[wasm_bindgen(js_name = monotonicMs)]
    fn monotonic_ms() -> f64;
}
