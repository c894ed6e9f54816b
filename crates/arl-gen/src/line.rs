//! Hand-written JSON for one input line. Every string written here comes from the
//! generator's own ASCII vocabulary (letters, digits, space, `.`, `-`, `_`, `:`, `(`, `)`),
//! so no escaping is needed; debug builds assert it.

use crate::time::{push_date, push_timestamp, push_u64, DAY_US};

/// A valid time: a date (midnight UTC) or a full timestamp, both in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eff {
    /// `YYYY-MM-DD`: midnight of that day (days since the epoch).
    Date(i64),
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (microseconds since the epoch).
    Stamp(i64),
}

impl Eff {
    /// Microseconds since the epoch.
    pub fn us(self) -> i64 {
        match self {
            Eff::Date(day) => day * DAY_US,
            Eff::Stamp(us) => us,
        }
    }
}

/// Builder of one line: `{"type":…,"data":{…},"effective_at":…,"recorded_at":…,…}`.
#[derive(Debug, Default)]
pub struct Line {
    pub buf: String,
    first: bool,
}

fn debug_check(s: &str) {
    debug_assert!(
        s.bytes()
            .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\'),
        "unescaped text {s:?}"
    );
}

impl Line {
    pub fn begin(&mut self, event_type: &str) {
        self.buf.clear();
        self.buf.push_str("{\"type\":\"");
        self.buf.push_str(event_type);
        self.buf.push_str("\",\"data\":{");
        self.first = true;
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        self.buf.push('"');
        self.buf.push_str(key);
        self.buf.push_str("\":");
    }

    pub fn str(&mut self, key: &str, value: &str) {
        debug_check(value);
        self.key(key);
        self.buf.push('"');
        self.buf.push_str(value);
        self.buf.push('"');
    }

    /// Opens a string value whose text the caller appends to `buf`; close with `close_str`.
    pub fn open_str(&mut self, key: &str) -> &mut String {
        self.key(key);
        self.buf.push('"');
        &mut self.buf
    }

    pub fn close_str(&mut self) {
        self.buf.push('"');
    }

    /// A string made of a prefix and a number, e.g. `inv-42`.
    pub fn str_num(&mut self, key: &str, prefix: &str, n: u64) {
        self.open_str(key).push_str(prefix);
        push_u64(&mut self.buf, n);
        self.close_str();
    }

    pub fn bool(&mut self, key: &str, value: bool) {
        self.key(key);
        self.buf.push_str(if value { "true" } else { "false" });
    }

    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.buf.push_str("null");
    }

    /// Closes `data` and writes `effective_at` and `recorded_at`.
    pub fn times(&mut self, eff: Eff, recorded_us: i64) {
        self.buf.push('}');
        self.first = false;
        self.key("effective_at");
        self.buf.push('"');
        match eff {
            Eff::Date(day) => push_date(&mut self.buf, day),
            Eff::Stamp(us) => push_timestamp(&mut self.buf, us),
        }
        self.buf.push('"');
        self.key("recorded_at");
        self.buf.push('"');
        push_timestamp(&mut self.buf, recorded_us);
        self.buf.push('"');
    }

    pub fn end(&mut self) {
        self.buf.push('}');
    }
}
