//! Server time for DPoP proofs. A proof's `iat` must be within the server's tolerance of the
//! server's clock (the official server: 10 s old at most, plus 180 s either way), so a device
//! whose clock is minutes off would fail every request. The client learns each server's offset
//! from two sources:
//! - the `Date` header, when the response lets the page read it (same origin, or listed in
//!   `Access-Control-Expose-Headers`; the official PDS does not list it);
//! - the refusal itself: a server that rejects a proof's `iat` says which way it is off ("too far
//!   in the past" / "should be in the past"), and [`ClockSearch`] moves the offset that way,
//!   doubling its step until the answer turns, then halving the gap, a request per step.

use crate::platform::HttpResponse;
use crate::util::{self, contains};

/// Which way a server found a proof's `iat` off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skew {
    /// Older than the server accepts: the server's clock is ahead of ours.
    TooOld,
    /// In the server's future: its clock is behind ours.
    InFuture,
}

/// The first step of the search, in seconds. Clocks off by a few minutes (the common case: a
/// device without network time, or a wrong time zone setting by minutes) take one or two steps.
const FIRST_STEP: i64 = 300;
/// At most this many corrections per request (once per server: the offset is kept). With the
/// official server's window this finds any offset up to about three and a half days; a wrong
/// time zone (whole hours, up to 26 h) takes at most 17 steps, minutes take 1 to 3. A clock
/// further off gets the server's error.
pub(crate) const MAX_STEPS: u32 = 20;
/// Offsets the search finds within [`MAX_STEPS`], with room to spare (in seconds: 3 days).
pub(crate) const REACH: u64 = 3 * 86_400;

/// A search for a server's clock offset, from the offsets tried and which way each was off.
#[derive(Debug)]
pub(crate) struct ClockSearch {
    /// The offset is above this (a proof with it was too old).
    above: Option<i64>,
    /// The offset is below this (a proof with it was in the future).
    below: Option<i64>,
    step: i64,
    steps: u32,
}

impl Default for ClockSearch {
    fn default() -> Self {
        ClockSearch {
            above: None,
            below: None,
            step: FIRST_STEP,
            steps: 0,
        }
    }
}

impl ClockSearch {
    /// The offset to try next after a proof made with `tried` was refused as `skew`, or `None`
    /// when the search gives up.
    pub fn next(&mut self, tried: i64, skew: Skew) -> Option<i64> {
        if self.steps >= MAX_STEPS {
            return None;
        }
        self.steps += 1;
        match skew {
            Skew::TooOld => self.above = Some(self.above.map_or(tried, |a| a.max(tried))),
            Skew::InFuture => self.below = Some(self.below.map_or(tried, |b| b.min(tried))),
        }
        let next = match (self.above, self.below) {
            (Some(a), Some(b)) if b.saturating_sub(a) > 1 => a + (b - a) / 2,
            // The server contradicts itself: nothing sensible to try.
            (Some(_), Some(_)) => return None,
            (Some(a), None) => a.saturating_add(self.gallop()),
            (None, Some(b)) => b.saturating_sub(self.gallop()),
            (None, None) => return None,
        };
        Some(next)
    }

    fn gallop(&mut self) -> i64 {
        let step = self.step;
        self.step = self.step.saturating_mul(2);
        step
    }
}

/// Whether `resp` refuses a DPoP proof for its `iat`, and which way. Authorization servers say
/// it in a JSON error (`error_description`), resource servers in `WWW-Authenticate` or in an
/// XRPC error body (`message`).
pub(crate) fn iat_refused(resp: &HttpResponse) -> Option<Skew> {
    if !matches!(resp.status, 400 | 401) {
        return None;
    }
    let body = resp.error_body();
    let challenge = resp
        .header("www-authenticate")
        .filter(|h| util::contains(h, "invalid_dpop_proof"));
    let body = body.filter(|b| b.error.as_deref() == Some("invalid_dpop_proof"));
    challenge.and_then(skew_in).or_else(|| {
        let body = body?;
        let said = body.error_description.as_deref();
        said.and_then(skew_in)
            .or_else(|| body.message.as_deref().and_then(skew_in))
    })
}

