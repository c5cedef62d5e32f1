//! JSON for the few documents the client reads and writes: a pull reader and an object writer,
//! with each document's fields read and written by hand (`FromJson`, `ToJson` in its module).
//!
//! Why not serde_json with derived readers: in the shipped .wasm, serde_json, the visitors
//! derived for each document type and the float formatting behind serde's error messages were
//! about a fifth of the code (see the README's "Where the bytes are"). The client reads strings,
//! integers, booleans, arrays of strings and a few raw values (records passed through to
//! JavaScript): the reader does that over the bytes, with no tree and no trait machinery, and
//! the same code runs natively under `cargo test`, where serde_json (a dev-dependency) checks it.
//!
//! The reader follows RFC 8259 strictly: the whole input must be one value (white space
//! around it), strings must be valid UTF-8 with valid escapes (no lone surrogates, no raw
//! control characters), numbers must follow the grammar, and nesting is limited to 127 levels
//! (serde_json's limit), so hostile input cannot exhaust the stack. A field named twice in an
//! object is refused when the reader knows the field, as serde's derived readers do.

/// Why a JSON text was refused: a short reason, with the byte offset for syntax errors.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct JsonError(pub String);

impl AsRef<str> for JsonError {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

pub(crate) type JsonResult<T> = std::result::Result<T, JsonError>;

/// A document type read from JSON.
pub(crate) trait FromJson: Sized {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self>;
}

/// A document type written as a JSON object.
pub(crate) trait ToJson {
    fn write(&self, o: &mut Obj<'_>);
}

/// Reads one `T` from the whole of `bytes`.
///
/// Every document type is an object, and the reader checks that only white space follows the
/// outermost object or array as soon as it is closed (`Reader::close`). So nothing can fail
/// after `T::read` has built its value: a check here would be one more exit dropping a `T`, in
/// each of the ten copies of this function (-331 B gzip, sixteenth session). What is left is a
/// call and a check, inlined into each caller: -107 B more.
#[inline(always)]
pub(crate) fn from_slice<T: FromJson>(bytes: &[u8]) -> JsonResult<T> {
    let mut r = Reader::new(bytes)?;
    let value = T::read(&mut r)?;
    debug_assert!(
        r.peek().is_none(),
        "a document type that is not an object or array"
    );
    Ok(value)
}

/// `value` as a JSON object.
pub(crate) fn to_string<T: ToJson + ?Sized>(value: &T) -> String {
    object(|o| value.write(o))
}

/// A JSON object made by `f`.
pub(crate) fn object(f: impl FnOnce(&mut Obj<'_>)) -> String {
    let mut out = String::new();
    let mut o = Obj::open(&mut out);
    f(&mut o);
    o.close();
    out
}

const MAX_DEPTH: u32 = 128;

/// A pull reader over one JSON text.
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: u32,
}

fn expected(what: &str, pos: usize) -> JsonError {
    JsonError(msg!(
        "expected ",
        what,
        " at byte ",
        crate::util::int(pos as i64)
    ))
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which must be UTF-8.
    pub fn new(bytes: &'a [u8]) -> JsonResult<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            JsonError(msg!(
                "invalid UTF-8 at byte ",
                crate::util::int(e.valid_up_to() as i64)
            ))
        })?;
        Ok(Reader {
            text,
            pos: 0,
            depth: 0,
        })
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not white space (without taking it).
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes().get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    fn eat(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    fn literal(&mut self, word: &str) -> bool {
        self.peek();
        let found = self.text[self.pos..].starts_with(word);
        if found {
            self.pos += word.len();
        }
        found
    }

    /// Only white space is left (for a document that is not an object or array; the fuzz
    /// targets and tests read those).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn finish(mut self) -> JsonResult<()> {
        self.end()
    }

    fn end(&mut self) -> JsonResult<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(expected("the end", self.pos)),
        }
    }

    /// Takes a `null` if one is next.
    pub fn null(&mut self) -> bool {
        self.literal("null")
    }

    pub fn boolean(&mut self) -> JsonResult<bool> {
        if self.literal("true") {
            Ok(true)
        } else if self.literal("false") {
            Ok(false)
        } else {
            Err(expected("a boolean", self.pos))
        }
    }

    /// A number that is a whole `i64`, written without fraction or exponent.
    pub fn integer(&mut self) -> JsonResult<i64> {
        self.peek();
        let start = self.pos;
        let text = self.number()?;
        if text.contains(['.', 'e', 'E']) {
            return Err(expected("an integer", start));
        }
        crate::util::parse_int(text).ok_or_else(|| expected("an integer in range", start))
    }

    /// A whole number of seconds from any JSON number, rounded down (`3599.5`, `3.6e3`; RFC
    /// 6749's `expires_in` is a number, and a server may well send a fraction), but a positive
    /// number under 1 is 1: a negative one is 0, one past `i64` is `i64::MAX`. By digits,
    /// without parsing a float.
    pub fn seconds(&mut self) -> JsonResult<i64> {
        use crate::util::AsciiSplit;
        let text = self.number()?;
        if text.starts_with('-') {
            return Ok(0);
        }
        // The number's digits, the point `point` digits in (past the last digit, zeros).
        let (mantissa, exp) = match text.cut(b'e').or_else(|| text.cut(b'E')) {
            Some((mantissa, exp)) => {
                let huge = if exp.starts_with('-') { -100 } else { 100 };
                let exp = crate::util::parse_int(exp.trim_start_byte(b'+')).unwrap_or(huge);
                (mantissa, exp)
            }
            None => (text, 0),
        };
        let (int, frac) = mantissa.cut(b'.').unwrap_or((mantissa, ""));
        let point = (int.len() as i64).saturating_add(exp.clamp(-100, 100));
        let digit = |i: usize| {
            let b = match int.as_bytes().get(i) {
                Some(b) => *b,
                None => frac.as_bytes().get(i - int.len()).copied().unwrap_or(b'0'),
            };
            i64::from(b - b'0')
        };
        let mut n = 0i64;
        for i in 0..point.max(0) as usize {
            n = n.saturating_mul(10).saturating_add(digit(i));
            if n == i64::MAX {
                break;
            }
        }
        // A positive lifetime under a second is a second, not none at all.
        let mut positive = false;
        for b in mantissa.bytes() {
            positive |= (b'1'..=b'9').contains(&b);
        }
        Ok(if n == 0 && positive { 1 } else { n })
    }

    /// A number's text, checked against the grammar.
    fn number(&mut self) -> JsonResult<&'a str> {
        self.peek();
        let start = self.pos;
        let b = self.bytes();
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        if b.get(i) == Some(&b'0') {
            i += 1;
        } else if !digits(&mut i) {
            return Err(expected("a number", start));
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            if !digits(&mut i) {
                return Err(expected("a digit", i));
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return Err(expected("a digit", i));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// A string, unescaped.
    pub fn string(&mut self) -> JsonResult<String> {
        if !self.eat(b'"') {
            return Err(expected("a string", self.pos));
        }
        let mut out = String::new();
        loop {
            let start = self.pos;
            // The run up to the next quote, backslash or control character is taken as it is.
            let run = self.bytes()[start..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                .ok_or_else(|| expected("the end of the string", self.text.len()))?;
            out.push_str(&self.text[start..start + run]);
            self.pos = start + run;
            match self.bytes()[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Ok(out);
                }
                b'\\' => {
                    let c = self.escape()?;
                    out.push(c);
                }
                _ => return Err(expected("no control character in a string", self.pos)),
            }
        }
    }

    /// One escape sequence, at its backslash.
    fn escape(&mut self) -> JsonResult<char> {
        let at = self.pos;
        let kind = *self
            .bytes()
            .get(at + 1)
            .ok_or_else(|| expected("an escape", at))?;
        self.pos = at + 2;
        Ok(match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let high = self.hex4()?;
                let code = if (0xD800..0xDC00).contains(&high) {
                    // A UTF-16 surrogate pair, as JSON writes characters beyond the BMP.
                    if !self.text[self.pos..].starts_with("\\u") {
                        return Err(expected("a low surrogate", self.pos));
                    }
                    self.pos += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(expected("a low surrogate", self.pos - 6));
                    }
                    0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
                } else {
                    high
                };
                char::from_u32(code).ok_or_else(|| expected("no lone surrogate", at))?
            }
            _ => return Err(expected("a valid escape", at)),
        })
    }

    fn hex4(&mut self) -> JsonResult<u32> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| expected("four hex digits", self.pos))?;
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| expected("four hex digits", self.pos))
    }

    fn nest(&mut self) -> JsonResult<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(JsonError(msg!(
                "nested ",
                crate::util::int(MAX_DEPTH as i64),
                " levels deep at byte ",
                crate::util::int(self.pos as i64)
            )));
        }
        Ok(())
    }

    /// An object: `f` is called with each key and reads (or skips) its value.
    pub fn object(
        &mut self,
        f: &mut dyn FnMut(&mut Self, &str) -> JsonResult<()>,
    ) -> JsonResult<()> {
        if !self.eat(b'{') {
            return Err(expected("an object", self.pos));
        }
        self.nest()?;
        if !self.eat(b'}') {
            loop {
                let key = self.string()?;
                if !self.eat(b':') {
                    return Err(expected("`:`", self.pos));
                }
                f(self, &key)?;
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return Err(expected("`,` or `}`", self.pos));
                }
            }
        }
        self.close()
    }

    /// An array: `f` is called for each element and reads (or skips) it.
    pub fn array(&mut self, f: &mut dyn FnMut(&mut Self) -> JsonResult<()>) -> JsonResult<()> {
        if !self.eat(b'[') {
            return Err(expected("an array", self.pos));
        }
        self.nest()?;
        if !self.eat(b']') {
            loop {
                f(self)?;
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return Err(expected("`,` or `]`", self.pos));
                }
            }
        }
        self.close()
    }

    /// The end of an object or array: after the outermost one, only white space may follow.
    /// (Checked without moving past it: the value's text, `raw`'s, ends at its last byte.)
    fn close(&mut self) -> JsonResult<()> {
        self.depth -= 1;
        if self.depth == 0 {
            let at = self.pos;
            self.end()?;
            self.pos = at;
        }
        Ok(())
    }

    /// An array, each element read by `read`.
    pub fn list<T>(
        &mut self,
        mut read: impl FnMut(&mut Self) -> JsonResult<T>,
    ) -> JsonResult<Vec<T>> {
        let mut out = Vec::new();
        self.array(&mut |r| {
            out.push(read(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// An array of strings.
    pub fn strings(&mut self) -> JsonResult<Vec<String>> {
        self.list(Self::string)
    }

    /// Any value, checked and passed over.
    pub fn skip(&mut self) -> JsonResult<()> {
        match self.peek() {
            Some(b'"') => self.string().map(drop),
            Some(b'{') => self.object(&mut |r, _| r.skip()),
            Some(b'[') => self.array(&mut |r| r.skip()),
            Some(b't' | b'f') => self.boolean().map(drop),
            Some(b'n') if self.null() => Ok(()),
            _ => self.number().map(drop),
        }
    }

    /// Any value, checked, as its JSON text.
    pub fn raw(&mut self) -> JsonResult<&'a str> {
        self.peek();
        let start = self.pos;
        self.skip()?;
        Ok(&self.text[start..self.pos])
    }

    /// A string, or `None` for any other value (which is passed over).
    pub fn string_or_skip(&mut self) -> JsonResult<Option<String>> {
        if self.peek() == Some(b'"') {
            self.string().map(Some)
        } else {
            self.skip().map(|()| None)
        }
    }

    /// What `read` reads, or `None` for `null`.
    pub(crate) fn nullable<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> JsonResult<T>,
    ) -> JsonResult<Option<T>> {
        if self.null() {
            Ok(None)
        } else {
            read(self).map(Some)
        }
    }

    /// A string, or `None` for `null`.
    pub fn opt_string(&mut self) -> JsonResult<Option<String>> {
        self.nullable(Self::string)
    }

    /// An integer, or `None` for `null`.
    pub fn opt_integer(&mut self) -> JsonResult<Option<i64>> {
        self.nullable(Self::integer)
    }

    /// A `T`, or `None` for `null`.
    pub fn opt<T: FromJson>(&mut self) -> JsonResult<Option<T>> {
        self.nullable(T::read)
    }
}

/// Stores a field's value, refusing a second one for the same field.
pub(crate) fn set<T>(slot: &mut Option<T>, key: &str, value: T) -> JsonResult<()> {
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(value);
    Ok(())
}

/// A field that appeared twice.
pub(crate) fn duplicate(key: &str) -> JsonError {
    JsonError(msg!("duplicate field `", key, "`"))
}

/// The required fields of a record, out of their `Option`s: `present!(var: "key", ...)` is
/// the tuple of the values, or returns the error naming the first missing key. Checked once for
/// all the fields, so that the fields read so far are dropped on one error path, not again on
/// each field's: -841 B gzip for the seven record types with several, measured in the
/// thirteenth session. The check and the values come from one list, so the `unwrap`s cannot
/// fail: every field they take was just found present. (Matching the tuple of `Option`s
/// instead, with no `unwrap`, was 512 B gzip more: it moves every field once more.)
macro_rules! present {
    ($($var:ident: $key:literal),+ $(,)?) => {{
        if let Some(key) = [$(($key, $var.is_none())),+]
            .into_iter()
            .find_map(|(key, none)| none.then_some(key))
        {
            return Err($crate::json::missing(key));
        }
        ($($var.unwrap(),)+)
    }};
}
pub(crate) use present;

/// A required field that is missing.
pub(crate) fn missing(key: &str) -> JsonError {
    JsonError(msg!("missing field `", key, "`"))
}

/// A field that must have been present.
pub(crate) fn required<T>(slot: Option<T>, key: &str) -> JsonResult<T> {
    slot.ok_or_else(|| missing(key))
}

/// `value` as a JSON string literal.
pub(crate) fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    push_string(&mut out, value);
    out
}

fn push_string(out: &mut String, value: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in value.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&value[start..i]);
        if escape.is_empty() {
            out.push_str("\\u");
            crate::util::push_hex(out, b as u32, 4, false);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&value[start..]);
    out.push('"');
}

