//! The backfill window: parsing `--from/--to`, normalising, limits.
//! Instants are milliseconds since the Unix epoch, always UTC.

use crate::error::{CoreError, CoreResult};
use crate::options::Limits;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

pub type Millis = i64;

pub const HOUR_MS: i64 = 3_600_000;

/// Half-open `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Millis,
    pub to: Millis,
}

impl Window {
    pub fn hours(&self) -> f64 {
        (self.to - self.from) as f64 / HOUR_MS as f64
    }
}

/// Accepts `2025-01-01` (00:00 UTC), RFC 3339 with `Z` or an offset, and
/// `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]` without an offset (read as UTC).
pub fn parse_instant(input: &str, flag: &str) -> CoreResult<Millis> {
    let s = input.trim();
    let bad = || {
        CoreError::usage(
            "invalid_window",
            format!(
                "{flag} '{input}' is not a date or timestamp (use 2025-01-01, 2025-01-01T06:00:00Z or 2025-01-01T06:00:00+02:00)"
            ),
        )
    };
    if s.is_empty() {
        return Err(bad());
    }
    if let Some(ms) = parse_plain(s) {
        return Ok(ms);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if s.len() == 10 {
            return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).timestamp_millis());
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp_millis());
    }
    // RFC 3339 without seconds, with an offset: 2025-01-01T06:00Z / +02:00.
    for fmt in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M%#z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        let candidate = if s.ends_with('Z') || s.ends_with('z') {
            format!("{}+00:00", &s[..s.len() - 1])
        } else {
            s.to_string()
        };
        if let Ok(dt) = DateTime::parse_from_str(&candidate, fmt) {
            return Ok(dt.timestamp_millis());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(Utc.from_utc_datetime(&n).timestamp_millis());
        }
    }
    Err(bad())
}

/// The forms plans and flags nearly always hold — `2025-01-01`, `2025-01-01T06:00:00Z`,
/// `2025-01-01T06:00:00.000Z` (what `format_instant` writes) — read without chrono, for
/// years 1970–9999 with every field in range; anything else → None, and chrono reads it.
/// Why: every command that opens a run or checks a plan reads its bounds, and V8 compiles a
/// WebAssembly function on its first call; skipping chrono's parser took a fifth off that
/// compiling on the first `checkPlanInput` (19.7M → 16.1M instructions, callgrind). Exactly
/// chrono's result where it answers (test `plain_forms_agree_with_chrono`).
fn parse_plain(s: &str) -> Option<Millis> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    if !matches!(b.len(), 10 | 20 | 24) || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 || day > month_days[month as usize - 1] {
        return None;
    }
    let (mut h, mut m, mut sec, mut milli) = (0, 0, 0, 0);
    if b.len() > 10 {
        if b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[b.len() - 1] != b'Z' {
            return None;
        }
        (h, m, sec) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if b.len() == 24 {
            if b[19] != b'.' {
                return None;
            }
            milli = num(20, 23)?;
        }
        // Second 60 (a leap second) is chrono's to read.
        if h > 23 || m > 59 || sec > 59 {
            return None;
        }
    }
    Some(days_from_civil(year, month, day) * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000 + milli)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm; the
/// inverse of the one in `push_instant`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS.sssZ`, as JavaScript's `toISOString()`.
pub fn format_instant(ms: Millis) -> String {
    let mut s = String::with_capacity(24);
    push_instant(&mut s, ms, 'T');
    s.push('Z');
    s
}

/// What ClickHouse needs to compare against any Date/DateTime/DateTime64 column.
/// Whole seconds too: against a `DateTime64` column in the sorting key, ClickHouse 26.7
/// skips rows when the bound is a `DateTime` (`at < toDateTime('2025-01-02 00:00:00', 'UTC')`
/// misses `23:59:59.999`), so only `BoundType::DateTime` writes one, for `DateTime` columns.
pub fn sql_literal(ms: Millis) -> String {
    bound_literal(BoundType::DateTime64, ms)
}

/// The type a window's bounds are written in against one time column. A `DateTime64` bound
/// compares with every Date/DateTime/DateTime64 column, and makes the engine convert each
/// `DateTime` row to compare it (about a tenth of an `mv_replay` chunk's statement, measured);
/// a `DateTime` bound against a `DateTime` column compares the stored seconds as they are.
/// Recorded in the plan (absent: `DateTime64`, as every plan before it was written), so a
/// run renders the statements and counts exactly as the plan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BoundType {
    #[default]
    DateTime64,
    /// Only for a column whose every table the plan reads it on is a `DateTime`.
    DateTime,
}

