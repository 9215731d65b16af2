//! Reading a value as the clause's type (spec 3): numbers and sizes, booleans, datetimes
//! (absolute and relative to "now") and experiment states.

use std::sync::LazyLock;

use chrono::{DateTime, Duration, FixedOffset, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use regex::Regex;

use crate::hir::Number;

/// Reads a number: decimal or exponent form, `inf`/`-inf`/`nan` in any case, or a size with a
/// unit (`50MB`, `"800 kb"`, `1GiB`). Integers (sizes included) stay exact when they fit i64.
pub fn read_number(text: &str) -> Option<Number> {
    static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?\s*([A-Za-z]+)?$")
            .expect("valid regex")
    });
    let text = text.trim();
    // Fast path for the common case, a plain integer of at most 18 digits.
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let v: i64 = digits.parse().ok()?;
        return Some(Number::Int(if text.starts_with('-') { -v } else { v }));
    }
    // One sign at most: `+-inf` is not a number (the pattern below refuses `--1` likewise).
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    match unsigned.to_ascii_lowercase().as_str() {
        "inf" | "infinity" if text.starts_with('-') => return Some(Number::Float(f64::NEG_INFINITY)),
        "inf" | "infinity" => return Some(Number::Float(f64::INFINITY)),
        "nan" => return Some(Number::Float(f64::NAN)),
        _ => {}
    }
    let caps = NUMBER.captures(text)?;
    let int_digits = caps.get(2).map_or("", |m| m.as_str());
    let frac_digits = caps.get(3).map_or("", |m| m.as_str());
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let negative = &caps[1] == "-";
    let exp10: i64 = match caps.get(4) {
        Some(e) => e.as_str().parse().ok()?,
        None => 0,
    };
    let (unit_pow10, unit_pow1024) = match caps.get(5) {
        None => (0, 0),
        Some(u) => size_unit(u.as_str())?,
    };
    // The float value, correctly rounded from the decimal (scaling by 1024 is exact).
    // Saturating: `1e9223372036854775807kB` is infinite, not an overflow.
    let exp10 = exp10.saturating_add(unit_pow10 as i64);
    let decimal = format!("{}{int_digits}.{frac_digits}0e{exp10}", &caps[1]);
    let float = decimal.parse::<f64>().ok()? * 1024f64.powi(unit_pow1024);

    // Exact integer arithmetic when the value is an integer.
    let exact = exact_integer(int_digits, frac_digits, exp10, unit_pow1024)
        .map(|v| if negative { -v } else { v })
        .and_then(|v| i64::try_from(v).ok());
    Some(match exact {
        Some(i) => Number::Int(i),
        None => Number::Float(float),
    })
}

/// Why `text` is not a number, when more can be said than "write a number such as ...".
pub fn number_problem(text: &str) -> Option<String> {
    let text = text.trim();
    let rest = text.trim_start_matches(|c: char| c == '+' || c == '-' || c.is_whitespace());
    let signs = text[..text.len() - rest.len()]
        .chars()
        .filter(|c| matches!(c, '+' | '-'))
        .count();
    if signs > 1 && read_number(rest).is_some() {
        return Some(format!(
            "a number takes one sign at most: write -{rest} or {rest}"
        ));
    }
    None
}

/// (power of 1000 as a power of 10, power of 1024) for a size unit, in any case.
fn size_unit(unit: &str) -> Option<(i32, i32)> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "b" => (0, 0),
        "kb" => (3, 0),
        "mb" => (6, 0),
        "gb" => (9, 0),
        "tb" => (12, 0),
        "pb" => (15, 0),
        "kib" => (0, 1),
        "mib" => (0, 2),
        "gib" => (0, 3),
        "tib" => (0, 4),
        "pib" => (0, 5),
        _ => return None,
    })
}

/// `digits.frac × 10^exp10 × 1024^pow1024` when it is an integer that fits i128.
fn exact_integer(int_digits: &str, frac_digits: &str, exp10: i64, pow1024: i32) -> Option<i128> {
    let digits = format!("{int_digits}{frac_digits}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 36 {
        return None;
    }
    if digits.is_empty() {
        // Zero, whatever the exponent (`0e-999999999999999999` must not loop).
        return Some(0);
    }
    let mut value: i128 = digits.parse().ok()?;
    for _ in 0..pow1024 {
        value = value.checked_mul(1024)?;
    }
    let mut exp = exp10.saturating_sub(frac_digits.len() as i64);
    while exp < 0 {
        if value % 10 != 0 {
            return None;
        }
        value /= 10;
        exp += 1;
    }
    if exp > 38 && value != 0 {
        return None;
    }
    for _ in 0..exp {
        value = value.checked_mul(10)?;
    }
    Some(value)
}

