//! Secrets as small newtypes whose `Debug` prints `[redacted]`, so a record that holds one can
//! derive `Debug` and be logged without leaking it. Stored as the string itself.

macro_rules! secret_type {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Wraps a secret value.
            // `KeySecret` is only ever read (from version 0.1 records), so only tests make one.
            #[allow(dead_code)]
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret itself: only for the request that must carry it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        // Wiped when dropped: in the browser, freed memory stays readable to any script that
        // reaches the module's Wasm memory until something else overwrites it.
        impl Drop for $name {
            fn drop(&mut self) {
                zeroize::Zeroize::zeroize(&mut self.0);
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type! {
    /// A DPoP-bound access token.
    AccessToken
}
secret_type! {
    /// A refresh token.
    RefreshToken
}
secret_type! {
    /// A PKCE code verifier.
    PkceVerifier
}
secret_type! {
    /// The private scalar of a DPoP key as version 0.1 stored it inside a record (base64url).
    /// Read only to migrate such a record; never written again.
    KeySecret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let t = AccessToken::new("very-secret");
        assert_eq!(format!("{t:?}"), "AccessToken([redacted])");
        assert_eq!(t.expose(), "very-secret");
    }
}
