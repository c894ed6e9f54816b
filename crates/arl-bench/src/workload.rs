//! The generated history, streamed in batches, and the facts the measures need from it.

use anyhow::{Context, Result};
use arl_domain::Timestamp;
use serde::Deserialize;

/// An account as opened in the history.
#[derive(Debug, Clone)]
pub struct Opened {
    pub account: String,
    pub recorded_at: i64,
}

/// What the measures need to know about the generated history.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Accounts in the order they were opened (recorded).
    pub opened: Vec<Opened>,
    /// Accounts not closed at the end of the history.
    pub open_accounts: Vec<String>,
    pub first_recorded_at: i64,
    pub last_recorded_at: i64,
}

#[derive(Deserialize)]
struct OpenedLine {
    data: OpenedData,
    recorded_at: String,
}

#[derive(Deserialize)]
struct OpenedData {
    account: String,
}

fn micros(text: &str) -> Result<i64> {
    Ok(Timestamp::parse_input(text)?.0)
}

/// Streams the history of `events` lines from `seed` to `each` in batches of `batch` lines,
/// and returns its facts.
pub fn stream(
    events: u64,
    seed: u64,
    batch: usize,
    each: &mut dyn FnMut(&[String]) -> Result<()>,
) -> Result<Facts> {
    let mut generator = arl_gen::Generator::new(arl_gen::Config::new(events, seed));
    let mut facts = Facts::default();
    let mut lines: Vec<String> = Vec::with_capacity(batch);
    while let Some(line) = generator.next_line() {
        if line.starts_with(r#"{"type":"account.opened""#) {
            let parsed: OpenedLine = serde_json::from_str(line).context("generated line")?;
            facts.opened.push(Opened {
                account: parsed.data.account,
                recorded_at: micros(&parsed.recorded_at)?,
            });
        }
        lines.push(line.to_owned());
        if lines.len() == batch {
            note_times(&mut facts, &lines)?;
            each(&lines)?;
            lines.clear();
        }
    }
    if !lines.is_empty() {
        note_times(&mut facts, &lines)?;
        each(&lines)?;
    }
    facts.open_accounts = generator.open_accounts().map(str::to_owned).collect();
    Ok(facts)
}

/// Notes the record times of the first and last line of a batch.
fn note_times(facts: &mut Facts, lines: &[String]) -> Result<()> {
    #[derive(Deserialize)]
    struct Times {
        recorded_at: String,
    }
    let time = |line: &String| -> Result<i64> {
        let t: Times = serde_json::from_str(line).context("generated line")?;
        micros(&t.recorded_at)
    };
    if let (Some(first), Some(last)) = (lines.first(), lines.last()) {
        if facts.first_recorded_at == 0 {
            facts.first_recorded_at = time(first)?;
        }
        facts.last_recorded_at = time(last)?;
    }
    Ok(())
}