/// Reads the direction out of a refusal's text. The wording is jose's (which the official
/// server uses): `"iat" claim timestamp check failed (too far in the past)` or `(it should be in
/// the past)`.
fn skew_in(text: &str) -> Option<Skew> {
    if !contains(text, "iat") {
        return None;
    }
    if contains(text, "too far in the past") || contains(text, "too old") {
        Some(Skew::TooOld)
    } else if contains(text, "should be in the past") || contains(text, "in the future") {
        Some(Skew::InFuture)
    } else {
        None
    }
}

/// The server's clock offset (server minus device, seconds) from its `Date` header, when the
/// page can read one. `sent` is the device time when the request went out: the header's own
/// one-second resolution and the round trip make this good to a second or two, far inside any
/// server's tolerance.
pub(crate) fn date_offset(resp: &HttpResponse, sent: i64) -> Option<i64> {
    imf_fixdate(resp.header("date")?)?.checked_sub(sent)
}

/// Seconds since the Unix epoch of an IMF-fixdate (RFC 9110 section 5.6.7), the one format a
/// server may send: `Sun, 06 Nov 1994 08:49:37 GMT`. The two obsolete formats recipients
/// "should" accept are not: a date this client cannot read only leaves the offset to the other
/// source. Hand-written because the `httpdate` crate cost 3,385 B gzip in the .wasm; the tests
/// check it against `httpdate`.
fn imf_fixdate(date: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = date.as_bytes();
    let shape = b.len() == 29
        && &b[3..5] == b", "
        && b[7] == b' '
        && b[11] == b' '
        && b[16] == b' '
        && b[19] == b':'
        && b[22] == b':'
        && &b[25..] == b" GMT";
    if !shape {
        return None;
    }
    let number = |from: usize, to: usize| {
        b[from..to].iter().try_fold(0i64, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let day = number(5, 7)?;
    let month = MONTHS.iter().position(|m| m.as_bytes() == &b[8..11])? as i64 + 1;
    let year = number(12, 16)?;
    let (hour, minute, second) = (number(17, 19)?, number(20, 22)?, number(23, 25)?);
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    // Days from 1970-01-01 to the civil date (H. Hinnant's algorithm, years from March).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{json, text, with_header};

    /// The official server's rule: `iat` at most 10 s old, with 180 s tolerance either way.
    fn server(offset: i64, tried: i64) -> Option<Skew> {
        let age = offset - tried;
        if age - 180 > 10 {
            Some(Skew::TooOld)
        } else if age < -180 {
            Some(Skew::InFuture)
        } else {
            None
        }
    }

    fn steps_to_converge(offset: i64) -> Option<u32> {
        let mut search = ClockSearch::default();
        let mut tried = 0;
        for n in 0..=MAX_STEPS {
            match server(offset, tried) {
                None => return Some(n),
                Some(skew) => tried = search.next(tried, skew)?,
            }
        }
        None
    }

    #[test]
    fn search_converges_in_few_steps_either_way() {
        for (offset, most) in [
            (0, 0),
            (150, 0),
            (-175, 0),
            (300, 1),
            (-300, 1),
            (600, 3),
            (-600, 3),
            (3600, 7),
            (-3600, 7),
            (9 * 3600, 13),
            (-9 * 3600, 13),
            (26 * 3600, 17),
            (-26 * 3600, 17),
            (84 * 3600, 20),
        ] {
            let steps = steps_to_converge(offset).unwrap_or_else(|| panic!("{offset} s"));
            assert!(steps <= most, "{offset} s took {steps} steps");
        }
        // `REACH`, the most an offset shared with other servers may be, is found either way.
        for offset in [REACH as i64, -(REACH as i64)] {
            assert!(steps_to_converge(offset).is_some(), "{offset} s");
        }
        // Beyond what it covers, it gives up instead of looping.
        assert_eq!(steps_to_converge(30 * 24 * 3600), None);
        assert_eq!(steps_to_converge(i64::MAX), None);
    }

    #[test]
    fn search_stops_on_contradictions() {
        let mut search = ClockSearch::default();
        assert_eq!(search.next(0, Skew::TooOld), Some(300));
        assert_eq!(search.next(300, Skew::InFuture), Some(150));
        assert_eq!(search.next(150, Skew::TooOld), Some(225));
        // "Too old" at 225 and "in the future" at 150 cannot both be true.
        let mut search = ClockSearch::default();
        search.next(225, Skew::TooOld);
        assert_eq!(search.next(150, Skew::InFuture), None);
    }

    #[test]
    fn refusals_name_their_direction() {
        let old = "Failed to verify DPoP proof: \"iat\" claim timestamp check failed (too far in the past)";
        let future = "Failed to verify DPoP proof: \"iat\" claim timestamp check failed (it should be in the past)";
        let oauth = |d: &str| {
            json(
                400,
                &format!(r#"{{"error":"invalid_dpop_proof","error_description":{d:?}}}"#),
            )
        };
        assert_eq!(iat_refused(&oauth(old)), Some(Skew::TooOld));
        assert_eq!(iat_refused(&oauth(future)), Some(Skew::InFuture));
        // The PDS's XRPC answer: the text in `message`.
        let xrpc = json(
            401,
            &format!(r#"{{"error":"invalid_dpop_proof","message":{future:?}}}"#),
        );
        assert_eq!(iat_refused(&xrpc), Some(Skew::InFuture));
        // An RFC 9449 challenge.
        let challenge = with_header(
            text(401, ""),
            "WWW-Authenticate",
            &format!(
                r#"DPoP error="invalid_dpop_proof", error_description="{}""#,
                "iat too old"
            ),
        );
        assert_eq!(iat_refused(&challenge), Some(Skew::TooOld));
        // Anything else is not a clock problem.
        for resp in [
            oauth("DPoP \"htu\" mismatch"),
            json(
                400,
                r#"{"error":"invalid_grant","error_description":"iat too old"}"#,
            ),
            json(
                500,
                &format!(r#"{{"error":"invalid_dpop_proof","error_description":{old:?}}}"#),
            ),
            text(400, "garbage"),
        ] {
            assert_eq!(iat_refused(&resp), None);
        }
    }

    #[test]
    fn imf_fixdates_read_as_httpdate_reads_them() {
        use std::time::{Duration, UNIX_EPOCH};
        // Every few days over two and a half centuries, at varying times of day.
        let mut t: u64 = 0;
        while t < 8_000_000_000 {
            let text = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(t));
            assert_eq!(imf_fixdate(&text), Some(t as i64), "{text}");
            t += 86_400 * 3 + 3_607;
        }
        // The edges of a leap year.
        for text in [
            "Thu, 29 Feb 2024 23:59:59 GMT",
            "Fri, 01 Mar 2024 00:00:00 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            let expected = httpdate::parse_http_date(text).unwrap();
            let expected = expected.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
            assert_eq!(imf_fixdate(text), Some(expected), "{text}");
        }
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nox 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:49:37 GMT",
            "Sun, 0x Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMTé",
            "Sun, 06 Nov 1994 08:4é:37 GMT",
        ] {
            assert_eq!(imf_fixdate(bad), None, "{bad}");
        }
    }

    #[test]
    fn offsets_from_date_headers() {
        let at = |date: &str| with_header(json(200, "{}"), "Date", date);
        // 1994-11-06T08:49:37Z = 784111777.
        assert_eq!(
            date_offset(&at("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777 - 600),
            Some(600)
        );
        assert_eq!(
            date_offset(&at("Sun, 06 Nov 1994 08:49:37 GMT"), 784_111_777),
            Some(0)
        );
        for bad in ["yesterday", "", "Sun, 06 Nov 1994 08:49:37"] {
            assert_eq!(date_offset(&at(bad), 0), None, "{bad}");
        }
        assert_eq!(date_offset(&json(200, "{}"), 0), None);
    }
}
