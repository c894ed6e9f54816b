//! The results of a run: measures, agreement, and how they print.

use crate::stats::{growth, Samples, Summary};
use serde::Serialize;

/// One measure: arl's samples, the peer's (when it has a counterpart), in one unit where
/// lower is better.
#[derive(Debug, Clone, Serialize)]
pub struct Measure {
    pub key: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub arl: Option<Summary>,
    pub peer: Option<Summary>,
    /// peer / arl: above 1, arl is better by that factor.
    pub ratio: Option<f64>,
    pub note: String,
}

impl Measure {
    pub fn new(
        key: &'static str,
        name: &'static str,
        unit: &'static str,
        arl: &Samples,
        peer: Option<&Samples>,
        note: impl Into<String>,
    ) -> Measure {
        let arl = arl.summary();
        let peer = peer.and_then(Samples::summary);
        let ratio = match (arl, peer) {
            (Some(a), Some(p)) if a.median > 0.0 => Some(p.median / a.median),
            _ => None,
        };
        Measure {
            key,
            name,
            unit,
            arl,
            peer,
            ratio,
            note: note.into(),
        }
    }
}

/// What was checked to agree.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Agreement {
    pub cards_compared: u64,
    pub cards_existing: u64,
    pub teams_compared: u64,
    pub balance_rows: u64,
    pub rollup_rows: u64,
    pub process_outputs_compared: u64,
    /// The first answer on which arl and the peer differ.
    pub first_difference: Option<String>,
}

/// One run at one size.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub events: u64,
    pub seed: u64,
    pub cores: u64,
    pub peer_setup: &'static str,
    pub measures: Vec<Measure>,
    pub agreement: Agreement,
}

fn fmt_value(v: f64) -> String {
    match v {
        v if v >= 1000.0 => format!("{v:.0}"),
        v if v >= 100.0 => format!("{v:.1}"),
        v if v >= 10.0 => format!("{v:.2}"),
        v => format!("{v:.3}"),
    }
}

fn fmt_summary(s: &Option<Summary>) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.repeats == 1 => fmt_value(s.median),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_value(s.median),
            fmt_value(s.min),
            fmt_value(s.max)
        ),
    }
}

/// The table of one run, as Markdown.
pub fn table(report: &RunReport) -> String {
    let mut out = format!(
        "arl against an SQLite events table: {} events, seed {}, {} cores\n\
         peer: {}\n\n\
         | measure | unit | arl median (min–max) | peer median (min–max) | peer/arl | note |\n\
         |---|---|---|---|---|---|\n",
        report.events, report.seed, report.cores, report.peer_setup
    );
    for m in &report.measures {
        let ratio = m.ratio.map_or("-".into(), |r| format!("{r:.2}"));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            m.name,
            m.unit,
            fmt_summary(&m.arl),
            fmt_summary(&m.peer),
            ratio,
            m.note
        ));
    }
    let a = &report.agreement;
    out.push_str(&format!(
        "\nagreement: {} cards ({} of existing accounts) and {} teams at random points, {} balance rows, {} roll-up rows, {} process outputs: {}\n",
        a.cards_compared,
        a.cards_existing,
        a.teams_compared,
        a.balance_rows,
        a.rollup_rows,
        a.process_outputs_compared,
        match &a.first_difference {
            None => "all equal".to_string(),
            Some(d) => format!("DIFFERENCE: {d}"),
        }
    ));
    out
}

/// The growth table of a scaling run, as Markdown.
pub fn growth_table(reports: &[RunReport]) -> String {
    let (Some(first), Some(last)) = (reports.first(), reports.last()) else {
        return String::new();
    };
    let sizes: Vec<String> = reports.iter().map(|r| r.events.to_string()).collect();
    let mut out = format!(
        "| measure | unit | side | {} | growth |\n|---|---|---|{}---|\n",
        sizes.join(" | "),
        "---|".repeat(sizes.len())
    );
    for (i, m) in first.measures.iter().enumerate() {
        for (side, pick) in [("arl", 0), ("peer", 1)] {
            let get = |r: &RunReport| {
                let m = &r.measures[i];
                if pick == 0 { m.arl } else { m.peer }.map(|s| s.median)
            };
            let values: Vec<Option<f64>> = reports.iter().map(get).collect();
            if values.iter().all(Option::is_none) {
                continue;
            }
            let cells: Vec<String> = values
                .iter()
                .map(|v| v.map_or("-".into(), fmt_value))
                .collect();
            let grows = match (get(first), get(last)) {
                (Some(v0), Some(v1)) => growth(first.events, v0, last.events, v1),
                _ => "-",
            };
            out.push_str(&format!(
                "| {} | {} | {side} | {} | {grows} |\n",
                m.name,
                m.unit,
                cells.join(" | ")
            ));
        }
    }
    out
}