/// Reads `true` or `false` in any case.
pub fn read_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Reads an instant: RFC 3339 / ISO 8601 with optional fractional seconds and an offset `Z`,
/// `+09`, `+09:00` or `+0900` (none means UTC), a date alone (midnight UTC, with no offset:
/// `2024-01-01+09` and `2024-01-01Z` are refused), or a relative value
/// `-30s -15m -2h -5d -2w -1M -1y` counted back from `now` (months and years on the calendar).
pub fn read_datetime(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    static ABSOLUTE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?\s*(?:([Zz])|([+-])([0-9]{2})(?::?([0-9]{2}))?)?)?$",
        )
        .expect("valid regex")
    });
    static RELATIVE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^-\s*([0-9]{1,9})\s*([smhdwMyYSHDW])$").expect("valid regex"));
    let text = text.trim();
    if let Some(c) = RELATIVE.captures(text) {
        let n: i64 = c[1].parse().ok()?;
        return match &c[2] {
            "s" | "S" => now.checked_sub_signed(Duration::try_seconds(n)?),
            "m" => now.checked_sub_signed(Duration::try_minutes(n)?),
            "h" | "H" => now.checked_sub_signed(Duration::try_hours(n)?),
            "d" | "D" => now.checked_sub_signed(Duration::try_days(n)?),
            "w" | "W" => now.checked_sub_signed(Duration::try_weeks(n)?),
            "M" => now.checked_sub_months(Months::new(u32::try_from(n).ok()?)),
            _ => now.checked_sub_months(Months::new(u32::try_from(n.checked_mul(12)?).ok()?)),
        };
    }
    let c = ABSOLUTE.captures(text)?;
    let num = |i: usize| {
        c.get(i)
            .map(|m| m.as_str().parse::<u32>().ok())
            .unwrap_or(Some(0))
    };
    let date = NaiveDate::from_ymd_opt(c[1].parse().ok()?, num(2)?, num(3)?)?;
    let nanos = match c.get(7) {
        Some(f) => format!("{:0<9}", f.as_str()).parse().ok()?,
        None => 0,
    };
    let time = NaiveTime::from_hms_nano_opt(num(4)?, num(5)?, num(6)?, nanos)?;
    let offset_seconds = match (c.get(9), c.get(10)) {
        (Some(sign), Some(h)) => {
            let h: i32 = h.as_str().parse().ok()?;
            let m: i32 = c.get(11).map_or(Some(0), |m| m.as_str().parse().ok())?;
            if h > 23 || m > 59 {
                return None;
            }
            let s = h * 3600 + m * 60;
            if sign.as_str() == "-" { -s } else { s }
        }
        _ => 0,
    };
    let offset = FixedOffset::east_opt(offset_seconds)?;
    let local = offset.from_local_datetime(&date.and_time(time)).single()?;
    Some(local.with_timezone(&Utc))
}

