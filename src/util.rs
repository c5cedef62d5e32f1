//! Small encoding and randomness helpers shared by the protocol modules.

use crate::error::{Error, ErrorCode, Result};

// base64url without padding (RFC 4648 §5), by hand rather than with the `base64` crate, which
// the specification names: its general-purpose engine (unrolled loops, every alphabet and
// padding mode behind one type) was 2.1 KB of the .wasm for the few dozen bytes this client
// encodes per proof, and these two functions are about 0.3 KB. The crate stays as the reference
// in the tests below: the same text for every input, the same strings accepted and refused.
const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub(crate) fn b64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        // 3 bytes -> 4 characters, 2 -> 3, 1 -> 2.
        for i in 0..=chunk.len() {
            out.push(B64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Strict, as the `base64` crate's `URL_SAFE_NO_PAD` decodes: only the 64 characters of the
/// alphabet (no padding, no white space, no `+` or `/`), no length of 1 modulo 4, and the
/// unused low bits of the last character zero, so that each byte string has one encoding.
pub(crate) fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    let invalid = || Error::new(ErrorCode::InvalidResponse, "invalid base64url");
    let text = text.as_bytes();
    if text.len() % 4 == 1 {
        return Err(invalid());
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'-' => 62,
                b'_' => 63,
                _ => return Err(invalid()),
            };
            n |= (v as u32) << (18 - 6 * i);
        }
        // 4 characters -> 3 bytes, 3 -> 2, 2 -> 1; the bits past the last byte must be zero.
        let len = chunk.len() - 1;
        if n << (8 * len) & 0xff_ffff != 0 {
            return Err(invalid());
        }
        out.extend_from_slice(&n.to_be_bytes()[1..=len]);
    }
    Ok(out)
}

/// Where `needle` first occurs in `haystack`. std's `&str` patterns (`contains("…")`,
/// `split_once("…")`, `replace`) link its two-way searcher, about 1.6 KB of the .wasm, for
/// the few short headers and identifiers this client searches; a byte-window scan is enough.
/// A match of valid UTF-8 in valid UTF-8 starts and ends on character boundaries.
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| h[i..].starts_with(n))
}

/// Whether `needle` occurs in `haystack` (see [`find`]).
pub(crate) fn contains(haystack: &str, needle: &str) -> bool {
    find(haystack, needle).is_some()
}

/// `haystack` with every `from` replaced by `to`, left to right (as `str::replace`; `from` is
/// never empty here, and an empty one replaces nothing).
pub(crate) fn replace(haystack: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(i) = find(rest, from).filter(|_| !from.is_empty()) {
        out.push_str(&rest[..i]);
        out.push_str(to);
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    out
}

/// Searching text for one ASCII byte (a separator such as `.`, `:`, `'\n'`). std's `char`
/// patterns (`split('.')`, `split_once(':')`, `find('?')`, `contains('%')`,
/// `trim_end_matches('/')`) link its char searcher, `memchr` and a splitter per iterator kind;
/// for an ASCII byte a byte scan finds the same places (no byte of a multi-byte character is
/// ASCII) and cuts on character boundaries. Each is tested against the std method it replaces.
pub(crate) trait AsciiSplit {
    /// As `split(char)`.
    fn pieces(&self, sep: u8) -> Pieces<'_>;
    /// As `split_once(char)`.
    fn cut(&self, sep: u8) -> Option<(&str, &str)>;
    /// As `find(char)`.
    fn pos(&self, byte: u8) -> Option<usize>;
    /// As `contains(char)`.
    fn has(&self, byte: u8) -> bool {
        self.pos(byte).is_some()
    }
    /// As `trim_start_matches(char)`.
    fn trim_start_byte(&self, byte: u8) -> &str;
    /// As `trim_end_matches(char)`.
    fn trim_end_byte(&self, byte: u8) -> &str;
}

impl AsciiSplit for str {
    fn pieces(&self, sep: u8) -> Pieces<'_> {
        Pieces {
            rest: Some(self),
            sep,
        }
    }
    fn cut(&self, sep: u8) -> Option<(&str, &str)> {
        let i = self.pos(sep)?;
        Some(split_around(self, i))
    }
    fn pos(&self, byte: u8) -> Option<usize> {
        // Only an ASCII byte is a whole character: no other is ever found, so every position
        // this gives (and every cut made at one) is a char boundary.
        if !byte.is_ascii() {
            return None;
        }
        let bytes = self.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == byte {
                return Some(i);
            }
            i += 1;
        }
        None
    }
    fn trim_start_byte(&self, byte: u8) -> &str {
        if !byte.is_ascii() {
            return self; // never found (see `pos`)
        }
        let bytes = self.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] == byte {
            i += 1;
        }
        // SAFETY: `i` is the length of a run of ASCII bytes at the start: a char boundary.
        unsafe { self.get_unchecked(i..) }
    }
    fn trim_end_byte(&self, byte: u8) -> &str {
        if !byte.is_ascii() {
            return self; // never found (see `pos`)
        }
        let bytes = self.as_bytes();
        let mut end = bytes.len();
        while end > 0 && bytes[end - 1] == byte {
            end -= 1;
        }
        // SAFETY: only ASCII bytes were cut off the end: `end` is a char boundary.
        unsafe { self.get_unchecked(..end) }
    }
}

