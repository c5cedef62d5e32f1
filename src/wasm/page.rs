//! The page's address: read (the default callback URL), replaced (the spent authorization
//! response out of the address bar) and navigated (`redirect: true`), and the sign-in popup
//! opened. JS in `glue.js`: through web-sys each took a `Window`, `Location` or `History`
//! binding in the `.wasm`.

use wasm_bindgen::prelude::*;

use crate::error::{Error, ErrorCode, Result};

#[wasm_bindgen(module = "/src/browser/glue.js")]
extern "C" {
    #[wasm_bindgen(js_name = pageUrl)]
    fn page_url() -> Option<String>;
    #[wasm_bindgen(js_name = pageAssign)]
    fn page_assign(url: &str) -> bool;
    #[wasm_bindgen(js_name = pageReplace)]
    pub(super) fn replace(url: &str);
    #[wasm_bindgen(js_name = popupOpen)]
    fn popup_open() -> JsValue;
}

/// The page's URL; an error where there is no window (a worker).
pub(super) fn current_url() -> Result<String> {
    page_url().ok_or_else(|| {
        Error::new(
            ErrorCode::Unsupported,
            "no window.location: pass the callback URL explicitly",
        )
    })
}

/// Whether this global can navigate (a window, not a worker).
pub(super) fn can_navigate() -> bool {
    page_url().is_some()
}

/// Sends the page to `url`.
pub(super) fn navigate(url: &str) -> Result<()> {
    if page_assign(url) {
        Ok(())
    } else {
        Err(Error::new(ErrorCode::Unsupported, "could not navigate"))
    }
}

/// Opens an empty popup. Must run before the first `await` of the click handler.
pub(super) fn open_popup() -> Result<JsValue> {
    let popup = popup_open();
    if popup.is_undefined() {
        return Err(Error::new(ErrorCode::Unsupported, "a popup needs a window"));
    }
    if popup.is_null() {
        return Err(Error::new(
            ErrorCode::PopupBlocked,
            "the browser blocked the sign-in popup: call startLogin directly in the click handler",
        ));
    }
    Ok(popup)
}