/// Why `text` is not a datetime, when more can be said than "write an instant such as ...".
pub fn datetime_problem(text: &str) -> Option<String> {
    static DATE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([0-9]{4})([-/.])([0-9]{1,2})[-/.]([0-9]{1,2})(?:[Tt ]([0-9]{1,2}):([0-9]{1,2})(?::([0-9]{1,2}))?)?")
            .expect("valid regex")
    });
    static OFFSET: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[Tt ].*[+-]([0-9]{2}):?([0-9]{2})?$").expect("valid regex"));
    static RELATIVE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^([+-]?)\s*[0-9]+\s*([A-Za-z]*)$").expect("valid regex"));
    // What follows a date without a time when it is an offset: `Z`, `+09`, `-05:00`, `+0900`.
    static DATE_OFFSET: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*(?:[Zz]|([+-])([0-9]{2})(?::?([0-9]{2}))?)$").expect("valid regex")
    });
    let text = text.trim();
    if let Some(c) = DATE.captures(text) {
        if &c[2] != "-" {
            return Some("write dates year first with dashes, as in 2024-01-01".into());
        }
        let (y, m, d) = (c[1].parse().ok()?, c[3].parse::<u32>().ok()?, c[4].parse().ok()?);
        if !(1..=12).contains(&m) {
            return Some(format!("there is no month {m}: months go from 01 to 12"));
        }
        if NaiveDate::from_ymd_opt(y, m, d).is_none() {
            return Some(format!("{y}-{m:02} has no day {d}"));
        }
        let part = |i: usize| c.get(i).and_then(|p| p.as_str().parse::<u32>().ok());
        if part(5).is_some_and(|h| h > 23)
            || part(6).is_some_and(|m| m > 59)
            || part(7).is_some_and(|s| s > 59)
        {
            return Some("the time of day goes from 00:00:00 to 23:59:59".into());
        }
        if let Some(o) = OFFSET.captures(text)
            && (o[1].parse::<u32>().ok()? > 23 || o.get(2).is_some_and(|m| m.as_str() > "59"))
        {
            return Some("offsets go from -23:59 to +23:59, as in +09:00".into());
        }
        if c.get(5).is_none()
            && let Some(o) = DATE_OFFSET.captures(&text[c.get(0)?.end()..])
        {
            // A date alone is midnight UTC (spec 3); an offset needs a time of day.
            let date = format!("{}-{m:02}-{d:02}", &c[1]);
            let help = "a date alone means midnight UTC and takes no offset";
            let offset = match (o.get(1), o.get(2), o.get(3)) {
                (Some(sign), Some(h), m) => {
                    let m = m.map_or("00", |m| m.as_str());
                    if h.as_str() <= "23" && m <= "59" {
                        format!("{}{}:{m}", sign.as_str(), h.as_str())
                    } else {
                        "+09:00".to_string()
                    }
                }
                _ => {
                    return Some(format!(
                        "{help}: write {date}, or a full instant such as {date}T00:00:00Z"
                    ));
                }
            };
            return Some(format!(
                "{help}: write a full instant such as {date}T00:00:00{offset}"
            ));
        }
        return None;
    }
    if let Some(c) = RELATIVE.captures(text) {
        if &c[1] != "-" {
            if c[2].is_empty() {
                return None;
            }
            return Some(format!(
                "relative times count back from now and start with a minus, as in -{}",
                text.trim_start_matches('+')
            ));
        }
        return Some("relative times end in a unit: s, m (minutes), h, d, w, M (months) or y".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Option<Number> {
        read_number(text)
    }

    #[test]
    fn numbers() {
        assert_eq!(n("64"), Some(Number::Int(64)));
        assert_eq!(n("64.0"), Some(Number::Int(64)));
        assert_eq!(n("-3"), Some(Number::Int(-3)));
        assert_eq!(n("+3"), Some(Number::Int(3)));
        assert_eq!(n("2.5"), Some(Number::Float(2.5)));
        assert_eq!(n(".5"), Some(Number::Float(0.5)));
        assert_eq!(n("1e9"), Some(Number::Int(1_000_000_000)));
        assert_eq!(n("1e-3"), Some(Number::Float(0.001)));
        assert_eq!(n("-1e308"), Some(Number::Float(-1e308)));
        assert_eq!(n("1e400"), Some(Number::Float(f64::INFINITY)));
        assert_eq!(n("Inf"), Some(Number::Float(f64::INFINITY)));
        assert_eq!(n("-INF"), Some(Number::Float(f64::NEG_INFINITY)));
        assert!(matches!(n("NaN"), Some(Number::Float(x)) if x.is_nan()));
        assert_eq!(n("9223372036854775807"), Some(Number::Int(i64::MAX)));
        assert_eq!(
            n("9223372036854775808"),
            Some(Number::Float(9.223_372_036_854_776e18))
        );
        for bad in [
            "",
            "abc",
            "1.2.3",
            "e5",
            ".",
            "-",
            "1 e5",
            "0x10",
            "5 parsecs",
            "1_000",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn two_signs_are_not_a_number() {
        for bad in [
            "+-inf",
            "-+inf",
            "++inf",
            "--inf",
            "+-Infinity",
            "+-nan",
            "-+NaN",
            "++nan",
            "-+1",
            "--1",
            "++1",
            "+-1",
            "+-1e3",
            "--0.5",
            "+-.5",
            "--5MB",
            "+ -5 MB",
            "- -1",
        ] {
            assert_eq!(n(bad), None, "{bad:?}");
            assert_eq!(
                number_problem(bad)
                    .as_deref()
                    .map(|h| h.starts_with("a number takes one sign at most")),
                Some(true),
                "{bad:?}"
            );
        }
        for good in [
            "+inf", "-inf", "+nan", "-nan", "+1", "-1", "-1e3", "+.5", "abc", "+-abc", "--",
        ] {
            assert_eq!(number_problem(good), None, "{good:?}");
        }
        assert_eq!(
            number_problem("+-inf").as_deref(),
            Some("a number takes one sign at most: write -inf or inf")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(n("50MB"), Some(Number::Int(50_000_000)));
        assert_eq!(n("800 kb"), Some(Number::Int(800_000)));
        assert_eq!(n("800KB"), Some(Number::Int(800_000)));
        assert_eq!(n("800kB"), Some(Number::Int(800_000)));
        assert_eq!(n("1.5 GB"), Some(Number::Int(1_500_000_000)));
        assert_eq!(n("1GiB"), Some(Number::Int(1 << 30)));
        assert_eq!(n("2TiB"), Some(Number::Int(2 << 40)));
        assert_eq!(n("2000b"), Some(Number::Int(2000)));
        assert_eq!(n("1PB"), Some(Number::Int(1_000_000_000_000_000)));
        assert_eq!(n("0.5KiB"), Some(Number::Int(512)));
        assert_eq!(n("0.0001kB"), Some(Number::Float(0.1)));
    }

    #[test]
    fn bools() {
        assert_eq!(read_bool("True"), Some(true));
        assert_eq!(read_bool("FALSE"), Some(false));
        assert_eq!(read_bool("yes"), None);
        assert_eq!(read_bool("1"), None);
    }

    fn dt(text: &str) -> Option<String> {
        let now = Utc.with_ymd_and_hms(2025, 1, 31, 12, 0, 0).unwrap();
        read_datetime(text, now).map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }

    #[test]
    fn absolute_datetimes() {
        assert_eq!(dt("2024-01-01T00:00:00Z").unwrap(), "2024-01-01T00:00:00Z");
        assert_eq!(dt("2024-01-01").unwrap(), "2024-01-01T00:00:00Z");
        assert_eq!(dt("2024-02-06T05:00:00+09").unwrap(), "2024-02-05T20:00:00Z");
        assert_eq!(dt("2024-02-06T05:00:00+09:00").unwrap(), "2024-02-05T20:00:00Z");
        assert_eq!(dt("2024-02-06T05:00:00+0900").unwrap(), "2024-02-05T20:00:00Z");
        assert_eq!(dt("2023-12-31T19:00:00-05:00").unwrap(), "2024-01-01T00:00:00Z");
        assert_eq!(dt("2024-01-01T00:00:00").unwrap(), "2024-01-01T00:00:00Z");
        assert_eq!(
            dt("2024-01-01T00:00:00.000001Z").unwrap(),
            "2024-01-01T00:00:00.000001Z"
        );
        assert_eq!(
            dt("2024-03-05T19:20:30.123456789+09:00").unwrap(),
            "2024-03-05T10:20:30.123456789Z"
        );
        for bad in [
            "2024-13-01",
            "2024/01/01",
            "2024-02-30",
            "2024-01-01T25:00:00Z",
            "yesterday",
            "-3x",
            "",
        ] {
            assert_eq!(dt(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_date_alone_takes_no_offset() {
        for bad in [
            "2024-01-01+09",
            "2024-01-01-05:00",
            "2024-01-01+0900",
            "2024-01-01 +09:00",
            "2024-01-01Z",
            "2024-01-01z",
            "2024-01-01 Z",
        ] {
            assert_eq!(dt(bad), None, "{bad:?}");
            assert!(
                datetime_problem(bad).is_some_and(|h| h.starts_with("a date alone means midnight UTC")),
                "{bad:?}: {:?}",
                datetime_problem(bad)
            );
        }
        // With a time of day, offsets and `Z` are fine.
        assert_eq!(dt("2024-01-01T00:00+09").unwrap(), "2023-12-31T15:00:00Z");
        assert_eq!(dt("2024-01-01 00:00:00 -05:00").unwrap(), "2024-01-01T05:00:00Z");
        assert_eq!(dt("2024-01-01T00:00:00z").unwrap(), "2024-01-01T00:00:00Z");
    }

    #[test]
    fn relative_datetimes() {
        assert_eq!(dt("-30s").unwrap(), "2025-01-31T11:59:30Z");
        assert_eq!(dt("-15m").unwrap(), "2025-01-31T11:45:00Z");
        assert_eq!(dt("-2h").unwrap(), "2025-01-31T10:00:00Z");
        assert_eq!(dt("-5d").unwrap(), "2025-01-26T12:00:00Z");
        assert_eq!(dt("-2w").unwrap(), "2025-01-17T12:00:00Z");
        // Calendar months clamp to the end of a shorter month.
        assert_eq!(dt("-1M").unwrap(), "2024-12-31T12:00:00Z");
        assert_eq!(dt("-2M").unwrap(), "2024-11-30T12:00:00Z");
        assert_eq!(dt("-1y").unwrap(), "2024-01-31T12:00:00Z");
    }
}