/// Whether `byte` is one of `set`, as `set.contains(&byte)`, which links `memchr` (0.4 KB of the
/// .wasm) for the few short sets of characters checked here.
pub(crate) fn one_of(byte: u8, set: &[u8]) -> bool {
    let mut i = 0;
    while i < set.len() {
        if set[i] == byte {
            return true;
        }
        i += 1;
    }
    false
}

/// The text before and after the ASCII byte at `i` (a position `pos` gave).
fn split_around(text: &str, i: usize) -> (&str, &str) {
    debug_assert!(text.as_bytes()[i].is_ascii());
    // SAFETY: `pos` finds ASCII bytes only, so `i` and `i + 1` are char boundaries within the
    // text.
    unsafe { (text.get_unchecked(..i), text.get_unchecked(i + 1..)) }
}

/// The pieces of [`AsciiSplit::pieces`].
pub(crate) struct Pieces<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.pos(self.sep) {
            Some(i) => {
                let (piece, after) = split_around(rest, i);
                self.rest = Some(after);
                Some(piece)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// A decimal integer: an optional `-` and ASCII digits, nothing else, within `i64` (the
/// numbers this client reads: JSON integers after their grammar check, a port, a stored clock
/// offset). std's `str::parse` links a generic parser per integer type, 0.6 KB each.
pub(crate) fn parse_int(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated negatively, so that i64::MIN (whose magnitude i64 cannot hold) reads too.
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_sub(d as i64)?;
    }
    if negative {
        Some(n)
    } else {
        n.checked_neg()
    }
}

/// Sorts stably by `key`, by insertion: the lists sorted here are an origin's few sessions,
/// and std's merge sort is 0.6 KB of the .wasm for each element type.
pub(crate) fn sort_by_key<T, K: Ord + ?Sized>(items: &mut [T], key: impl Fn(&T) -> &K) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && key(&items[j - 1]) > key(&items[j]) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// The items with `sep` between them, as `[S]::join`, whose generic copy loop is 0.4 to 0.9 KB
/// of the .wasm for each element type; this is a few dozen bytes.
pub(crate) fn join<S: AsRef<str>>(items: &[S], sep: &str) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(item.as_ref());
    }
    out
}

/// `bytes` as UTF-8, each maximal ill-formed part replaced by U+FFFD, exactly as
/// `String::from_utf8_lossy` (and the WHATWG decoder) does; built on `str::from_utf8`, whose
/// error reports that part, rather than on std's chunk iterator (0.75 KB of the .wasm).
pub(crate) fn utf8_lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(text) => {
                out.push_str(text);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // `valid` is what from_utf8 just checked: never the default.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{fffd}');
                match e.error_len() {
                    Some(len) => rest = &after[len..],
                    // An incomplete sequence at the end: one replacement for all of it.
                    None => return out,
                }
            }
        }
    }
}

