//! The public point of a P-256 scalar, as `src/dpop/key.rs` computes it, with no allocator, no
//! wasm-bindgen and no JS in between: the page writes a scalar into `BUF`, calls `point` and
//! reads the point back. Any wrong answer is the engine's.
#![no_std]

use p256::elliptic_curve::sec1::ToEncodedPoint;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The scalar (32 bytes, big-endian), then the uncompressed SEC1 point (65 bytes).
static mut BUF: [u8; 97] = [0; 97];

/// Where `BUF` is in the module's memory.
#[no_mangle]
pub extern "C" fn buf() -> *mut u8 {
    core::ptr::addr_of_mut!(BUF) as *mut u8
}

/// Writes the public point of the scalar in `BUF[..32]` to `BUF[32..]`: 1, or 0 when the scalar
/// is not a valid P-256 private key.
#[no_mangle]
pub extern "C" fn point() -> i32 {
    // SAFETY: one thread, and the page only touches BUF between calls.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(BUF) };
    let Ok(secret) = p256::SecretKey::from_slice(&buf[..32]) else {
        return 0;
    };
    buf[32..].copy_from_slice(secret.public_key().to_encoded_point(false).as_bytes());
    1
}
