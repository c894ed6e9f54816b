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
