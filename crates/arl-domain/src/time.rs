//! Points in time: microseconds since the Unix epoch, UTC.
//!
//! Input accepts RFC 3339 with any offset or a bare date (midnight UTC); queries read a bare
//! date as the end of that day. Output is always the canonical `2024-03-01T00:00:00.000000Z`.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest time string accepted on input.
pub const TIME_CHARS_MAX: usize = 40;
/// Earliest accepted year (inclusive) and latest (inclusive): keeps arithmetic far from overflow.
pub const YEAR_MIN: i32 = 1900;
pub const YEAR_MAX: i32 = 9999;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// A point in UTC time with microsecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

/// A time string that is not a valid date or RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {text:?} is not a valid time: use a date (2024-03-01) or RFC 3339 (2024-03-01T09:30:00+02:00)")]
pub struct TimeError {
    pub what: &'static str,
    pub text: String,
}

impl Timestamp {
    /// The earliest representable point; used as "before everything".
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable point; used as "after everything".
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// Now, from the system clock.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// Parses an input time: RFC 3339 (any offset) or a date meaning midnight UTC.
    pub fn parse_input(text: &str) -> Result<Timestamp, TimeError> {
        Self::parse(text, false).ok_or_else(|| TimeError {
            what: "time",
            text: text.to_string(),
        })
    }

    /// Parses a query time: RFC 3339 (inclusive) or a date meaning the end of that day, UTC.
    pub fn parse_query(text: &str) -> Result<Timestamp, TimeError> {
        Self::parse(text, true).ok_or_else(|| TimeError {
            what: "time",
            text: text.to_string(),
        })
    }

    fn parse(text: &str, date_is_end_of_day: bool) -> Option<Timestamp> {
        if text.len() > TIME_CHARS_MAX {
            return None;
        }
        if text.len() == 10 {
            let date = match plain_date(text) {
                Some(date) => date,
                None => NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?,
            };
            let start = Self::from_date(date)?;
            return Some(if date_is_end_of_day {
                Timestamp(start.0 + MICROS_PER_DAY - 1)
            } else {
                start
            });
        }
        let parsed = DateTime::parse_from_rfc3339(text).ok()?;
        let year = parsed.with_timezone(&Utc).year();
        if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
            return None;
        }
        Some(Timestamp(parsed.with_timezone(&Utc).timestamp_micros()))
    }

    /// Midnight UTC at the start of `date`, if within the accepted years.
    pub fn from_date(date: NaiveDate) -> Option<Timestamp> {
        if !(YEAR_MIN..=YEAR_MAX).contains(&date.year()) {
            return None;
        }
        let midnight: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
        Some(Timestamp(
            Utc.from_utc_datetime(&midnight).timestamp_micros(),
        ))
    }

    /// Parses the canonical stored form only (`2024-03-01T00:00:00.000000Z`).
    pub fn parse_canonical(text: &str) -> Option<Timestamp> {
        if text.len() != 27 || !text.ends_with('Z') {
            return None;
        }
        Self::parse(text, false)
    }

    /// The canonical form: RFC 3339, UTC, six fractional digits, `Z`.
    pub fn canonical(self) -> String {
        match self.datetime() {
            Some(dt) => dt.to_rfc3339_opts(SecondsFormat::Micros, true),
            None => format!("@{}us", self.0),
        }
    }

    /// The UTC calendar date of this point.
    pub fn date(self) -> NaiveDate {
        self.datetime()
            .map(|dt| dt.date_naive())
            .unwrap_or_default()
    }

    /// `2024-03-31`.
    pub fn date_string(self) -> String {
        self.date().format("%Y-%m-%d").to_string()
    }

    /// A human form: the date alone at midnight UTC, else `2024-03-31 09:30:00`.
    pub fn human(self) -> String {
        match self.datetime() {
            Some(dt) if self.0.rem_euclid(MICROS_PER_DAY) == 0 => dt.format("%Y-%m-%d").to_string(),
            Some(dt) if self.0.rem_euclid(MICROS_PER_SECOND) == 0 => {
                dt.format("%Y-%m-%d %H:%M:%S").to_string()
            }
            Some(dt) => dt.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            None => self.canonical(),
        }
    }

    fn datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

/// The period a balance is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Month,
    Quarter,
    Year,
    All,
}

impl Period {
    /// The label of the period that contains `at` (UTC): `2024-03`, `2024-Q1`, `2024`, `all`.
    pub fn label(self, at: Timestamp) -> String {
        let date = at.date();
        match self {
            Period::Month => format!("{:04}-{:02}", date.year(), date.month()),
            Period::Quarter => format!("{:04}-Q{}", date.year(), (date.month() - 1) / 3 + 1),
            Period::Year => format!("{:04}", date.year()),
            Period::All => "all".to_string(),
        }
    }

