//! The reader and writer against serde_json (a dev-dependency), which the shipped build used to
//! link: the same texts accepted and refused, the same strings read, the same escapes written.

use super::*;

fn skips(text: &str) -> bool {
    Reader::new(text.as_bytes())
        .and_then(|mut r| {
            r.skip()?;
            r.finish()
        })
        .is_ok()
}

fn serde_accepts(text: &str) -> bool {
    // A `Value`, so that strings are decoded (an ignored string's escapes are not checked).
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}

#[test]
fn accepts_and_refuses_what_serde_json_does() {
    let texts = [
        "null",
        "true",
        "false",
        "0",
        "-0",
        "12",
        "-12.5e+3",
        "1E-2",
        "0.5",
        " [1, 2 ,3] ",
        r#"{"a":{"b":[{},[],"x"]},"c":null}"#,
        r#""\u00e9\ud83d\ude00\n\/""#,
        "\"é日本\"",
        "{}",
        "[]",
        "[[[]]]",
        r#"{"":""}"#,
        // Refused, by both.
        "",
        " ",
        "nul",
        "tru",
        "01",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "0x10",
        "NaN",
        "Infinity",
        "[1,]",
        "[,1]",
        "{,}",
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{a:1}"#,
        "[1 2]",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"a\u{1}b\"",
        "\"tab\there\"",
        "[1]]",
        "{}{}",
        "\"a\" x",
        "[",
        "{",
        r#"{"a"}"#,
        "'x'",
        "[true false]",
        "truex",
        "nulll",
    ];
    for text in texts {
        assert_eq!(skips(text), serde_accepts(text), "{text:?}");
    }
}

#[test]
fn invalid_utf8_is_refused() {
    assert!(Reader::new(b"\"\xff\"").is_err());
    assert!(serde_json::from_slice::<serde_json::Value>(b"\"\xff\"").is_err());
    // Anywhere in the text, not only in a string that is read.
    assert!(Reader::new(b"{\"a\":1,\"\xff\":2}").is_err());
}

#[test]
fn nesting_is_bounded() {
    let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(skips(&ok));
    assert!(!skips(&deep));
    // Far deeper input fails without exhausting the stack.
    assert!(!skips(&"[".repeat(1_000_000)));
    assert!(!skips(&"{\"a\":".repeat(100_000)));
}

#[test]
fn strings_read_as_serde_json_reads_them() {
    for text in [
        r#""plain""#,
        r#""quote \" backslash \\ slash \/""#,
        r#""\b\f\n\r\t""#,
        r#""\u0000\u001f\u00e9\u65e5""#,
        r#""\ud83d\ude00 and \uD83D\uDE00""#,
        "\"raw é 日本 😀\"",
        r#""""#,
    ] {
        let ours = Reader::new(text.as_bytes()).unwrap().string().unwrap();
        let theirs: String = serde_json::from_str(text).unwrap();
        assert_eq!(ours, theirs, "{text}");
    }
}

#[test]
fn strings_are_written_as_serde_json_writes_them() {
    let all_controls: String = (0u8..0x20).map(char::from).collect();
    for value in [
        "plain",
        "quote \" backslash \\ slash /",
        &all_controls,
        "\u{7f} é 日本 😀 \u{2028}",
        "",
    ] {
        assert_eq!(string(value), serde_json::to_string(value).unwrap());
        let back = Reader::new(string(value).as_bytes())
            .unwrap()
            .string()
            .unwrap();
        assert_eq!(back, value);
    }
}