impl BoundType {
    /// For a column of type `ty` (None: unknown, so the bound that fits any time column).
    pub fn for_column(ty: Option<&str>) -> BoundType {
        match ty.map(crate::time_column::base_type) {
            Some("DateTime") => BoundType::DateTime,
            _ => BoundType::DateTime64,
        }
    }
    /// `DateTime` only if it holds for every one of the columns.
    pub fn for_columns<'a>(types: impl IntoIterator<Item = Option<&'a str>>) -> BoundType {
        let all = types.into_iter().all(|t| BoundType::for_column(t) == BoundType::DateTime);
        if all { BoundType::DateTime } else { BoundType::DateTime64 }
    }
    pub fn is_default(&self) -> bool {
        *self == BoundType::DateTime64
    }
}

/// The largest second a `DateTime` holds (2106-02-07 06:28:15 UTC).
const DATETIME_MAX_S: i64 = u32::MAX as i64;

/// A bound of a half-open window, written for a column compared with it. A `DateTime` column
/// holds whole seconds, so `t >= b` and `t < b` select the same rows as with `b` rounded up to
/// a second; a bound past the type's last second stays a `DateTime64` (it would wrap).
pub fn bound_literal(bounds: BoundType, ms: Millis) -> String {
    let mut s = String::with_capacity(48);
    push_bound_literal(&mut s, bounds, ms);
    s
}

/// `bound_literal` appended to `s` (every chunk of a plan writes two).
pub fn push_bound_literal(s: &mut String, bounds: BoundType, ms: Millis) {
    let secs = ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0);
    match bounds {
        BoundType::DateTime if secs <= DATETIME_MAX_S => {
            s.push_str("toDateTime('");
            push_instant(s, secs * 1000, ' ');
            s.truncate(s.len() - 4); // the ".000"
            s.push_str("', 'UTC')");
        }
        _ => {
            s.push_str("toDateTime64('");
            push_instant(s, ms, ' ');
            s.push_str("', 3, 'UTC')");
        }
    }
}

