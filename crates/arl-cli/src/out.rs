//! Terminal output: standard output for data, tables that fit the terminal, CSV, JSON,
//! amounts grouped for reading, colour only when wanted, progress bars only when attended.

use anyhow::{Context, Result};
use comfy_table::{presets, Attribute, Cell, CellAlignment, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// Writes `text` to standard output.
pub fn emit(text: &str) -> Result<()> {
    let text = crate::privacy::shown_text(text);
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to standard output")
}

/// Writes `text` and a newline to standard output.
pub fn emit_line(text: &str) -> Result<()> {
    emit(&format!("{text}\n"))
}

/// Writes a value as pretty JSON to standard output.
pub fn emit_json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    emit_line(&crate::privacy::pretty_json(value)?)
}

/// Writes rows as CSV (with a header) to standard output.
pub fn emit_csv(header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(header).context("formatting CSV")?;
    for row in rows {
        let row = row.iter().map(|cell| crate::privacy::shown_cell(cell));
        writer.write_record(row).context("formatting CSV")?;
    }
    let bytes = writer.into_inner().context("formatting CSV")?;
    emit(&String::from_utf8_lossy(&bytes))
}

/// True when standard output may carry colour: a terminal, and `NO_COLOR` unset.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// A table with a header row, fitted to the terminal's width when there is one.
pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if !colour() {
        table.force_no_tty();
    }
    let bold = colour();
    table.set_header(header.iter().map(|h| {
        let cell = Cell::new(h);
        if bold {
            cell.add_attribute(Attribute::Bold)
        } else {
            cell
        }
    }));
    table
}

/// A right-aligned cell, for numbers.
#[allow(
    clippy::needless_pass_by_value,
    reason = "callers pass numbers and short strings by value, as comfy-table's Cell::new"
)]
pub fn num(text: impl ToString) -> Cell {
    Cell::new(text.to_string()).set_alignment(CellAlignment::Right)
}

/// Writes a table and a newline.
pub fn emit_table(table: &Table) -> Result<()> {
    emit_line(&table.to_string())
}

/// Prints an answer's rows in the chosen format: JSON as the rows serialize, CSV as
/// arl-query's table of them, a table through `table_row` (human forms).
pub fn emit_answer<T: Serialize, R: Into<comfy_table::Row>>(
    format: crate::cli::Format,
    rows: &[T],
    csv: &arl_query::Table,
    table_row: impl Fn(&T) -> R,
) -> Result<()> {
    match format {
        crate::cli::Format::Json => emit_json(rows),
        crate::cli::Format::Csv => emit_csv_table(csv),
        crate::cli::Format::Table => {
            let header: Vec<&str> = csv.header.iter().map(String::as_str).collect();
            let mut out = table(&header);
            for row in rows {
                out.add_row(table_row(row));
            }
            emit_table(&out)
        }
    }
}

/// Writes arl-query's CSV table to standard output.
pub fn emit_csv_table(csv: &arl_query::Table) -> Result<()> {
    emit_csv(
        &csv.header.iter().map(String::as_str).collect::<Vec<_>>(),
        &csv.rows,
    )
}

/// `1234567.50` → `1,234,567.50`; `-1200` → `-1,200`. The contract's decimal strings, grouped
/// for tables.
pub fn group(amount: &str) -> String {
    let (sign, rest) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (integer, fraction) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::with_capacity(integer.len() + integer.len() / 3);
    for (index, digit) in integer.chars().enumerate() {
        if index > 0 && (integer.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

/// A canonical stored time (`2024-03-01T00:00:00.000000Z`) in human form, to the second:
/// `2024-03-01` at midnight, else `2024-03-01 09:30:00`.
pub fn human(canonical: &str) -> String {
    match arl_domain::Timestamp::parse_canonical(canonical) {
        Some(t) => human_time(t),
        None => canonical.to_string(),
    }
}

/// A time in human form, to the second.
pub fn human_time(t: arl_domain::Timestamp) -> String {
    let text = t.human();
    match text.split_once('.') {
        Some((seconds, _)) => seconds.to_string(),
        None => text,
    }
}

/// The UTC date of a canonical stored time: `2024-03-01`.
pub fn date(canonical: &str) -> String {
    canonical.get(..10).unwrap_or(canonical).to_string()
}

/// A progress bar on standard error: shown only when it is a terminal and not `--quiet`.
pub fn progress(quiet: bool, len: Option<u64>, message: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(len) => ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = match len {
        Some(_) => "{msg:12} [{bar:40}] {human_pos}/{human_len} ({per_sec}, eta {eta})",
        None => "{spinner} {msg} {human_pos} ({elapsed})",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}

/// The progress of an import of several batches: bytes of the input read (the bar, and the
/// ETA, when the input's size is known), events appended or skipped, and events per second.
/// Shown only when standard error is a terminal and not `--quiet`.
pub struct ImportProgress {
    bar: ProgressBar,
    events: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ImportProgress {
    /// `input_bytes`: the size of the input when it is a regular file (else a spinner).
    pub fn new(quiet: bool, input_bytes: Option<u64>) -> ImportProgress {
        let events = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        if quiet || !std::io::stderr().is_terminal() {
            let bar = ProgressBar::hidden();
            return ImportProgress { bar, events };
        }
        let bar = ProgressBar::with_draw_target(input_bytes, ProgressDrawTarget::stderr());
        let template = match input_bytes {
            Some(_) => {
                "appending [{bar:30}] {percent:>3}% {events} events, {rate} events/s, eta {eta}"
            }
            None => "{spinner} appending {events} events, {rate} events/s ({elapsed})",
        };
        let (count, rate) = (events.clone(), events.clone());
        let style = ProgressStyle::with_template(template).map(|style| {
            style
                .progress_chars("=> ")
                .with_key(
                    "events",
                    move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let n = count.load(std::sync::atomic::Ordering::Relaxed);
                        let _ = write!(w, "{}", indicatif::HumanCount(n));
                    },
                )
                .with_key(
                    "rate",
                    move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let n = rate.load(std::sync::atomic::Ordering::Relaxed) as f64;
                        let seconds = state.elapsed().as_secs_f64();
                        let per_second = if seconds > 0.0 { n / seconds } else { 0.0 };
                        let _ = write!(w, "{}", indicatif::HumanCount(per_second as u64));
                    },
                )
        });
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        ImportProgress { bar, events }
    }

    /// After a batch: `bytes` of the input read so far, `events` appended or skipped so far.
    pub fn set(&self, bytes: u64, events: u64) {
        self.events
            .store(events, std::sync::atomic::Ordering::Relaxed);
        self.bar.set_position(bytes);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A message on standard error, unless `--quiet`.
pub fn note(quiet: bool, text: &str) {
    if !quiet {
        stderr_line(text);
    }
}

/// A line on standard error; a closed standard error is ignored, never a panic.
pub fn stderr_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

#[cfg(test)]
mod tests {
    use super::group;

    #[test]
    fn groups_thousands() {
        for (input, expected) in [
            ("0.00", "0.00"),
            ("999", "999"),
            ("1000", "1,000"),
            ("1234567.50", "1,234,567.50"),
            ("-1200.5", "-1,200.5"),
            ("-123456", "-123,456"),
        ] {
            assert_eq!(group(input), expected);
        }
    }
}