/// `Reader::seconds` against the float the number's text stands for, rounded down (a positive
/// one under 1 up to 1): every
/// combination of a few integer parts, fractions and exponents, and the extremes.
#[test]
fn seconds_are_any_number_rounded_down() {
    let read = |t: &str| {
        let mut r = Reader::new(t.as_bytes())?;
        let n = r.seconds()?;
        r.finish().map(|()| n)
    };
    for int in [
        "0",
        "1",
        "7",
        "36",
        "3599",
        "123456789",
        "98765432109876543210",
    ] {
        for frac in ["", ".0", ".5", ".999", ".25", ".0001"] {
            for exp in [
                "", "e0", "e1", "E+2", "e-1", "e-3", "e5", "e17", "e30", "e-30",
            ] {
                let text = format!("{int}{frac}{exp}");
                let value: f64 = text.parse().unwrap();
                let want = match value {
                    v if v >= 9.2e18 => i64::MAX,
                    v if v > 0.0 && v < 1.0 => 1,
                    v => v.floor() as i64,
                };
                let got = read(&text).unwrap();
                // The float is exact to about 15 digits: compare to that.
                let close = (got as f64 - want as f64).abs() <= (want as f64) * 1e-15 + 0.0;
                assert!(got == want || close, "{text}: {got} != {want}");
            }
        }
    }
    assert_eq!(read("-1"), Ok(0));
    assert_eq!(read("-0.5e3"), Ok(0));
    assert_eq!(read("1e999999999999"), Ok(i64::MAX));
    assert_eq!(
        read("1e-999999999999"),
        Ok(1),
        "positive: at least a second"
    );
    assert_eq!(read("0.0"), Ok(0));
    assert_eq!(read("0e5"), Ok(0));
    // Past 18 digits the last ones only move the point: near i64::MAX, within their 10.
    for huge in ["9223372036854775807", "9223372036854775808"] {
        assert!(read(huge).unwrap() >= i64::MAX - 10, "{huge}");
    }
    for bad in ["1.", ".5", "1e", "\"1\"", "01", "+1"] {
        assert!(read(bad).is_err(), "{bad}");
    }
}

#[test]
fn integers_are_whole_and_in_range() {
    let read = |t: &str| {
        let mut r = Reader::new(t.as_bytes())?;
        let n = r.integer()?;
        r.finish().map(|()| n)
    };
    assert_eq!(read("0"), Ok(0));
    assert_eq!(read("-0"), Ok(0));
    assert_eq!(read(" 3600 "), Ok(3600));
    assert_eq!(read("9223372036854775807"), Ok(i64::MAX));
    assert_eq!(read("-9223372036854775808"), Ok(i64::MIN));
    for bad in [
        "9223372036854775808",
        "1.0",
        "1e3",
        "\"1\"",
        "null",
        "-",
        "01",
    ] {
        assert!(read(bad).is_err(), "{bad}");
    }
}

struct Pair {
    name: String,
    count: Option<i64>,
    tags: Vec<String>,
}

impl FromJson for Pair {
    fn read(r: &mut Reader<'_>) -> JsonResult<Self> {
        let (mut name, mut count, mut tags) = (None, None, None);
        r.object(&mut |r, key| match key {
            "name" => set(&mut name, key, r.string()?),
            "count" => set(&mut count, key, r.opt_integer()?),
            "tags" => set(&mut tags, key, r.strings()?),
            _ => r.skip(),
        })?;
        Ok(Pair {
            name: required(name, "name")?,
            count: count.flatten(),
            tags: tags.unwrap_or_default(),
        })
    }
}

impl ToJson for Pair {
    fn write(&self, o: &mut Obj<'_>) {
        o.str("name", &self.name);
        o.opt_int("count", self.count);
        o.strs("tags", &self.tags);
    }
}

