//! Envelopes as `arl export` writes them: JSON Lines exactly as stored, or CSV rows.

use arl_log::{format_time, hex, Envelope};

/// The CSV header of envelopes.
pub const ENVELOPE_CSV_HEADER: &[&str] = &[
    "seq",
    "id",
    "type",
    "stream",
    "version",
    "recorded_at",
    "effective_at",
    "actor",
    "reason",
    "imported",
    "data",
    "hash",
];

/// One envelope as a CSV row.
pub fn envelope_csv_row(e: &Envelope) -> Vec<String> {
    vec![
        e.seq.to_string(),
        e.id.clone(),
        e.kind.clone(),
        e.stream.clone(),
        e.version.to_string(),
        format_time(e.recorded_at),
        format_time(e.effective_at),
        e.actor.clone(),
        e.reason.clone().unwrap_or_default(),
        e.imported.to_string(),
        e.data.get().to_string(),
        hex(&e.hash),
    ]
}

/// One envelope as an export line (without the newline): its canonical JSON.
pub fn envelope_line(e: &Envelope) -> String {
    e.to_json_line()
}

/// Which envelopes a subscription or a filtered export wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeFilter {
    /// Only envelopes of this account's stream (`account/ID`).
    pub account: Option<String>,
    /// Only envelopes of this type.
    pub kind: Option<String>,
}

impl EnvelopeFilter {
    /// True when the envelope passes.
    pub fn accepts(&self, e: &Envelope) -> bool {
        let account_ok = self
            .account
            .as_ref()
            .is_none_or(|a| e.stream.strip_prefix("account/") == Some(a.as_str()));
        account_ok && self.kind.as_ref().is_none_or(|k| e.kind == *k)
    }
}

/// The question of `arl log`: the envelopes of a seq range that pass every filter given,
/// at most `limit` of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuestion {
    /// Only this stream (`account/ID` or `person/ID`).
    pub stream: Option<String>,
    /// Only this event type.
    pub kind: Option<String>,
    /// Only envelopes of this account's stream.
    pub account: Option<String>,
    /// First seq (inclusive; default 1).
    pub from_seq: Option<u64>,
    /// Last seq (inclusive; default and at most the head).
    pub to_seq: Option<u64>,
    /// Recorded at or after.
    pub recorded_from: Option<arl_domain::Timestamp>,
    /// Recorded at or before.
    pub recorded_to: Option<arl_domain::Timestamp>,
    /// Effective at or after.
    pub effective_from: Option<arl_domain::Timestamp>,
    /// Effective at or before.
    pub effective_to: Option<arl_domain::Timestamp>,
    /// At most this many envelopes.
    pub limit: Option<u64>,
}

impl LogQuestion {
    /// True when the envelope passes every filter.
    pub fn accepts(&self, e: &Envelope) -> bool {
        use arl_domain::Timestamp;
        let within = |t: i64, from: Option<Timestamp>, to: Option<Timestamp>| {
            from.is_none_or(|f| t >= f.0) && to.is_none_or(|x| t <= x.0)
        };
        self.stream.as_ref().is_none_or(|s| e.stream == *s)
            && self
                .account
                .as_ref()
                .is_none_or(|a| e.stream.strip_prefix("account/") == Some(a.as_str()))
            && self.kind.as_ref().is_none_or(|k| e.kind == *k)
            && within(e.recorded_at, self.recorded_from, self.recorded_to)
            && within(e.effective_at, self.effective_from, self.effective_to)
    }

    /// The envelopes of `log` (up to its head) the question asks for, in seq order.
    pub fn answer(&self, log: &arl_log::Log) -> Result<Vec<Envelope>, crate::QueryError> {
        let head = log.head().seq;
        let from = self.from_seq.unwrap_or(1);
        let to = self.to_seq.unwrap_or(head).min(head);
        let limit = self.limit.unwrap_or(u64::MAX);
        let mut rows = Vec::new();
        if from > to {
            return Ok(rows);
        }
        for envelope in log.range(from, to) {
            if rows.len() as u64 >= limit {
                break;
            }
            let envelope = envelope?;
            if self.accepts(&envelope) {
                rows.push(envelope);
            }
        }
        Ok(rows)
    }
}

/// The envelopes as `arl log --format json` prints them: each one's canonical JSON, as a
/// list.
pub fn log_json(rows: &[Envelope]) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    rows.iter()
        .map(|e| serde_json::from_str(&e.to_json_line()))
        .collect()
}

/// The envelopes as `arl log --format csv` prints them.
pub fn log_csv(rows: &[Envelope]) -> crate::Table {
    crate::Table {
        header: ENVELOPE_CSV_HEADER
            .iter()
            .map(|h| (*h).to_string())
            .collect(),
        rows: rows.iter().map(envelope_csv_row).collect(),
    }
}