    /// A sortable key of the period containing `at`: equal keys, same period.
    pub fn key(self, at: Timestamp) -> u32 {
        let date = at.date();
        let year = date.year().max(0) as u32;
        match self {
            Period::Month => year * 100 + date.month(),
            Period::Quarter => year * 100 + (date.month() - 1) / 3 + 1,
            Period::Year => year * 100,
            Period::All => 0,
        }
    }

    /// The label of a key made by [`Period::key`].
    pub fn label_of_key(self, key: u32) -> String {
        match self {
            Period::Month => format!("{:04}-{:02}", key / 100, key % 100),
            Period::Quarter => format!("{:04}-Q{}", key / 100, key % 100),
            Period::Year => format!("{:04}", key / 100),
            Period::All => "all".to_string(),
        }
    }
}

/// `YYYY-MM-DD` in ASCII digits, read without a format string: the form nearly every input
/// date has, and what `%Y-%m-%d` reads from it (other forms that format accepts, such as a
/// signed year, go through it). `None` when `text` is not in this form or names no day.
fn plain_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(&b[..4])?).ok()?;
    NaiveDate::from_ymd_opt(year, number(&b[5..7])?, number(&b[8..])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_input(text: &str, expected: Option<&str>) {
        let got = Timestamp::parse_input(text).ok().map(Timestamp::canonical);
        assert_eq!(got.as_deref(), expected, "input {text:?}");
    }

    /// Dates read without the format string are read as `%Y-%m-%d` reads them: every day
    /// of 1890 to 2110 and a leap day or two, days that do not exist, and forms of ten
    /// characters that only the format string reads (or nothing does).
    #[test]
    fn plain_dates_read_as_the_format_reads_them() {
        let by_format = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        let mut day = NaiveDate::from_ymd_opt(1890, 1, 1).unwrap();
        let mut days = 0;
        while day.year() <= 2110 {
            let text = day.format("%Y-%m-%d").to_string();
            assert_eq!(plain_date(&text), Some(day), "{text}");
            day = day.succ_opt().unwrap();
            days += 1;
        }
        assert_eq!(days, 80_718);
        for text in [
            "2024-02-29",
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "0000-01-01",
            "9999-12-31",
            "2024-1-011",
            "+202-01-01",
            "-202-01-01",
            "02024-1-01",
            " 2024-1-01",
            "2024-01-1 ",
            "2024/01/01",
            "2024-01-0x",
            "٢٠٢٤-01-01",
        ] {
            let plain = plain_date(text);
            assert!(plain.is_none() || plain == by_format(text), "{text}");
            let read = Timestamp::parse_input(text).ok();
            let before = by_format(text).and_then(Timestamp::from_date);
            assert_eq!(read, before, "{text}");
        }
    }

    #[test]
    fn input_forms() {
        check_input("2024-03-01", Some("2024-03-01T00:00:00.000000Z"));
        check_input(
            "2024-03-01T09:30:00+02:00",
            Some("2024-03-01T07:30:00.000000Z"),
        );
        check_input(
            "2024-03-01T09:30:00.123456Z",
            Some("2024-03-01T09:30:00.123456Z"),
        );
        check_input(
            "2024-03-01T09:30:00.1234567Z",
            Some("2024-03-01T09:30:00.123456Z"),
        );
        check_input("2024-02-30", None);
        check_input("2024-3-1", None);
        check_input("2024-03-01 09:30:00", None);
        check_input("2024-03-01T09:30:00", None);
        check_input("yesterday", None);
        check_input("1899-12-31", None);
        check_input("1900-01-01", Some("1900-01-01T00:00:00.000000Z"));
        check_input(&"9".repeat(TIME_CHARS_MAX + 1), None);
    }

    #[test]
    fn query_dates_end_the_day() {
        let t = Timestamp::parse_query("2024-03-31").unwrap();
        assert_eq!(t.canonical(), "2024-03-31T23:59:59.999999Z");
        let t = Timestamp::parse_query("2024-03-31T10:00:00Z").unwrap();
        assert_eq!(t.canonical(), "2024-03-31T10:00:00.000000Z");
    }

    #[test]
    fn canonical_round_trip() {
        let t = Timestamp::parse_input("2023-07-07T09:00:00Z").unwrap();
        assert_eq!(Timestamp::parse_canonical(&t.canonical()), Some(t));
        assert_eq!(Timestamp::parse_canonical("2023-07-07T09:00:00Z"), None);
        assert_eq!(t.human(), "2023-07-07 09:00:00");
        assert_eq!(
            Timestamp::parse_input("2023-07-07").unwrap().human(),
            "2023-07-07"
        );
    }

    #[test]
    fn period_labels() {
        let t = Timestamp::parse_input("2024-05-17T12:00:00Z").unwrap();
        assert_eq!(Period::Month.label(t), "2024-05");
        assert_eq!(Period::Quarter.label(t), "2024-Q2");
        assert_eq!(Period::Year.label(t), "2024");
        assert_eq!(Period::All.label(t), "all");
        for p in [Period::Month, Period::Quarter, Period::Year, Period::All] {
            assert_eq!(p.label_of_key(p.key(t)), p.label(t));
        }
    }
}
