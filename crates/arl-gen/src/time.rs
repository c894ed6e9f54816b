//! Calendar arithmetic and the canonical time formats, in integer microseconds since the
//! Unix epoch (UTC).

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;
/// Microseconds in an hour.
pub const HOUR_US: i64 = 3_600_000_000;
/// Office hours per working day: 08:00 to 18:00 UTC.
pub const WORK_DAY_US: i64 = 10 * HOUR_US;
const WORK_START_US: i64 = 8 * HOUR_US;

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// Monday = 0 … Sunday = 6.
pub fn weekday(days: i64) -> i64 {
    (days + 3).rem_euclid(7)
}

/// Appends `YYYY-MM-DD`.
pub fn push_date(buf: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    push_padded(buf, y as u64, 4);
    buf.push('-');
    push_padded(buf, u64::from(m), 2);
    buf.push('-');
    push_padded(buf, u64::from(d), 2);
}

/// Appends `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
pub fn push_timestamp(buf: &mut String, us: i64) {
    let day = us.div_euclid(DAY_US);
    push_date(buf, day);
    push_time_of_day(buf, us - day * DAY_US);
}

/// Appends `THH:MM:SS.ffffffZ` for microseconds within a day.
pub fn push_time_of_day(buf: &mut String, us_of_day: i64) {
    let us = us_of_day as u64;
    let secs = us / 1_000_000;
    buf.push('T');
    push_padded(buf, secs / 3600, 2);
    buf.push(':');
    push_padded(buf, secs / 60 % 60, 2);
    buf.push(':');
    push_padded(buf, secs % 60, 2);
    buf.push('.');
    push_padded(buf, us % 1_000_000, 6);
    buf.push('Z');
}

/// Appends `n` with at least `width` digits (zero padded).
pub fn push_padded(buf: &mut String, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    let mut v = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let start = i.min(digits.len() - width.min(digits.len()));
    for &b in &digits[start..] {
        buf.push(b as char);
    }
}

/// Appends `n` in decimal.
pub fn push_u64(buf: &mut String, n: u64) {
    push_padded(buf, n, 1);
}

/// Maps "office time" (microseconds of working hours since the start) to wall-clock time:
/// working days are Monday to Friday, 08:00 to 18:00 UTC.
#[derive(Clone, Debug)]
pub struct OfficeClock {
    monday: i64,
    offset_days: i64,
    /// Office microseconds available between the start and the end.
    pub total_us: i64,
}

impl OfficeClock {
    /// Office hours from `start_day` (inclusive) to `end_day` (exclusive).
    pub fn new(start_day: i64, end_day: i64) -> OfficeClock {
        let mut first = start_day;
        while weekday(first) >= 5 {
            first += 1;
        }
        let monday = first - weekday(first);
        let offset_days = weekday(first);
        let mut work_days = 0i64;
        let mut d = first;
        while d < end_day {
            if weekday(d) < 5 {
                work_days += 1;
            }
            d += 1;
        }
        OfficeClock {
            monday,
            offset_days,
            total_us: work_days.max(1) * WORK_DAY_US,
        }
    }

    /// Wall-clock microseconds of an office instant.
    pub fn wall_us(&self, office_us: i64) -> i64 {
        let k = office_us / WORK_DAY_US + self.offset_days;
        let within = office_us % WORK_DAY_US;
        let day = self.monday + (k / 5) * 7 + k % 5;
        day * DAY_US + WORK_START_US + within
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_formats() {
        for d in -1000..30_000 {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(days_from_civil(2020, 1, 1), 18_262);
        let mut s = String::new();
        push_timestamp(&mut s, 18_262 * DAY_US + 9 * HOUR_US + 5);
        assert_eq!(s, "2020-01-01T09:00:00.000005Z");
        assert_eq!(weekday(18_262), 2); // a Wednesday
    }

    #[test]
    fn office_clock_skips_weekends() {
        let start = days_from_civil(2020, 1, 1);
        let clock = OfficeClock::new(start, start + 7);
        assert_eq!(clock.total_us, 5 * WORK_DAY_US);
        assert_eq!(clock.wall_us(0), start * DAY_US + 8 * HOUR_US);
        // third working day from a Wednesday is the next Monday
        let monday = clock.wall_us(3 * WORK_DAY_US).div_euclid(DAY_US);
        assert_eq!(weekday(monday), 0);
        assert_eq!(monday, start + 5);
    }
}