/// `YYYY-MM-DD<sep>HH:MM:SS.sss` for 1970..9999 (checked by `check_window`).
/// Hand-rolled: chrono's formatter dominated planning time for large plans in WASM.
fn push_instant(s: &mut String, ms: Millis, sep: char) {
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Days to civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // The year as it is (1970..9999 in a plan, checked by `check_window`), zero-padded to four.
    let mut y = [b'0'; 20];
    let (mut v, mut i) = (year.unsigned_abs(), y.len());
    while v > 0 || i > y.len() - 4 {
        i -= 1;
        y[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    s.push_str(std::str::from_utf8(&y[i..]).expect("ASCII digits"));
    // The rest in one buffer: this runs four times for every chunk of a plan.
    let mut b = *b"-MM-DD HH:MM:SS.sss";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for k in (at..at + width).rev() {
            b[k] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(1, 2, month);
    put(4, 2, day);
    put(7, 2, ms_of_day / 3_600_000);
    put(10, 2, ms_of_day / 60_000 % 60);
    put(13, 2, ms_of_day / 1000 % 60);
    put(16, 3, ms_of_day % 1000);
    let text = std::str::from_utf8(&b).expect("ASCII digits");
    s.push_str(&text[..6]);
    s.push(sep);
    s.push_str(&text[7..]);
}

/// Parse and check a window against the limits.
pub fn parse_window(from: &str, to: &str, limits: &Limits, force_large: bool) -> CoreResult<Window> {
    let w = Window { from: parse_instant(from, "--from")?, to: parse_instant(to, "--to")? };
    check_window(w, limits, force_large)?;
    Ok(w)
}

pub fn check_window(w: Window, limits: &Limits, force_large: bool) -> CoreResult<()> {
    // Year 1970..9999 keeps every instant printable and inside DateTime64's range.
    const MAX_MS: i64 = 253_402_300_799_999;
    for (ms, flag) in [(w.from, "--from"), (w.to, "--to")] {
        if !(0..=MAX_MS).contains(&ms) {
            return Err(CoreError::usage(
                "invalid_window",
                format!("{flag} must lie between 1970-01-01 and 9999-12-31"),
            ));
        }
    }
    if w.to <= w.from {
        return Err(CoreError::usage(
            "invalid_window",
            format!("--to ({}) must be after --from ({})", format_instant(w.to), format_instant(w.from)),
        ));
    }
    if w.hours() > limits.max_window_hours && !force_large {
        return Err(CoreError::usage(
            "window_too_large",
            format!(
                "window is {} hours, over limits.maxWindowHours = {}; pass --force-large-window to plan it anyway",
                w.hours(),
                limits.max_window_hours
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::SecondsFormat;

    fn p(s: &str) -> String {
        format_instant(parse_instant(s, "--from").unwrap())
    }

    #[test]
    fn accepted_forms() {
        let table = [
            ("2025-01-01", "2025-01-01T00:00:00.000Z"),
            ("2025-01-01T06:00:00Z", "2025-01-01T06:00:00.000Z"),
            ("2025-01-01T06:00:00.5Z", "2025-01-01T06:00:00.500Z"),
            ("2025-01-01T06:00:00+02:00", "2025-01-01T04:00:00.000Z"),
            ("2025-01-01T06:00:00-05:30", "2025-01-01T11:30:00.000Z"),
            ("2025-01-01T06:00Z", "2025-01-01T06:00:00.000Z"),
            ("2025-01-01T06:00+01:00", "2025-01-01T05:00:00.000Z"),
            ("2025-01-01 06:00:00", "2025-01-01T06:00:00.000Z"),
            ("2025-01-01T06:00:00", "2025-01-01T06:00:00.000Z"),
            ("2025-01-01 06:00", "2025-01-01T06:00:00.000Z"),
            (" 2025-02-28 ", "2025-02-28T00:00:00.000Z"),
        ];
        for (input, want) in table {
            assert_eq!(p(input), want, "{input}");
        }
    }

    #[test]
    fn rejected_forms() {
        for s in ["", "yesterday", "2025-13-01", "2025-02-30", "2025-01-01T25:00:00Z", "1735689600", "2025/01/01"] {
            let e = parse_instant(s, "--from").unwrap_err();
            assert_eq!(e.code, "invalid_window", "{s}");
            assert!(e.message.contains("--from"));
        }
    }

    /// What chrono reads a string as, the way `parse_instant` asked it before `parse_plain`.
    fn by_chrono(s: &str) -> Option<Millis> {
        if s.len() == 10 {
            return NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(|d| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap()).timestamp_millis());
        }
        DateTime::parse_from_rfc3339(s).ok().map(|d| d.timestamp_millis())
    }

    #[test]
    fn plain_forms_agree_with_chrono() {
        let mut ms: i64 = 0;
        let (mut read, mut made) = (0, 0);
        while ms < 253_402_300_799_999 {
            let full = format_instant(ms);
            let forms = [full.clone(), format!("{}Z", &full[..19]), full[..10].to_string()];
            for f in &forms {
                let plain = parse_plain(f);
                assert_eq!(plain, by_chrono(f), "{f}");
                read += usize::from(plain.is_some());
                made += 1;
            }
            ms += 7_777_777_777;
        }
        assert_eq!(read, made, "every form format_instant's output takes is read without chrono");
        // Out of range, malformed, or chrono's own forms: left to chrono, which decides as before.
        for s in [
            "2025-02-29", "2024-02-29", "2025-04-31", "2025-13-01", "2025-00-10", "2025-01-00", "1969-12-31",
            "2025-01-01T24:00:00Z", "2025-01-01T23:60:00Z", "2016-12-31T23:59:60Z", "2025-01-01T06:00:00.5Z",
            "2025-01-01T06:00:00+00:00", "2025-01-01t06:00:00z", "2025-01-01 06:00:00Z", "+025-01-01", "2025-1-011",
            "2025-01-01T06:00:00.12aZ", "2025-01-01T06:00:00,000Z",
        ] {
            let plain = parse_plain(s);
            assert!(plain.is_none() || plain == by_chrono(s), "{s}: {plain:?} against {:?}", by_chrono(s));
        }
        assert_eq!(parse_plain("2024-02-29"), by_chrono("2024-02-29"));
        assert_eq!(parse_plain("2025-02-29"), None);
        assert_eq!(parse_plain("2016-12-31T23:59:60Z"), None);
        assert_eq!(parse_plain("9999-12-31T23:59:59.999Z"), Some(253_402_300_799_999));
    }

    #[test]
    fn window_checks() {
        let l = Limits { max_window_hours: 720.0, min_chunk_minutes: 15.0, max_chunk_hours: 168.0 };
        assert!(parse_window("2025-01-01", "2025-01-31", &l, false).is_ok());
        assert_eq!(parse_window("2025-01-02", "2025-01-01", &l, false).unwrap_err().code, "invalid_window");
        assert_eq!(parse_window("2025-01-01", "2025-01-01", &l, false).unwrap_err().code, "invalid_window");
        assert_eq!(parse_window("2025-01-01", "2025-03-01", &l, false).unwrap_err().code, "window_too_large");
        assert!(parse_window("2025-01-01", "2025-03-01", &l, true).is_ok());
    }

    #[test]
    fn formatting_agrees_with_chrono() {
        let mut ms: i64 = 0;
        while ms < 253_402_300_799_999 {
            let dt = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
            assert_eq!(format_instant(ms), dt.to_rfc3339_opts(SecondsFormat::Millis, true));
            assert_eq!(sql_literal(ms), format!("toDateTime64('{}', 3, 'UTC')", dt.format("%Y-%m-%d %H:%M:%S%.3f")));
            ms += 7_777_777_777; // about 90 days and an odd time: leap years, centuries, up to 9999
        }
        assert_eq!(format_instant(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        assert_eq!(format_instant(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn literal() {
        assert_eq!(
            sql_literal(parse_instant("2025-01-01T06:30:00.250Z", "x").unwrap()),
            "toDateTime64('2025-01-01 06:30:00.250', 3, 'UTC')"
        );
        // Whole seconds are no DateTime either (see `sql_literal`).
        assert_eq!(sql_literal(parse_instant("2025-01-02T00:00:00Z", "x").unwrap()), "toDateTime64('2025-01-02 00:00:00.000', 3, 'UTC')");
    }

    #[test]
    fn bounds_for_a_datetime_column() {
        let at = |s: &str| parse_instant(s, "x").unwrap();
        let dt = BoundType::DateTime;
        assert_eq!(bound_literal(dt, at("2025-01-02T00:00:00Z")), "toDateTime('2025-01-02 00:00:00', 'UTC')");
        // Rounded up: a DateTime row at 06:30:00 is before 06:30:00.250, one at 06:30:01 is not.
        assert_eq!(bound_literal(dt, at("2025-01-01T06:30:00.250Z")), "toDateTime('2025-01-01 06:30:01', 'UTC')");
        assert_eq!(bound_literal(dt, at("1970-01-01T00:00:00Z")), "toDateTime('1970-01-01 00:00:00', 'UTC')");
        // The last second a DateTime holds, and past it (it would wrap).
        assert_eq!(bound_literal(dt, at("2106-02-07T06:28:15Z")), "toDateTime('2106-02-07 06:28:15', 'UTC')");
        assert_eq!(bound_literal(dt, at("2106-02-07T06:28:15.001Z")), "toDateTime64('2106-02-07 06:28:15.001', 3, 'UTC')");
        assert_eq!(bound_literal(BoundType::DateTime64, at("2025-01-02T00:00:00Z")), sql_literal(at("2025-01-02T00:00:00Z")));

        for (ty, b) in [
            ("DateTime", dt),
            ("DateTime('Europe/Berlin')", dt),
            ("Nullable(DateTime('UTC'))", dt),
            ("DateTime64(3)", BoundType::DateTime64),
            ("DateTime64(0, 'UTC')", BoundType::DateTime64),
            ("Date", BoundType::DateTime64),
            ("Date32", BoundType::DateTime64),
            ("String", BoundType::DateTime64),
        ] {
            assert_eq!(BoundType::for_column(Some(ty)), b, "{ty}");
        }
        assert_eq!(BoundType::for_column(None), BoundType::DateTime64);
        assert_eq!(BoundType::for_columns([Some("DateTime"), Some("DateTime('UTC')")]), dt);
        assert_eq!(BoundType::for_columns([Some("DateTime"), None]), BoundType::DateTime64);
        assert_eq!(BoundType::for_columns([Some("DateTime"), Some("DateTime64(3)")]), BoundType::DateTime64);
        assert_eq!(serde_json::to_string(&dt).unwrap(), "\"DateTime\"");
    }
}
