//! Publication dates as they travel: RFC 3339 in UTC to the second,
//! `2024-04-28T10:26:40Z`, whatever form an engine gave them in.
//!
//! Engines report dates as Unix times, ISO 8601 with or without an offset,
//! or bare days; [`normalize`] turns each into the one form, and drops
//! anything else (a date that cannot be read is no date, not an error).
//! No calendar crate is needed for this: the proleptic Gregorian
//! conversions below are Howard Hinnant's `days_from_civil` and
//! `civil_from_days`.

/// Earliest year accepted (dates before it are typos or placeholders).
const MIN_YEAR: i64 = 1000;
/// Latest year accepted.
const MAX_YEAR: i64 = 9999;

/// The RFC 3339 form of a Unix time in seconds; `None` outside years
/// 1000–9999.
pub fn from_unix(secs: i64) -> Option<String> {
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    ))
}

/// A date in any of the forms engines use, in the one form: RFC 3339
/// (`2024-04-28T10:26:40Z`, `…+02:00`, with or without fractions of a
/// second), a local time without an offset (read as UTC, as SearXNG's
/// naive dates are), or a day (`2024-04-28`, midnight UTC).
pub fn normalize(text: &str) -> Option<String> {
    to_unix(text.trim()).and_then(from_unix)
}

/// The Unix time of a date [`normalize`] accepts.
pub fn to_unix(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(days * 86_400);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    // Fractions of a second are dropped.
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let o = &rest.as_bytes()[1..];
            if o.len() != 5 || o[2] != b':' {
                return None;
            }
            let digits = |s: &[u8]| -> Option<i64> {
                s.iter()
                    .all(u8::is_ascii_digit)
                    .then(|| i64::from(s[0] - b'0') * 10 + i64::from(s[1] - b'0'))
            };
            let (h, m) = (digits(&o[0..2])?, digits(&o[3..5])?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 3600 + m * 60)
        }
    };
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

/// An RFC 3339 date (as [`normalize`] gives) as RSS wants it, RFC 822 with
/// a four-digit year: `Sun, 28 Apr 2024 10:26:40 +0000`.
pub fn rfc822(text: &str) -> Option<String> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = to_unix(text)?;
    let days = secs.div_euclid(86_400);
    let second_of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{}, {day:02} {} {year:04} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        second_of_day / 3600,
        second_of_day % 3600 / 60,
        second_of_day % 60
    ))
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_become_rfc_3339() {
        assert_eq!(from_unix(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            from_unix(1_714_300_000).as_deref(),
            Some("2024-04-28T10:26:40Z")
        );
        // A leap day, and the day after.
        assert_eq!(
            from_unix(1_709_164_800).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert_eq!(
            from_unix(1_709_251_200).as_deref(),
            Some("2024-03-01T00:00:00Z")
        );
        assert_eq!(from_unix(-86_400).as_deref(), Some("1969-12-31T00:00:00Z"));
        assert_eq!(from_unix(i64::MAX / 2), None);
    }

    #[test]
    fn every_form_engines_use_is_read_and_nothing_else() {
        let cases = [
            ("2024-04-28T10:26:40Z", Some("2024-04-28T10:26:40Z")),
            ("2024-04-28T10:26:40", Some("2024-04-28T10:26:40Z")),
            ("2024-04-28 10:26:40", Some("2024-04-28T10:26:40Z")),
            (
                "2024-04-28T12:26:40.123+02:00",
                Some("2024-04-28T10:26:40Z"),
            ),
            ("2024-04-28T00:30:00-01:00", Some("2024-04-28T01:30:00Z")),
            ("2024-01-01T00:30:00+01:00", Some("2023-12-31T23:30:00Z")),
            ("2024-02-29", Some("2024-02-29T00:00:00Z")),
            ("2023-02-29", None),
            ("2024-13-01", None),
            ("2024-04-28T25:00:00Z", None),
            ("2024-04-28T10:26:40+0200", None),
            ("2024-04-28T10:26:40.Z", None),
            ("2024-04-28Tfoo", None),
            ("yesterday", None),
            ("", None),
            ("２０２４-04-28", None),
        ];
        for (given, expected) in cases {
            assert_eq!(normalize(given).as_deref(), expected, "{given}");
        }
        // Round trips over four centuries of days.
        for days in (-150_000..150_000).step_by(997) {
            let text = from_unix(days * 86_400 + 3_723).unwrap();
            assert_eq!(to_unix(&text), Some(days * 86_400 + 3_723), "{text}");
        }
    }

    #[test]
    fn rss_dates_name_the_weekday() {
        assert_eq!(
            rfc822("2024-04-28T10:26:40Z").as_deref(),
            Some("Sun, 28 Apr 2024 10:26:40 +0000")
        );
        assert_eq!(
            rfc822("1970-01-01T00:00:00Z").as_deref(),
            Some("Thu, 01 Jan 1970 00:00:00 +0000")
        );
        assert_eq!(rfc822("not a date"), None);
    }
}