#[test]
fn objects_read_known_fields_and_pass_over_the_rest() {
    let p: Pair = from_slice(
        br#"{"other":{"deep":[1,{"x":"y"}]},"name":"a\"b","tags":["x","y"],"count":null}"#,
    )
    .unwrap();
    assert_eq!(p.name, "a\"b");
    assert_eq!(p.count, None);
    assert_eq!(p.tags, ["x", "y"]);
    let p: Pair = from_slice(br#"{"name":"n","count":7}"#).unwrap();
    assert_eq!((p.count, p.tags.len()), (Some(7), 0));

    let err = |t: &[u8]| from_slice::<Pair>(t).err().unwrap().0;
    assert_eq!(err(br#"{"count":1}"#), "missing field `name`");
    assert_eq!(err(br#"{"name":"a","name":"b"}"#), "duplicate field `name`");
    assert!(err(br#"{"name":1}"#).starts_with("expected a string"));
    assert!(err(br#"{"name":"a","tags":"x"}"#).starts_with("expected an array"));
    assert!(err(br#"{"name":"a"} trailing"#).starts_with("expected the end"));
    assert!(err(br#"["name"]"#).starts_with("expected an object"));
    // An unknown field may repeat (serde's derived readers ignore it too).
    assert!(from_slice::<Pair>(br#"{"name":"a","x":1,"x":2}"#).is_ok());
}

/// The end of the document is checked where its outermost object or array closes (so that
/// `from_slice` has nothing left to check once a value is built), and only there.
#[test]
fn a_document_ends_where_its_outermost_object_closes() {
    let err = |t: &[u8]| from_slice::<Pair>(t).err().map(|e| e.0);
    for bad in [
        &br#"{"name":"a"},"#[..],
        br#"{"name":"a"}{}"#,
        br#"{"name":"a","other":{"x":[1]}} 1"#,
        br#"{"name":"a"}]"#,
        b"{\"name\":\"a\"}\n\tx",
    ] {
        let e = err(bad).unwrap();
        assert!(e.starts_with("expected the end at byte "), "{e}");
    }
    for good in [
        &br#"{"name":"a"}"#[..],
        b" {\"name\":\"a\"} \r\n\t",
        br#"{"other":[{"a":[]},[[{}]]],"name":"a","tags":[]}"#,
    ] {
        assert_eq!(err(good), None, "{}", String::from_utf8_lossy(good));
    }
    // The position is the first byte after the white space, as serde_json reports it.
    assert_eq!(
        err(br#"{"name":"a"}  x"#).unwrap(),
        "expected the end at byte 14"
    );
    // A bare array is a document too.
    let mut r = Reader::new(b"[1] 2").unwrap();
    assert!(r.skip().unwrap_err().0.starts_with("expected the end"));
    // The document's text ends at its last byte, not after the white space that follows
    // (found by the `json` fuzz target).
    let mut r = Reader::new(b"\n[\n[[\n0\n]]]\n\n").unwrap();
    assert_eq!(r.raw().unwrap(), "[\n[[\n0\n]]]");
    r.finish().unwrap();
}

#[test]
fn objects_are_written_as_serde_json_writes_them() {
    let p = Pair {
        name: "a\n\"b\"".into(),
        count: Some(-5),
        tags: vec!["t".into(), "é".into()],
    };
    let ours = to_string(&p);
    let theirs = serde_json::json!({"name": "a\n\"b\"", "count": -5, "tags": ["t", "é"]});
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&ours).unwrap(),
        theirs
    );
    assert_eq!(ours, r#"{"name":"a\n\"b\"","count":-5,"tags":["t","é"]}"#);
    let none = Pair {
        name: String::new(),
        count: None,
        tags: vec![],
    };
    assert_eq!(to_string(&none), r#"{"name":"","count":null,"tags":[]}"#);
}

#[test]
fn raw_values_are_their_exact_text() {
    let mut r = Reader::new(br#" [ {"a" : [1, 2]} , "s\"" ,-1.5e3,null ] "#).unwrap();
    let raws = r.list(Reader::raw).unwrap();
    r.finish().unwrap();
    assert_eq!(raws, [r#"{"a" : [1, 2]}"#, r#""s\"""#, "-1.5e3", "null"]);
}

#[test]
fn nesting_limit_is_serde_jsons() {
    for depth in [127, 128, 129] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(skips(&text), serde_accepts(&text), "{depth}");
    }
}
