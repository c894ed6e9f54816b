//! Timestamps: microseconds since the Unix epoch (UTC), written as RFC 3339 with exactly
//! six fractional digits and the suffix `Z`, e.g. `2024-03-02T08:00:00.000000Z`.

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_DAY: i64 = MICROS_PER_SECOND * SECONDS_PER_DAY;

/// The earliest time the log stores: `0000-01-01T00:00:00.000000Z`.
pub const TIME_MIN_MICROS: i64 = days_from_civil(0, 1, 1) * MICROS_PER_DAY;
/// The latest time the log stores: `9999-12-31T23:59:59.999999Z`.
pub const TIME_MAX_MICROS: i64 = days_from_civil(10000, 1, 1) * MICROS_PER_DAY - 1;
/// Length of a formatted time in bytes.
pub const TIME_LEN: usize = 27;

/// Formats `micros` (UTC, since the epoch) as `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
/// Times outside [`TIME_MIN_MICROS`]..=[`TIME_MAX_MICROS`] are clamped to that range.
pub fn format_time(micros: i64) -> String {
    let mut out = String::with_capacity(TIME_LEN);
    write_time(&mut out, micros);
    out
}

pub(crate) fn write_time(out: &mut String, micros: i64) {
    // The buffer holds ASCII only.
    out.push_str(std::str::from_utf8(&time_bytes(micros)).unwrap_or_default());
}

/// The formatted time as bytes.
pub(crate) fn time_bytes(micros: i64) -> [u8; TIME_LEN] {
    let micros = micros.clamp(TIME_MIN_MICROS, TIME_MAX_MICROS);
    let days = micros.div_euclid(MICROS_PER_DAY);
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let secs = in_day / MICROS_PER_SECOND;
    let frac = in_day % MICROS_PER_SECOND;
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    put_digits(&mut buf[0..4], year as u64);
    put_digits(&mut buf[5..7], u64::from(month));
    put_digits(&mut buf[8..10], u64::from(day));
    put_digits(&mut buf[11..13], (secs / 3600) as u64);
    put_digits(&mut buf[14..16], (secs / 60 % 60) as u64);
    put_digits(&mut buf[17..19], (secs % 60) as u64);
    put_digits(&mut buf[20..26], frac as u64);
    buf
}

/// [`time_bytes`] that reuses the date of the previous call on the same day.
pub(crate) struct TimeCache {
    day: i64,
    date: [u8; 11],
}

impl Default for TimeCache {
    fn default() -> Self {
        TimeCache {
            day: i64::MIN,
            date: *b"0000-00-00T",
        }
    }
}

impl TimeCache {
    pub(crate) fn bytes(&mut self, micros: i64) -> [u8; TIME_LEN] {
        let micros = micros.clamp(TIME_MIN_MICROS, TIME_MAX_MICROS);
        let days = micros.div_euclid(MICROS_PER_DAY);
        if days != self.day {
            let (year, month, day) = civil_from_days(days);
            put_digits(&mut self.date[0..4], year as u64);
            put_digits(&mut self.date[5..7], u64::from(month));
            put_digits(&mut self.date[8..10], u64::from(day));
            self.day = days;
        }
        let in_day = micros.rem_euclid(MICROS_PER_DAY);
        let secs = in_day / MICROS_PER_SECOND;
        let frac = in_day % MICROS_PER_SECOND;
        let mut buf = *b"0000-00-00T00:00:00.000000Z";
        buf[..11].copy_from_slice(&self.date);
        put_digits(&mut buf[11..13], (secs / 3600) as u64);
        put_digits(&mut buf[14..16], (secs / 60 % 60) as u64);
        put_digits(&mut buf[17..19], (secs % 60) as u64);
        put_digits(&mut buf[20..26], frac as u64);
        buf
    }
}

fn put_digits(dst: &mut [u8], mut value: u64) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Parses the canonical form written by [`format_time`]; anything else is `None`.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != TIME_LEN
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[26] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = num(20..26)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month as u32) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    let secs = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second;
    Some(secs * MICROS_PER_SECOND + frac)
}

fn days_in_month(year: i64, month: u32) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(micros: i64, text: &str) {
        assert_eq!(format_time(micros), text);
        assert_eq!(parse_time(text), Some(micros));
    }

    #[test]
    fn known_times() {
        check(0, "1970-01-01T00:00:00.000000Z");
        check(1_709_366_400_000_000, "2024-03-02T08:00:00.000000Z");
        check(951_782_400_000_001, "2000-02-29T00:00:00.000001Z");
        check(-1, "1969-12-31T23:59:59.999999Z");
        check(TIME_MIN_MICROS, "0000-01-01T00:00:00.000000Z");
        check(TIME_MAX_MICROS, "9999-12-31T23:59:59.999999Z");
    }

    #[test]
    fn rejects_non_canonical() {
        for bad in [
            "2024-03-02T08:00:00Z",
            "2024-03-02T08:00:00.000000+00:00",
            "2023-02-29T00:00:00.000000Z",
            "2024-13-01T00:00:00.000000Z",
            "2024-03-02T24:00:00.000000Z",
            "2024-03-02t08:00:00.000000Z",
            "+024-03-02T08:00:00.000000Z",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn agrees_with_chrono() {
        let mut x: i64 = 12_345;
        for _ in 0..10_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let micros = x.rem_euclid(TIME_MAX_MICROS - TIME_MIN_MICROS) + TIME_MIN_MICROS;
            let expected = chrono::DateTime::from_timestamp_micros(micros)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
            assert_eq!(Some(format_time(micros)), expected);
            assert_eq!(parse_time(&format_time(micros)), Some(micros));
            let mut cache = TimeCache::default();
            assert_eq!(cache.bytes(micros), time_bytes(micros));
            assert_eq!(cache.bytes(micros + 1), time_bytes(micros + 1));
        }
    }
}
