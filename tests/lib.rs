//! Cross-crate and command-line tests of arl live in `tests/`; this library holds what they
//! share: loading input lines into an in-memory index the way `arl append` validates them.

use arl_domain::{InputEvent, Recorded, RuleError, Timestamp};
use arl_fold::MemIndex;

/// Appends input lines (with `recorded_at`, as `arl append --imported` reads them) to an
/// in-memory index, validating each against everything before it. Returns the 1-based line
/// and the error of the first line that fails.
pub fn load_imported(index: &mut MemIndex, text: &str) -> Result<(), (usize, String)> {
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let input = InputEvent::parse_line(line, true).map_err(|e| (n + 1, e.to_string()))?;
        let recorded_at = input.recorded_at.unwrap_or(Timestamp(0));
        let recorded = Recorded {
            seq: arl_fold::Source::checkpoint(index) + 1,
            effective_at: input.effective_at.unwrap_or(recorded_at),
            recorded_at,
            event: input.event,
        };
        arl_fold::validate(index, &recorded)
            .map_err(|e: RuleError| (n + 1, format!("{}: {e}", recorded.event.kind())))?;
        index.insert(recorded);
    }
    Ok(())
}