/// SHA-256: sha2's compression function, fed here with the message and its padding (FIPS 180-4
/// section 5.1.1). The crate's `Digest` front end (its block buffer and generic arrays) was
/// 250 B gzip more in the .wasm (sixteenth session) for the three short values the client hashes.
// (`GenericArray` is the type sha2 0.10's `compress256` takes; generic-array 0.14 marks itself
// deprecated in favour of 1.x, which sha2 0.10 does not use.)
#[allow(deprecated)]
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::digest::generic_array::GenericArray;
    let mut state: [u32; 8] = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    // The message, a 1 bit, zeros, and its length in bits in the last 8 bytes, built block by
    // block one byte at a time (short values: the simplest code is the smallest).
    let len = bytes.len();
    let padded = (len + 9).div_ceil(64) * 64;
    let bits = ((len as u64) << 3).to_be_bytes();
    for start in (0..padded).step_by(64) {
        let mut block = [0u8; 64];
        for (i, b) in block.iter_mut().enumerate() {
            let at = start + i;
            *b = match bytes.get(at) {
                Some(&b) => b,
                None if at == len => 0x80,
                None => (at + 8).checked_sub(padded).map_or(0, |k| bits[k]),
            };
        }
        sha2::compress256(&mut state, &[GenericArray::from(block)]);
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = (state[i / 4] >> (24 - 8 * (i % 4))) as u8;
    }
    out
}

/// Cryptographically secure random bytes: the OS in native builds, `crypto.getRandomValues`
/// in the browser (see [`fill_random`]).
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    fill_random(&mut buf)?;
    Ok(buf)
}

/// Fills `buf` from the platform's CSPRNG, in place. In the browser, through `glue.js`'s
/// `randomFill`, which uses the `getRandomValues` it took when the package was loaded: a page
/// script that replaces it later neither sees nor chooses the bytes of a DPoP key (getrandom's
/// `wasm_js` backend looks `crypto.getRandomValues` up at every call; see
/// `src/browser/crypto.rs`).
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    #[cfg(target_arch = "wasm32")]
    let filled = crate::browser::crypto::fill_random(buf)
        .then_some(())
        .ok_or("crypto.getRandomValues is unavailable or failed");
    #[cfg(not(target_arch = "wasm32"))]
    let filled = getrandom::fill(buf).map_err(|e| e.to_string());
    filled.map_err(|why| Error::new(ErrorCode::CryptoError, msg!("no secure randomness: ", why)))
}

/// A random URL-safe token carrying `N` bytes of entropy.
pub(crate) fn random_token<const N: usize>() -> Result<String> {
    Ok(b64url(&random_bytes::<N>()?))
}

/// Text from pieces, as `msg!` builds it (see there).
pub(crate) fn concat(pieces: &[&str]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum());
    for piece in pieces {
        out.push_str(piece);
    }
    out
}

/// A number in decimal, as `i64`'s `Display` writes it (without core::fmt; see `msg!`).
pub(crate) fn int(n: i64) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(21);
    if n < 0 {
        out.push('-');
    }
    digits[i..].iter().for_each(|&d| out.push(d as char));
    out
}

/// Appends `n` in hexadecimal, at least `width` digits (leading zeros), upper or lower case.
pub(crate) fn push_hex(out: &mut String, n: u32, width: usize, upper: bool) {
    let alphabet: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let len = (1..8).find(|&d| n >> (4 * d) == 0).unwrap_or(8).max(width);
    for d in (0..len).rev() {
        out.push(alphabet[(n >> (4 * d) & 15) as usize] as char);
    }
}