/// A JSON object being written, its fields in the order they are added.
pub(crate) struct Obj<'a> {
    out: &'a mut String,
    empty: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut String) -> Self {
        out.push('{');
        Obj { out, empty: true }
    }

    fn close(self) {
        self.out.push('}');
    }

    fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        push_string(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, key: &str, value: &str) {
        let out = self.key(key);
        push_string(out, value);
    }

    /// A string, or `null`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key).push_str(&crate::util::int(value));
    }

    /// An integer, or `null`.
    pub fn opt_int(&mut self, key: &str, value: Option<i64>) {
        match value {
            Some(v) => self.int(key, v),
            None => self.raw(key, "null"),
        }
    }

    pub fn strs(&mut self, key: &str, values: &[String]) {
        let out = self.key(key);
        out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_string(out, v);
        }
        out.push(']');
    }

    /// Text that is already JSON.
    pub fn raw(&mut self, key: &str, json: &str) {
        self.key(key).push_str(json);
    }

    /// A nested object, or `null`.
    pub fn opt_obj<T: ToJson + ?Sized>(&mut self, key: &str, value: Option<&T>) {
        match value {
            Some(v) => {
                let mut inner = Obj::open(self.key(key));
                v.write(&mut inner);
                inner.close();
            }
            None => self.raw(key, "null"),
        }
    }

    pub fn obj<T: ToJson + ?Sized>(&mut self, key: &str, value: &T) {
        self.opt_obj(key, Some(value));
    }
}

#[cfg(test)]
mod tests;