/// A string in double quotes for an error message, escaped so that hostile input cannot forge
/// the message's shape: `"` and `\` get a backslash; line breaks, other control characters and
/// the invisible format characters that reorder or hide text (bidi overrides, zero-width
/// marks) are written as `\u{..}`.
///
/// Messages use this rather than `{:?}`: the shipped build is compiled with
/// `-Zfmt-debug=none` (scripts/build.sh), where every `Debug` prints nothing; `npm test`'s lint
/// stage refuses `Debug` formatting in the crate's non-test code.
pub(crate) fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
                    | '\u{2060}'..='\u{206f}' | '\u{feff}') =>
            {
                out.push_str("\\u{");
                push_hex(&mut out, c as u32, 1, false);
                out.push('}');
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn json_body<T: crate::json::FromJson>(body: &[u8], what: &str) -> Result<T> {
    crate::json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorCode::InvalidResponse,
            msg!(what, ": unreadable JSON (", e, ")"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{
        b64url, b64url_decode, concat, contains, find, int, join, parse_int, push_hex, quoted,
        replace, sort_by_key, utf8_lossy,
    };
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    /// The same digest as sha2's own front end for every length up to three blocks and more
    /// (each padding case: the length fits in the last block, or needs one more), and the
    /// FIPS 180-2 examples.
    #[test]
    fn sha256_is_sha2s() {
        use sha2::{Digest, Sha256};
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + i / 3) as u8).collect();
        for len in 0..=data.len() {
            let theirs: [u8; 32] = Sha256::digest(&data[..len]).into();
            assert_eq!(super::sha256(&data[..len]), theirs, "{len}");
        }
        let hex = |d: [u8; 32]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(super::sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(super::sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        assert_eq!(
            hex(super::sha256(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// Every string of up to 3 characters over the characters that matter, and the edges of
    /// `i64`: the same answers as std's `parse::<i64>`, except `+` (refused here; no number
    /// this client reads is written with it).
    #[test]
    fn integers_parse_as_std() {
        let chars = ["0", "1", "9", "-", "+", "a", " ", "٣", ""];
        for a in chars {
            for b in chars {
                for c in chars {
                    let text = format!("{a}{b}{c}");
                    let std = text.parse::<i64>().ok().filter(|_| !text.contains('+'));
                    assert_eq!(parse_int(&text), std, "{text:?}");
                }
            }
        }
        for n in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            assert_eq!(parse_int(&n.to_string()), Some(n));
        }
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
        ] {
            assert_eq!(parse_int(text), None, "{text}");
        }
        assert_eq!(parse_int("007"), Some(7));
        assert_eq!(parse_int("-0"), Some(0));
    }

    /// Every arrangement of up to 6 items with repeated keys: the order std's stable sort gives.
    #[test]
    fn sorts_stably_as_std() {
        for len in 0..=6u32 {
            for code in 0..4u32.pow(len) {
                let items: Vec<(String, u32)> = (0..len)
                    .map(|i| (((code >> (2 * i)) & 3).to_string(), i))
                    .collect();
                let mut ours = items.clone();
                sort_by_key(&mut ours, |x| x.0.as_str());
                let mut std = items;
                std.sort_by(|a, b| a.0.cmp(&b.0));
                assert_eq!(ours, std);
            }
        }
    }

    #[test]
    fn joins_as_std() {
        let items = ["", "a", "é b", ""];
        for n in 0..=items.len() {
            for sep in ["", ", ", ";"] {
                assert_eq!(join(&items[..n], sep), items[..n].join(sep));
                let owned: Vec<String> = items[..n].iter().map(|s| s.to_string()).collect();
                assert_eq!(join(&owned, sep), owned.join(sep));
            }
        }
    }

    /// `msg!`'s pieces against core::fmt, which they replace: integers at the edges and
    /// around each power of ten, hexadecimal at every width used, and a message.
    #[test]
    fn text_pieces_as_core_fmt() {
        let mut samples = vec![i64::MIN, i64::MIN + 1, i64::MAX, 0, -1];
        for p in 0..19 {
            let t = 10i64.pow(p);
            samples.extend([t - 1, t, t + 1, -t + 1, -t, -t - 1]);
        }
        for n in samples {
            assert_eq!(int(n), n.to_string());
        }
        for n in (0..=0x2100u32).chain([0xfeff, 0x10ffff, u32::MAX]) {
            for (width, upper) in [(1, false), (2, true), (4, false)] {
                let mut ours = String::from("x");
                push_hex(&mut ours, n, width, upper);
                let std = if upper {
                    format!("x{n:0width$X}")
                } else {
                    format!("x{n:0width$x}")
                };
                assert_eq!(ours, std);
            }
        }
        let (did, status) = ("did:plc:a", 404u16);
        assert_eq!(
            msg!("the DID document of ", did, ": HTTP ", int(status.into())),
            format!("the DID document of {did}: HTTP {status}")
        );
        assert_eq!(concat(&[]), "");
    }

    /// Every sequence of up to 3 bytes from a set that makes every kind of UTF-8 error
    /// (continuation bytes alone, truncated and overlong sequences, surrogates, bytes past
    /// U+10FFFF, 0xFF), and longer mixes: the same text as `String::from_utf8_lossy`.
    #[test]
    fn lossy_utf8_as_std() {
        let bytes = [
            0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf4,
            0xf5, 0xff, 0xa0, 0x9f, 0x90, 0x8f,
        ];
        let mut inputs: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..3 {
            let longer: Vec<Vec<u8>> = inputs
                .iter()
                .filter(|v| v.len() == inputs.last().map_or(0, |l| l.len()))
                .flat_map(|v| {
                    bytes.iter().map(move |&b| {
                        let mut w = v.clone();
                        w.push(b);
                        w
                    })
                })
                .collect();
            inputs.extend(longer);
        }
        inputs.extend([
            "é😀".as_bytes().to_vec(),
            b"a\xf0\x9f\x98b\xe2\x82\xacc\xed\xa0\x80d\xf4\x90\x80\x80".to_vec(),
            b"\xe2\x82".to_vec(),
            b"ok\xf0\x9f".to_vec(),
        ]);
        for input in &inputs {
            assert_eq!(
                utf8_lossy(input),
                String::from_utf8_lossy(input),
                "{input:x?}"
            );
        }
    }

    /// Every string of up to 4 pieces from a small set (ASCII, a two-byte and a four-byte
    /// character, a repeated prefix) as haystack and as needle: the same answers as std's.
    #[test]
    fn search_and_replace_as_std() {
        let pieces = ["a", "b", "%3A", "é", "😀", "aab", ""];
        let strings = crate::testing::distinct_strings_of(&pieces, 4);
        let needles: Vec<&String> = strings.iter().filter(|s| s.len() <= 6).collect();
        for h in &strings {
            for n in &needles {
                assert_eq!(find(h, n), h.find(n.as_str()), "{h:?} {n:?}");
                assert_eq!(contains(h, n), h.contains(n.as_str()), "{h:?} {n:?}");
                if !n.is_empty() {
                    assert_eq!(
                        replace(h, n, ":"),
                        h.replace(n.as_str(), ":"),
                        "{h:?} {n:?}"
                    );
                }
            }
        }
        assert_eq!(replace("x", "", ":"), "x");
    }

    /// Every string of up to 5 pieces with separators next to two- and four-byte characters,
    /// split, cut, searched and trimmed at each ASCII separator: the same answers as std's
    /// `char` patterns. A non-ASCII byte is never found (it is part of a character).
    #[test]
    fn ascii_split_as_std() {
        use super::AsciiSplit;
        let pieces = [".", ":", "a", "é", "😀", "::", ""];
        let strings = crate::testing::distinct_strings_of(&pieces, 5);
        for s in &strings {
            for sep in [b'.', b':', b'a', b'\n'] {
                let c = sep as char;
                let ours: Vec<&str> = s.pieces(sep).collect();
                let std: Vec<&str> = s.split(c).collect();
                assert_eq!(ours, std, "{s:?} {c:?}");
                assert_eq!(s.pieces(sep).count(), std.len(), "{s:?} {c:?}");
                assert_eq!(s.cut(sep), s.split_once(c), "{s:?} {c:?}");
                assert_eq!(s.pos(sep), s.find(c), "{s:?} {c:?}");
                assert_eq!(s.has(sep), s.contains(c), "{s:?} {c:?}");
                assert_eq!(
                    s.trim_start_byte(sep),
                    s.trim_start_matches(c),
                    "{s:?} {c:?}"
                );
                assert_eq!(s.trim_end_byte(sep), s.trim_end_matches(c), "{s:?} {c:?}");
            }
            // The bytes of `é` (C3 A9) and of the emoji are never separators.
            for byte in [0xc3, 0xa9, 0xf0, 0x9f] {
                assert_eq!(s.pos(byte), None, "{s:?} {byte:x}");
                assert_eq!(s.pieces(byte).collect::<Vec<_>>(), [s.as_str()]);
                assert_eq!(s.trim_end_byte(byte), s.as_str());
            }
        }
        for set in [&b""[..], b"a", b"-_.", b"\x00\xff"] {
            for byte in 0..=255u8 {
                assert_eq!(
                    super::one_of(byte, set),
                    set.contains(&byte),
                    "{byte} {set:?}"
                );
            }
        }
    }

    #[test]
    fn base64url_encodes_as_the_base64_crate() {
        // Every length up to 70, and every byte value in every position of a chunk.
        let mut seed = 0x2545_f491_u32;
        for len in 0..=70 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    seed as u8
                })
                .collect();
            assert_eq!(b64url(&bytes), URL_SAFE_NO_PAD.encode(&bytes), "{bytes:?}");
            assert_eq!(b64url_decode(&b64url(&bytes)).unwrap(), bytes);
        }
        for b in 0..=255u8 {
            for bytes in [vec![b], vec![0, b], vec![b, 0, 255], vec![255, b, 1, 2]] {
                assert_eq!(b64url(&bytes), URL_SAFE_NO_PAD.encode(&bytes));
            }
        }
    }

    #[test]
    fn base64url_decodes_and_refuses_as_the_base64_crate() {
        // Every string of up to 3 characters, and 4 or 5 characters over a smaller set, from
        // the alphabet and from what it must refuse: padding, the standard alphabet's + and /,
        // white space, a NUL, non-ASCII.
        let chars: Vec<char> = "AQgw_-9zB=+/ \n\0é"
            .chars()
            .chain(('A'..='Z').chain('a'..='z').chain('0'..='9'))
            .collect();
        let small: Vec<char> = "AB_-Qw=+ é".chars().collect();
        let check = |s: &str| {
            let ours = b64url_decode(s).ok();
            let theirs = URL_SAFE_NO_PAD.decode(s).ok();
            assert_eq!(ours, theirs, "{s:?}");
        };
        check("");
        let mut s = String::new();
        for a in &chars {
            for b in chars.iter().map(Some).chain([None]) {
                for c in chars.iter().map(Some).chain([None]) {
                    s.clear();
                    s.push(*a);
                    s.extend(b);
                    s.extend(c.filter(|_| b.is_some()));
                    check(&s);
                }
            }
        }
        for a in &small {
            for b in &small {
                for c in &small {
                    for d in &small {
                        for e in small.iter().map(Some).chain([None]) {
                            s.clear();
                            s.extend([a, b, c, d]);
                            s.extend(e);
                            check(&s);
                            check(&format!("QUJD{s}"));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn quoted_escapes_what_could_forge_or_hide_text() {
        let q = quoted;
        assert_eq!(q("alice.bsky.social"), r#""alice.bsky.social""#);
        assert_eq!(q(r#"a"b\c"#), r#""a\"b\\c""#);
        // A line break cannot start a forged line; a tab or NUL is visible.
        assert_eq!(q("a\nb\r\t\0"), r#""a\u{a}b\u{d}\u{9}\u{0}""#);
        // Bidi overrides and zero-width characters are shown, not obeyed.
        assert_eq!(
            q("x\u{202e}y\u{200b}z\u{2066}\u{feff}"),
            r#""x\u{202e}y\u{200b}z\u{2066}\u{feff}""#
        );
        // Other text, non-ASCII included, is as it is.
        assert_eq!(q("héllo ünïcode 日本"), "\"héllo ünïcode 日本\"");
    }
}
